package states

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/authfsm/authfsm/policy"
)

// TestProtocol drives the machine through the family's protocol from the
// scripts under testdata/protocol, one file a script, in the manner of
// etcd-io/raft's interaction tests (github.com/cockroachdb/datadriven):
// each command is followed by what the machine did, under "----";
// `go test ./states -run TestProtocol -rewrite` rewrites the expected
// output, to be reviewed as a diff.
//
// Commands (D a duration from the script's epoch or a length, N a number):
//
//	config [coordinated] [shared] [fallback] [same-client] [solo] [grace=D] [lease=D] [ahead=D]
//	       [initial=D] [max=D] [max-attempts=N] [jitter=none|full|equal] [login=outside|own]
//	token [issued=D] expiry=D [gen=N] [no-refresh]
//	wake|demand|accept|lease-free|held|marked|lease-lost|moved|throttled|no-refresh|flush at=D
//	reject|revoke at=D [detail=TEXT] [logout]
//	logged-in at=D issued=D expiry=D [no-refresh] | login-failed at=D detail=TEXT
//	set|adopt at=D issued=D expiry=D [gen=N] [no-refresh]
//	busy at=D until=D
//	family|watch at=D gen=N [issued=D expiry=D] [own] [no-refresh] [removed] [until=D] [mark=N@D]
//	published at=D gen=N
//
// Any answer takes flight=N to carry another flight than the last one the
// machine asked for.
//
//	store-down at=D [detail=TEXT]
//	ok at=D expiry=D [issued=D] [rotated]
//	fail at=D status=N [code=C] [retry-after=V] | fail at=D err=TEXT [sent]
//
// The answers of an attempt (family, held, ok, …) carry its flight; watch
// is a report of the family's watch (flight 0). Each step prints its
// transitions, its effects and the data after it.
func TestProtocol(t *testing.T) {
	datadriven.Walk(t, "testdata/protocol", func(t *testing.T, path string) {
		h := &harness{t: t, m: NewMachine(Config{Coordinated: true, Policy: testPolicy()})}
		h.d = NewData(1, epoch, epoch.Add(time.Hour))
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			out, err := h.exec(td)
			if err != nil {
				td.Fatalf(t, "%v", err)
			}
			return out
		})
	})
}

func testPolicy() policy.Policy {
	return policy.Exponential{Initial: time.Second, Multiplier: 2, Max: time.Minute}
}

type harness struct {
	t      *testing.T
	m      *Machine
	d      Data
	flight uint64
}

