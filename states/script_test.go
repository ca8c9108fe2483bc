package states

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authfsm/authfsm/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// epoch is instant 0 of every script; times in scripts are offsets from it.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// TestScripts drives the machine step by step from testdata/machine/*.txt,
// in the manner of etcd-io/raft's interaction tests. Each line is a command;
// the transcript of commands and what the machine did is compared with the
// .golden file beside the script (rewrite with -update).
//
// Commands:
//
//	config [ahead=D] [max_retry_after=D] [shared=BOOL] [grace=D] [seed=N] POLICY-KEY=VALUE...
//	token [issued=D] expiry=D          (a session holding a token; expiry=0 for none)
//	AT wake | demand | revoke CAUSE | reject | accept | lease_free
//	AT set issued=D expiry=D | adopt issued=D expiry=D
//	AT busy until=D                    (another process holds the lease)
//	AT ok [issued=D] expiry=D          (the refresh in flight yields a token)
//	AT fail status=N [code=C] [description=TEXT] [retry_after=V] | fail err=TEXT [sent]
//	AT family [gen=N] [issued=D expiry=D] [own] (the store read again, as asked)
//	AT store_down TEXT                 (the store could not be read)
//
// In TEXT an underscore stands for a space.
//
// Policy keys are those of policy.Spec: kind, initial, multiplier, max,
// jitter, max_attempts, max_elapsed (default: exponential 1s ×2 60s, no jitter).
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/machine/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got := runScript(t, string(src))
			golden := strings.TrimSuffix(file, ".txt") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./states -update)", err)
			}
			if got != string(want) {
				t.Errorf("transcript differs from %s (run go test ./states -update and review the diff):\n--- got\n%s", golden, got)
			}
		})
	}
}

type script struct {
	t      *testing.T
	m      *Machine
	d      Data
	flight uint64
	out    strings.Builder
}

func runScript(t *testing.T, src string) string {
	s := &script{t: t, m: NewMachine(Config{Policy: policy.Exponential{Initial: time.Second, Multiplier: 2, Max: time.Minute}})}
	s.d = NewData(1, epoch, epoch.Add(time.Hour))
	for n, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			s.out.WriteString(line + "\n")
			continue
		}
		s.out.WriteString("> " + line + "\n")
		if err := s.exec(line); err != nil {
			t.Fatalf("line %d: %q: %v", n+1, line, err)
		}
	}
	return s.out.String()
}

func (s *script) exec(line string) error {
	f := strings.Fields(line)
	kv := keyValues(f[1:])
	switch f[0] {
	case "config":
		spec := policy.Spec{Kind: "exponential", Initial: time.Second, Multiplier: 2, Max: time.Minute}
		if k, ok := kv["kind"]; ok {
			spec = spec.WithKind(k)
		}
		var cfg Config
		seed := uint64(1)
		for k, v := range kv {
			var err error
			switch k {
			case "ahead":
				cfg.RefreshAhead, err = time.ParseDuration(v)
			case "max_retry_after":
				cfg.MaxRetryAfter, err = time.ParseDuration(v)
			case "shared":
				cfg.Shared, err = strconv.ParseBool(v)
			case "grace":
				cfg.ReuseGrace, err = time.ParseDuration(v)
			case "seed":
				seed, err = strconv.ParseUint(v, 10, 64)
			case "kind": // applied first
			case "initial":
				spec.Initial, err = time.ParseDuration(v)
			case "max":
				spec.Max, err = time.ParseDuration(v)
			case "max_elapsed":
				spec.MaxElapsed, err = time.ParseDuration(v)
			case "multiplier":
				spec.Multiplier, err = strconv.ParseFloat(v, 64)
			case "max_attempts":
				spec.MaxAttempts, err = strconv.Atoi(v)
			case "jitter":
				spec.Jitter, err = policy.ParseJitter(v)
			default:
				err = fmt.Errorf("unknown key %q", k)
			}
			if err != nil {
				return err
			}
		}
		p, err := spec.Build()
		if err != nil {
			return err
		}
		cfg.Policy = p
		s.m = NewMachine(cfg)
		s.d = NewData(seed, s.d.issued, s.d.expiry)
		return nil
	case "token":
		issued, expiry := offset(kv["issued"]), offset(kv["expiry"])
		if kv["expiry"] == "0" {
			expiry = time.Time{}
		}
		s.d = NewData(1, issued, expiry)
		s.print(Effects{WakeAt: s.d.nextAt})
		return nil
	}
	now := offset(f[0])
	if len(f) < 2 {
		return fmt.Errorf("missing command after time")
	}
	kv = keyValues(f[2:])
	var in Input
	switch f[1] {
	case "wake":
		in.Kind = InWake
	case "demand":
		in.Kind = InDemand
	case "reject":
		in.Kind = InReject
	case "accept":
		in.Kind = InAccept
	case "lease_free":
		in.Kind = InLeaseFree
	case "revoke":
		in = Input{Kind: InRevoke, Detail: strings.Join(f[2:], " ")}
	case "set":
		in = Input{Kind: InSetToken, Issued: offset(kv["issued"]), Expiry: offset(kv["expiry"]), Detail: "re-login"}
	case "adopt":
		in = Input{Kind: InAdopt, Issued: offset(kv["issued"]), Expiry: offset(kv["expiry"]), Generation: 2}
	case "busy":
		in = Input{Kind: InBusy, Until: offset(kv["until"])}
	case "ok":
		issued := now
		if v, ok := kv["issued"]; ok {
			issued = offset(v)
		}
		in = Input{Kind: InResult, Verdict: policy.Verdict{Class: policy.OK}, Issued: issued, Expiry: offset(kv["expiry"])}
	case "fail":
		o := policy.Outcome{ErrorCode: kv["code"], RetryAfter: kv["retry_after"], At: now,
			Description: strings.ReplaceAll(kv["description"], "_", " ")}
		if v, ok := kv["status"]; ok {
			o.Status, _ = strconv.Atoi(v)
		}
		if v, ok := kv["err"]; ok {
			o.Err = fmt.Errorf("%s", strings.ReplaceAll(v, "_", " "))
		}
		_, o.Sent = kv["sent"]
		in = Input{Kind: InResult, Verdict: policy.Classify(o)}
	case "family":
		gen, _ := strconv.ParseUint(kv["gen"], 10, 64)
		in = Input{Kind: InFamily, Generation: gen}
		if _, ok := kv["expiry"]; ok {
			in.Issued, in.Expiry = offset(kv["issued"]), offset(kv["expiry"])
		}
		_, in.Own = kv["own"]
	case "store_down":
		in = Input{Kind: InStoreDown, Detail: strings.Join(f[2:], " ")}
	default:
		return fmt.Errorf("unknown command %q", f[1])
	}
	if in.Kind == InResult || in.Kind == InBusy || in.Kind == InFamily || in.Kind == InStoreDown {
		in.Flight = s.flight
		if v, ok := kv["flight"]; ok {
			in.Flight, _ = strconv.ParseUint(v, 10, 64)
		}
	}
	next, fx := s.m.Step(s.d, in, now)
	checkStep(s.t, s.d, in, next, &fx)
	s.d = next
	if fx.StartRefresh {
		s.flight = fx.Flight
	}
	s.print(fx)
	return nil
}

