package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHelpEverywhere: every command and subcommand answers --help, -h and
// -help (before or after other arguments) with exit 0, nothing on stderr,
// and on stdout a one-line description first: "authfsm CMD: what it does".
func TestHelpEverywhere(t *testing.T) {
	for _, cmd := range [][]string{{"sim"}, {"compare"}, {"conform"}, {"fuzz"}, {"diagram"}, {"audit"}, {"audit", "verify"}, {"audit", "repair"},
		{"audit", "diagram"}, {"audit", "timeline"}, {"agent"}, {"token"}, {"login"}, {"logout"}} {
		for _, h := range []string{"--help", "-h", "-help"} {
			args := append(append([]string(nil), cmd...), h)
			code, out, errOut := runCLI(args...)
			first, _, _ := strings.Cut(out, "\n")
			name := "authfsm " + strings.Join(cmd, " ")
			if code != exitOK || errOut != "" || !strings.HasPrefix(first, name+": ") || len(first) < len(name)+20 || strings.Contains(first, "usage") {
				t.Errorf("%v: exit %d, stderr %q, first line %q; want 0, nothing, %q and a description", args, code, errOut, first, name+": ")
			}
		}
	}
	if code, out, _ := runCLI("help", "audit", "verify"); code != exitOK || !strings.HasPrefix(out, "authfsm audit verify: ") {
		t.Errorf("help audit verify: exit %d, stdout %q", code, out)
	}
	if code, out, _ := runCLI("help", "compare"); code != exitOK || !strings.HasPrefix(out, "authfsm compare: ") {
		t.Errorf("help compare: exit %d, stdout %q", code, out)
	}
}

// TestStdinOnce: standard input can be read once.
func TestStdinOnce(t *testing.T) {
	defer func(r any) { stdin = os.Stdin }(stdin)
	stdin = strings.NewReader("name: s\nduration: 2h\ntoken: {ttl: 1h}\n")
	if code, _, errOut := runCLI("sim", "-", "-"); code != exitBadInput || !strings.Contains(errOut, "authfsm sim: - (standard input) given 2 times") {
		t.Errorf("sim - -: exit %d, stderr %q", code, errOut)
	}
}

// TestMessagePrefix: whatever goes wrong, every message on stderr starts
// with "authfsm" and the command (the usage that may follow excepted).
func TestMessagePrefix(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: b\nduration: 1h\ntoken: {ttl: 1h}\nworkload:\n  - {kind: requests, evry: 1m}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "log.jsonl")
	if err := os.WriteFile(log, []byte(`{"seq":1,"session":"api","from":"valid","to":"refreshing","event":"refresh"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"sim", bad}, {"sim", "--nope", bad}, {"sim", "--policy", "linear", bad}, {"sim", filepath.Join(dir, "none.yaml")}, {"sim"},
		{"compare", bad}, {"compare", "--nope"}, {"conform", bad}, {"conform", "--nope"}, {"conform"}, {"fuzz", "x"}, {"fuzz", "--nope"}, {"diagram", "--format", "png"}, {"diagram", "--nope"},
		{"audit", "verify", "--unchained", log}, {"audit", "verify", log}, {"audit", "verify", "--nope", log}, {"audit", "diagram", log},
		{"audit", "repair", filepath.Join(dir, "none")}, {"audit", "timeline", "--svg", filepath.Join(dir, "t.svg"), log},
		{"agent", "--config", bad}, {"agent", "--nope"}, {"token", "--nope"},
		{"login", "--config", bad}, {"login", "--nope"}, {"logout", "--config", filepath.Join(dir, "none.yaml")}, {"logout", "x"},
	} {
		_, _, errOut := runCLI(args...)
		prefix := "authfsm " + args[0]
		if args[0] == "audit" {
			prefix += " " + args[1]
		}
		first, _, _ := strings.Cut(errOut, "\n")
		if !strings.HasPrefix(first, prefix+": ") {
			t.Errorf("%v: stderr %q, want its message to start with %q", args, errOut, prefix+": ")
		}
		for _, line := range strings.Split(strings.TrimSuffix(errOut, "\n"), "\n") {
			if strings.HasPrefix(line, "authfsm") && !strings.HasPrefix(line, prefix+": ") && !strings.HasPrefix(line, "authfsm "+args[0]+" ") {
				t.Errorf("%v: line %q does not start with %q", args, line, prefix+": ")
			}
		}
	}
}
