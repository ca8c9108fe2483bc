package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/sim"
	"github.com/authfsm/authfsm/states"
)

// The key of audit/testdata/chain-keyed.jsonl (audit's key_test.go).
const testKey = "test-hmac-key, never a real one"

func readChain(t *testing.T, name string) (lines []string, head audit.Head) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "audit", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	head, err = audit.Verify(bytes.NewReader(b), audit.WithKey([]byte(testKey)))
	if strings.Contains(name, "keyed") && err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(name, "keyed") {
		if head, err = audit.Verify(bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	lines = strings.SplitAfter(string(b), "\n")
	return lines[:len(lines)-1], head
}

// rehash returns the chain of lines with record i's states and event
// replaced by the JSON members edit, every hash from there on recomputed:
// a log that verifies and tells what the machine could not have done.
func rehash(t *testing.T, lines []string, i int, edit string) string {
	t.Helper()
	var out bytes.Buffer
	w := audit.NewChainWriter(&out, audit.Head{})
	for k, l := range lines {
		if k == i {
			l = regexp.MustCompile(`"from":"[a-z_]+","to":"[a-z_]+","event":"[a-z_]+"`).ReplaceAllString(l, edit)
		}
		var r audit.Record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := audit.Verify(bytes.NewReader(out.Bytes())); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// headOf returns the head of a chain that verifies.
func headOf(t *testing.T, log string) audit.Head {
	t.Helper()
	h, err := audit.Verify(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// unhash returns the chained lines without their prev and hash members, as
// a sink without a chain writes them.
func unhash(lines []string) string {
	re := regexp.MustCompile(`(,"prev":"[0-9a-f]+")?,"hash":"[0-9a-f]+"`)
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(re.ReplaceAllString(l, ""))
	}
	return b.String()
}

// simAudit returns the audit log "authfsm sim --audit FILE" writes for
// the scenario name of the library.
func simAudit(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"sim", "--audit", path, filepath.Join("..", "..", "testdata", "scenarios", name)}, &stdout, &stderr); code != exitOK {
		t.Fatalf("authfsm sim %s = %d: %s", name, code, stderr.String())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAudit runs "authfsm audit" on fresh copies of the golden chains. In
// args, @FILE is the log, @KEY a file holding testKey and a newline, @WRONG
// another key, @EMPTY a file holding only a newline, @NONE a missing file.
// In the expected output, the log's path is FILE.
func TestAudit(t *testing.T) {
	plain, head := readChain(t, "chain.jsonl")
	keyed, keyedHead := readChain(t, "chain-keyed.jsonl")
	j := strings.Join
	head4, _ := audit.Verify(strings.NewReader(j(plain[:4], "")))
	var other bytes.Buffer
	audit.NewChainWriter(&other, head4).Write(audit.FromTransition(states.Transition{
		At: time.Date(2026, 3, 1, 11, 0, 2, 0, time.UTC), From: states.Refreshing, To: states.Revoked, Event: states.Deny, Reason: states.ReasonRefused, Detail: "400 invalid_grant"}))
	rewritten := j(plain[:4], "") + other.String()
	torn := j(plain[:4], "") + plain[4][:50]
	// Rewritten and rehashed from the start, so the chain verifies: line 3
	// claims the refresh succeeded, and line 4 retries from a backoff the
	// session never entered; or line 2 refreshes a valid token.
	succeeded := rehash(t, plain, 2, `"from":"refreshing","to":"valid","event":"succeed"`)
	refreshValid := rehash(t, plain, 1, `"from":"valid","to":"refreshing","event":"refresh"`)
	bare := unhash(plain)
	tests := []struct {
		name      string
		log       string
		args      []string
		code      int
		out, errw string
		after     string // when set, the log's content afterwards must start with this
	}{
		{"verify intact", j(plain, ""), []string{"verify", "@FILE"}, exitOK, "ok, 5 records, head " + head.String() + "; 5 transitions of 1 session conform to the machine\n", "", ""},
		{"verify rehashed, out of sequence", succeeded, []string{"verify", "@FILE"}, exitFailed, "", "authfsm audit verify: FILE:4: audit: line 4, session s1: from backoff but the previous record (line 3) left it in valid\nauthfsm audit verify: FILE: the hash chain verifies, but the state machine could not have written this log", ""},
		{"verify rehashed, not in the table", refreshValid, []string{"verify", "@FILE"}, exitFailed, "", "FILE:2: audit: line 2, session s1: valid -refresh-> refreshing is not in the table (no refresh from valid)", ""},
		{"verify rehashed, anchored at its own head", refreshValid, []string{"verify", "--head", headOf(t, refreshValid).String(), "@FILE"}, exitFailed, "", "valid -refresh-> refreshing is not in the table", ""},
		{"verify unchained without the flag", bare, []string{"verify", "@FILE"}, exitFailed, "", "authfsm audit verify: FILE:1: audit: hash chain broken at line 1 (seq 1): line has no trailing hash member (not a chained record)\nauthfsm audit verify: FILE: if the log was never hash-chained, `authfsm audit verify --unchained FILE` checks its conformance alone", ""},
		{"unchained", bare, []string{"verify", "--unchained", "@FILE"}, exitOK, "FILE: ok, 5 transitions of 1 session conform to the machine (unchained: no hash checked)\n", "", ""},
		{"unchained, flag after file", bare, []string{"verify", "@FILE", "--unchained"}, exitOK, "(unchained: no hash checked)", "", ""},
		{"unchained, a chained log", j(plain, ""), []string{"verify", "--unchained", "@FILE"}, exitOK, "FILE: ok, 5 transitions of 1 session conform to the machine (unchained: no hash checked)", "", ""},
		{"unchained, out of sequence", unhash(strings.SplitAfter(succeeded, "\n")), []string{"verify", "--unchained", "@FILE"}, exitFailed, "", "FILE:4: audit: line 4, session s1: from backoff but the previous record (line 3) left it in valid\n", ""},
		{"a simulator's audit log", simAudit(t, "429-retry-after.yaml"), []string{"verify", "@FILE"}, exitOK, "; 10 transitions of 1 session conform to the machine", "", ""},
		{"unchained, a simulator's audit log", unhash(strings.SplitAfter(simAudit(t, "429-retry-after.yaml"), "\n")), []string{"verify", "--unchained", "@FILE"}, exitOK, "FILE: ok, 10 transitions of 1 session conform to the machine (unchained: no hash checked)", "", ""},
		{"unchained, a tampered simulator's audit log", strings.Replace(unhash(strings.SplitAfter(simAudit(t, "429-retry-after.yaml"), "\n")), `"from":"backoff","to":"refreshing"`, `"from":"valid","to":"refreshing"`, 1), []string{"verify", "--unchained", "@FILE"}, exitFailed, "", "FILE:3: audit: line 3, session 0: valid -retry-> refreshing is not in the table (no retry from valid)", ""},
		{"unchained, a simulator result", `{"name":"x","seed":1,"stats":{}}` + "\n", []string{"verify", "--unchained", "@FILE"}, exitBadInput, "", `authfsm audit verify: FILE: audit: line 1: not an audit record: no "from"`, ""},
		{"unchained, not a log", "hello\n", []string{"verify", "--unchained", "@FILE"}, exitBadInput, "", "authfsm audit verify: FILE: audit: line 1 is not a JSON object", ""},
		{"unchained with a head", bare, []string{"verify", "--unchained", "--head", head.String(), "@FILE"}, exitBadInput, "", "--unchained checks no hash; --key-file and --head need a chain", ""},
		{"unchained with a key", bare, []string{"verify", "--unchained", "--key-file", "@KEY", "@FILE"}, exitBadInput, "", "--unchained checks no hash", ""},
		{"unchained missing", "", []string{"verify", "--unchained", "@NONE"}, exitBadInput, "", "no such file", ""},
		{"verify tampered", strings.Replace(j(plain, ""), "502 Bad Gateway", "401 Unauthorized", 1), []string{"verify", "@FILE"}, exitFailed, "", "FILE:3: audit: hash chain broken at line 3", ""},
		{"verify missing", "", []string{"verify", "@NONE"}, exitBadInput, "", "no such file", ""},
		{"verify two files", j(plain, ""), []string{"verify", "@FILE", "@FILE"}, exitBadInput, "", "want one FILE, got 2", ""},
		{"verify torn", torn, []string{"verify", "@FILE"}, exitFailed, "", "`authfsm audit repair FILE` removes a torn last line", ""},
		{"keyed", j(keyed, ""), []string{"verify", "--key-file", "@KEY", "@FILE"}, exitOK, "ok, 5 records, head " + keyedHead.String() + ", HMAC-keyed", "", ""},
		{"keyed, flag after file", j(keyed, ""), []string{"verify", "@FILE", "--key-file=@KEY"}, exitOK, "HMAC-keyed", "", ""},
		{"keyed without key", j(keyed, ""), []string{"verify", "@FILE"}, exitFailed, "", "FILE:1: audit: hash chain broken at line 1 (seq 1): hash does not match the record (record altered, or an HMAC-keyed log verified without its key)", ""},
		{"keyed, wrong key", j(keyed, ""), []string{"verify", "--key-file", "@WRONG", "@FILE"}, exitFailed, "", "FILE:1: audit: hash chain broken at line 1 (seq 1): hash does not match the record (record altered, or not the key the log was written with)", ""},
		{"plain with a key", j(plain, ""), []string{"verify", "--key-file", "@KEY", "@FILE"}, exitFailed, "", "not the key the log was written with", ""},
		{"empty key file", j(keyed, ""), []string{"verify", "--key-file", "@EMPTY", "@FILE"}, exitBadInput, "", "--key-file: audit: empty HMAC key", ""},
		{"missing key file", j(keyed, ""), []string{"verify", "--key-file", "@NONE", "@FILE"}, exitBadInput, "", "--key-file: audit: key file", ""},
		{"anchored head", j(plain, ""), []string{"verify", "--head", head.String(), "@FILE"}, exitOK, "ok, 5 records, head " + head.String() + ", the anchored head", "", ""},
		{"anchored hash, flag after file", j(plain, ""), []string{"verify", "@FILE", "--head", head.Hash}, exitOK, "the anchored head", "", ""},
		{"keyed and anchored", j(keyed, ""), []string{"verify", "--head", keyedHead.String(), "--key-file", "@KEY", "@FILE"}, exitOK, "HMAC-keyed, the anchored head", "", ""},
		{"truncated below the anchor", j(plain[:3], ""), []string{"verify", "--head", head.String(), "@FILE"}, exitFailed, "", "FILE: audit: chain ends at seq 3, before the anchored head at seq 5: 2 records missing from the tail (truncated)", ""},
		{"tail rewritten", rewritten, []string{"verify", "--head", head.String(), "@FILE"}, exitFailed, "", "but the anchored head's hash is " + head.Hash + ": the tail was rewritten", ""},
		{"bad head", j(plain, ""), []string{"verify", "--head", "5:abc", "@FILE"}, exitBadInput, "", "--head: audit: head \"5:abc\"", ""},
		{"repair torn", torn, []string{"repair", "@FILE"}, exitOK, "FILE: repaired: removed 50 bytes of a torn last line after record 4 and recorded it as record 5; head 5:", "", j(plain[:4], "") + `{"seq":5,`},
		{"repair intact", j(plain, ""), []string{"repair", "@FILE"}, exitOK, "FILE: intact, nothing to repair (5 records, head " + head.String() + ")", "", j(plain, "")},
		{"repair tampered", strings.Replace(torn, "502 Bad Gateway", "401 Unauthorized", 1), []string{"repair", "@FILE"}, exitFailed, "", "FILE: not repaired: only a torn last line can be", strings.Replace(torn, "502 Bad Gateway", "401 Unauthorized", 1)},
		{"repair keyed", j(keyed[:2], "") + keyed[2][:30], []string{"repair", "@FILE", "--key-file", "@KEY"}, exitOK, "removed 30 bytes of a torn last line after record 2", "", j(keyed[:2], "")},
		{"repair keyed without key", j(keyed[:2], "") + keyed[2][:30], []string{"repair", "@FILE"}, exitFailed, "", "FILE:1: audit: hash chain broken at line 1", j(keyed[:2], "") + keyed[2][:30]},
		{"repair missing", "", []string{"repair", "@NONE"}, exitBadInput, "", "no such file", ""},
		{"repair no file", "", []string{"repair"}, exitBadInput, "", "usage: authfsm audit repair", ""},
		{"verify one record", j(plain[:1], ""), []string{"verify", "@FILE"}, exitOK, "FILE: ok, 1 record, head ", "", ""},
		{"repair one record", j(plain[:1], ""), []string{"repair", "@FILE"}, exitOK, "FILE: intact, nothing to repair (1 record, head ", "", ""},
		{"no subcommand", "", nil, exitBadInput, "", "usage:\n  authfsm audit verify", ""},
		{"unknown subcommand", "", []string{"check", "@FILE"}, exitBadInput, "", `unknown subcommand "check"`, ""},
		{"unknown flag", j(plain, ""), []string{"verify", "--key", "@KEY", "@FILE"}, exitBadInput, "", "flag provided but not defined: -key", ""},
		{"help", "", []string{"--help"}, exitOK, "authfsm audit repair [--key-file F] FILE", "", ""},
		{"help word", "", []string{"help"}, exitOK, "authfsm audit verify [--key-file F]", "", ""},
		{"verify help", "", []string{"verify", "--help"}, exitOK, "usage: authfsm audit verify [--key-file F] [--head [SEQ:]HASH] FILE\n       authfsm audit verify --unchained FILE", "", ""},
		{"verify help after file", j(plain, ""), []string{"verify", "@FILE", "-h"}, exitOK, "usage: authfsm audit verify", "", ""},
		{"repair help", "", []string{"repair", "--help"}, exitOK, "usage: authfsm audit repair [--key-file F] FILE", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			files := map[string]string{"@FILE": "audit.jsonl", "@KEY": "key", "@WRONG": "wrong-key", "@EMPTY": "empty-key", "@NONE": "none"}
			for k, name := range files {
				files[k] = filepath.Join(dir, name)
			}
			write := func(path, content string) {
				if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			write(files["@FILE"], tc.log)
			write(files["@KEY"], testKey+"\n")
			write(files["@WRONG"], "another key\n")
			write(files["@EMPTY"], "\n")
			args := []string{"audit"}
			for _, a := range tc.args {
				for k, path := range files {
					a = strings.ReplaceAll(a, k, path)
				}
				args = append(args, a)
			}
			var stdout, stderr bytes.Buffer
			code := run(args, &stdout, &stderr)
			out := strings.ReplaceAll(stdout.String(), files["@FILE"], "FILE")
			errw := strings.ReplaceAll(stderr.String(), files["@FILE"], "FILE")
			if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errw, tc.errw) {
				t.Errorf("run(%q) = %d\nstdout %q\nstderr %q\nwant %d, %q, %q", tc.args, code, out, errw, tc.code, tc.out, tc.errw)
			}
			if tc.out == "" && out != "" || tc.errw == "" && errw != "" && code == exitOK {
				t.Errorf("unexpected output: stdout %q, stderr %q", out, errw)
			}
			if strings.Contains(out+errw, testKey) {
				t.Errorf("the key appears in the output: stdout %q, stderr %q", out, errw)
			}
			if tc.after != "" {
				got, _ := os.ReadFile(files["@FILE"])
				if !strings.HasPrefix(string(got), tc.after) {
					t.Errorf("log afterwards:\n%s\nwant it to start with:\n%s", got, tc.after)
				}
				if _, err := audit.Verify(bytes.NewReader(got), audit.WithKey([]byte(testKey))); code == exitOK && strings.Contains(tc.name, "keyed") && err != nil {
					t.Errorf("repaired keyed log does not verify: %v", err)
				}
			}
		})
	}
}

// TestSimulatorTracesConform: the trace of every scenario is a record
// stream the machine could have written, and `authfsm sim --audit` writes
// it as a chained audit log that verifies.
func TestSimulatorTracesConform(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "scenarios", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			sc, err := sim.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			res := sim.Run(sc, sim.Options{Trace: true})
			var lines bytes.Buffer
			for _, rec := range res.Trace {
				b, err := json.Marshal(rec)
				if err != nil {
					t.Fatal(err)
				}
				lines.Write(append(b, '\n'))
			}
			conf, err := audit.Conform(&lines)
			if err != nil {
				t.Fatal(err)
			}
			if int64(conf.Transitions) != res.Stats.Transitions || conf.Transitions != len(res.Trace) {
				t.Errorf("Conform counted %d transitions; the run made %d and traced %d", conf.Transitions, res.Stats.Transitions, len(res.Trace))
			}
			// The same records as the command writes them, chained.
			log := simAudit(t, filepath.Base(file))
			if head, err := audit.Verify(strings.NewReader(log)); err != nil || head.Seq != uint64(len(res.Trace)) {
				t.Errorf("the audit log: head %v, %v; want %d records that verify", head, err, len(res.Trace))
			}
			written, err := audit.Conform(strings.NewReader(log))
			if err != nil || written != conf {
				t.Errorf("the audit log: %+v, %v; want %+v", written, err, conf)
			}
		})
	}
}