// print writes the transitions and effects of one step, then the data.
func (s *script) print(fx Effects) {
	for _, tr := range fx.Transitions() {
		fmt.Fprintf(&s.out, "  %s %s -> %s on %s", dur(tr.At), tr.From, tr.To, tr.Event)
		if tr.Attempt > 0 {
			fmt.Fprintf(&s.out, " attempt=%d", tr.Attempt)
		}
		if !tr.NextAt.IsZero() {
			fmt.Fprintf(&s.out, " next=%s", dur(tr.NextAt))
		}
		if tr.Reason != ReasonNone {
			fmt.Fprintf(&s.out, " reason=%s", tr.Reason)
		}
		if tr.Sent {
			fmt.Fprintf(&s.out, " sent=%s", tr.Class)
		}
		if tr.Cause() != "" {
			fmt.Fprintf(&s.out, " cause=%q", tr.Cause())
		}
		s.out.WriteString("\n")
	}
	var fxs []string
	if fx.StartRefresh {
		fxs = append(fxs, fmt.Sprintf("start_refresh(flight=%d)", fx.Flight))
	}
	if fx.Store != StoreNone {
		fxs = append(fxs, fmt.Sprintf("store=%s(flight=%d)", fx.Store, fx.Flight))
	}
	if fx.Send > GrantRefresh {
		fxs = append(fxs, "send="+fx.Send.String())
	}
	if !fx.WakeAt.IsZero() {
		fxs = append(fxs, "wake_at="+dur(fx.WakeAt))
	}
	if len(fxs) > 0 {
		fmt.Fprintf(&s.out, "  effects: %s\n", strings.Join(fxs, " "))
	}
	d := s.d
	fmt.Fprintf(&s.out, "  = %s expiry=%s attempt=%d", d.state, dur(d.expiry), d.attempt)
	if d.rejected {
		s.out.WriteString(" rejected")
	}
	if d.postponed {
		s.out.WriteString(" postponed")
	}
	if d.maybeConsumed {
		s.out.WriteString(" maybe_consumed")
	}
	if d.probation {
		s.out.WriteString(" probation")
	}
	if d.suspectN > 0 {
		fmt.Fprintf(&s.out, " suspects=%d", d.suspectN)
	}
	s.out.WriteString("\n")
}

func keyValues(f []string) map[string]string {
	kv := map[string]string{}
	for _, w := range f {
		k, v, _ := strings.Cut(w, "=")
		kv[k] = v
	}
	return kv
}

// offset parses a script time: a Go duration from the epoch.
func offset(s string) time.Time {
	if s == "" {
		return epoch
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(fmt.Sprintf("bad script time %q", s)) // scripts are ours; fail loudly
	}
	return epoch.Add(d)
}

func dur(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.Sub(epoch).String()
}