func (h *harness) exec(td *datadriven.TestData) (string, error) {
	arg := func(key string) (string, bool) {
		for _, a := range td.CmdArgs {
			if a.Key == key {
				if len(a.Vals) == 0 {
					return "", true
				}
				return strings.Join(a.Vals, ","), true
			}
		}
		return "", false
	}
	str := func(key string) string { v, _ := arg(key); return v }
	has := func(key string) bool { _, ok := arg(key); return ok }
	at := func(key string) time.Time {
		if v, ok := arg(key); ok {
			return offset(v)
		}
		return time.Time{}
	}
	dur := func(key string) (time.Duration, error) {
		v, ok := arg(key)
		if !ok {
			return 0, nil
		}
		return time.ParseDuration(v)
	}
	num := func(key string) uint64 { n, _ := strconv.ParseUint(str(key), 10, 64); return n }

	switch td.Cmd {
	case "config":
		cfg := Config{Coordinated: has("coordinated"), Fallback: has("fallback"), FallbackSameClient: has("same-client"),
			SoloWhenStoreDown: has("solo"), Shared: has("shared")}
		switch str("login") {
		case "outside":
			cfg.Login = LoginOutside
		case "own":
			cfg.Login = LoginOwn
		}
		spec := policy.Spec{Kind: "exponential", Initial: time.Second, Multiplier: 2, Max: time.Minute}
		var err error
		var errs [6]error
		cfg.ReuseGrace, errs[0] = dur("grace")
		cfg.Lease, errs[1] = dur("lease")
		cfg.RefreshAhead, errs[2] = dur("ahead")
		if has("initial") {
			spec.Initial, errs[3] = dur("initial")
		}
		if has("max") {
			spec.Max, errs[4] = dur("max")
		}
		if has("max-attempts") {
			spec.MaxAttempts, errs[5] = strconv.Atoi(str("max-attempts"))
		}
		if has("jitter") {
			spec.Jitter, err = policy.ParseJitter(str("jitter"))
		}
		for _, e := range append(errs[:], err) {
			if e != nil {
				return "", e
			}
		}
		if cfg.Policy, err = spec.Build(); err != nil {
			return "", err
		}
		h.m = NewMachine(cfg)
		return "ok", nil
	case "token":
		issued, expiry := at("issued"), at("expiry")
		if issued.IsZero() {
			issued = epoch
		}
		if str("expiry") == "0" {
			expiry = time.Time{}
		}
		opts := []DataOption{StartGeneration(num("gen"))}
		if has("no-refresh") {
			opts = append(opts, StartWithoutRefresh())
		}
		h.d = NewData(1, issued, expiry, opts...)
		h.flight = 0
		return h.data(), nil
	}

	in := Input{Flight: h.flight, Detail: str("detail")}
	now := at("at")
	if now.IsZero() {
		return "", fmt.Errorf("%s needs at=", td.Cmd)
	}
	kinds := map[string]InputKind{"wake": InWake, "demand": InDemand, "accept": InAccept, "lease-free": InLeaseFree,
		"held": InLeaseHeld, "marked": InMarked, "lease-lost": InLeaseLost, "moved": InGenMoved, "throttled": InThrottled,
		"no-refresh": InNoRefresh,
		"flush":      InFlush, "reject": InReject, "revoke": InRevoke, "set": InSetToken, "adopt": InAdopt, "busy": InBusy,
		"family": InFamily, "watch": InFamily, "published": InPublished, "store-down": InStoreDown,
		"ok": InResult, "fail": InResult, "logged-in": InLoggedIn, "login-failed": InLoginFailed}
	k, ok := kinds[td.Cmd]
	if !ok {
		return "", fmt.Errorf("unknown command %q", td.Cmd)
	}
	in.Kind = k
	in.Issued, in.Expiry, in.Until = at("issued"), at("expiry"), at("until")
	in.Generation, in.Own, in.NoRefresh, in.Rotated = num("gen"), has("own"), has("no-refresh"), has("rotated")
	in.Removed = has("removed")
	if td.Cmd == "revoke" && has("logout") {
		in.Reason = ReasonLogout
	}
	if td.Cmd == "watch" {
		in.Flight = 0
	}
	if has("flight") {
		in.Flight = num("flight")
	}
	if m, ok := arg("mark"); ok {
		g, when, _ := strings.Cut(m, "@")
		in.Marked, in.MarkedAt = true, offset(when)
		in.MarkGeneration, _ = strconv.ParseUint(g, 10, 64)
	}
	switch td.Cmd {
	case "ok":
		if in.Issued.IsZero() {
			in.Issued = now
		}
		in.Verdict = policy.Verdict{Class: policy.OK}
	case "fail":
		o := policy.Outcome{ErrorCode: str("code"), RetryAfter: str("retry-after"), At: now, Sent: has("sent")}
		if v, ok := arg("status"); ok {
			o.Status, _ = strconv.Atoi(v)
		}
		if v, ok := arg("err"); ok {
			o.Err = fmt.Errorf("%s", v)
		}
		in.Verdict = policy.Classify(o)
	}
	before := h.d
	next, fx := h.m.Step(h.d, in, now)
	checkStep(h.t, before, in, next, &fx)
	h.d = next
	if fx.Flight != 0 {
		h.flight = fx.Flight
	}
	return h.effects(&fx) + h.data(), nil
}

// effects prints a step's transitions and effects.
func (h *harness) effects(fx *Effects) string {
	var b strings.Builder
	for _, tr := range fx.Transitions() {
		fmt.Fprintf(&b, "%s %s -> %s on %s", dur(tr.At), tr.From, tr.To, tr.Event)
		if tr.Attempt > 0 {
			fmt.Fprintf(&b, " attempt=%d", tr.Attempt)
		}
		if !tr.NextAt.IsZero() {
			fmt.Fprintf(&b, " next=%s", dur(tr.NextAt))
		}
		if tr.Reason != ReasonNone {
			fmt.Fprintf(&b, " reason=%s", tr.Reason)
		}
		if tr.Sent {
			fmt.Fprintf(&b, " sent=%s", tr.Class)
		}
		if c := tr.Cause(); c != "" {
			fmt.Fprintf(&b, " cause=%q", c)
		}
		b.WriteString("\n")
	}
	var fxs []string
	if fx.StartRefresh {
		fxs = append(fxs, "start")
	}
	if fx.Install != InstallNone {
		fxs = append(fxs, "install="+[...]string{"", "pair", "pair-dead", "refresh"}[fx.Install])
	}
	switch fx.Lease {
	case LeaseKeep:
		fxs = append(fxs, fmt.Sprintf("keep-lease(for=%s clear-mark=%t)", fx.For, fx.ClearMark))
	case LeaseRelease:
		fxs = append(fxs, fmt.Sprintf("release-lease(clear-mark=%t)", fx.ClearMark))
	}
	switch fx.Store {
	case StoreNone:
	case StoreAcquire:
		fxs = append(fxs, fmt.Sprintf("store=acquire(for=%s gen=%d)", fx.For, fx.Generation))
	case StoreMark, StorePublish, StoreSeed:
		fxs = append(fxs, fmt.Sprintf("store=%s(gen=%d)", fx.Store, fx.Generation))
	default:
		fxs = append(fxs, "store="+fx.Store.String())
	}
	if fx.Send != GrantNone {
		fxs = append(fxs, "send="+fx.Send.String())
	}
	if fx.Store != StoreNone || fx.Send != GrantNone {
		fxs = append(fxs, fmt.Sprintf("flight=%d", fx.Flight))
	}
	if fx.Save {
		fxs = append(fxs, "save")
	}
	if fx.Login {
		fxs = append(fxs, fmt.Sprintf("login flight=%d", fx.Flight))
	}
	if fx.Logout {
		fxs = append(fxs, "logout")
	}
	if fx.Watch {
		fxs = append(fxs, "watch")
	}
	if !fx.WakeAt.IsZero() {
		fxs = append(fxs, "wake="+dur(fx.WakeAt))
	}
	if len(fxs) > 0 {
		b.WriteString("effects: " + strings.Join(fxs, " ") + "\n")
	}
	return b.String()
}

var stepNames = [...]string{stepNone: "", stepRead: "read", stepAcquire: "acquire", stepReread: "reread", stepSeed: "seed",
	stepMark: "mark", stepSend: "send", stepPublish: "publish", stepSetRead: "set-read", stepMoved: "moved", stepVerify: "verify"}

// data prints the session's data.
func (h *harness) data() string {
	d := &h.d
	var b strings.Builder
	fmt.Fprintf(&b, "= %s expiry=%s attempt=%d gen=%d", d.state, dur(d.expiry), d.attempt, d.gen)
	if d.step != stepNone {
		fmt.Fprintf(&b, " step=%s", stepNames[d.step])
	}
	for _, f := range []struct {
		on   bool
		name string
	}{{d.held, "held"}, {d.marked, "marked"}, {d.unpublished, "unpublished"}, {d.relogin, "relogin"},
		{d.rtDead, "refresh-dead"}, {d.awaitPair, "awaits-pair"}, {d.maybeConsumed, "maybe-consumed"}, {d.rejected, "rejected"}} {
		if f.on {
			b.WriteString(" " + f.name)
		}
	}
	if d.reason != ReasonNone {
		fmt.Fprintf(&b, " last=%q", d.Cause())
	}
	b.WriteString("\n")
	return b.String()
}
