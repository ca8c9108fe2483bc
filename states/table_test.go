package states

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authfsm/authfsm/policy"
	"github.com/looplab/fsm"
)

// TestCompiledMatchesLooplab checks that the dense table answers exactly as
// looplab/fsm does for every (state, event) pair.
func TestCompiledMatchesLooplab(t *testing.T) {
	for _, s := range States() {
		for e := range numEvents {
			f := fsm.NewFSM(s.String(), Table, nil)
			err := f.Event(context.Background(), e.String())
			if errors.As(err, new(fsm.NoTransitionError)) {
				err = nil // looplab's word for a transition back to the same state
			}
			to, ok := Next(s, e)
			switch {
			case ok && err != nil:
				t.Errorf("%v -%v->: compiled allows %v, looplab says %v", s, e, to, err)
			case !ok && err == nil:
				t.Errorf("%v -%v->: looplab allows %v, compiled does not", s, e, f.Current())
			case ok && f.Current() != to.String():
				t.Errorf("%v -%v->: compiled %v, looplab %v", s, e, to, f.Current())
			}
		}
	}
}

func TestCompileRejectsBadTables(t *testing.T) {
	base := func() fsm.Events { return append(fsm.Events(nil), Table...) }
	tests := []struct {
		name   string
		edit   func(fsm.Events) fsm.Events
		errSub string
	}{
		{"unknown event", func(t fsm.Events) fsm.Events {
			return append(t, fsm.EventDesc{Name: "explode", Src: []string{"valid"}, Dst: "revoked"})
		}, `unknown event "explode"`},
		{"destination nowhere", func(t fsm.Events) fsm.Events { t[0].Dst = "limbo"; return t }, `event "refresh_ahead" leads nowhere`},
		{"unknown source", func(t fsm.Events) fsm.Events {
			t[0] = fsm.EventDesc{Name: t[0].Name, Src: []string{"limbo"}, Dst: t[0].Dst}
			return t
		}, `unknown state "limbo"`},
		{"no source", func(t fsm.Events) fsm.Events { t[0] = fsm.EventDesc{Name: t[0].Name, Dst: t[0].Dst}; return t }, "has no source state"},
		{"declared twice", func(t fsm.Events) fsm.Events { return append(t, t[1]) }, `"expire" declared twice`},
		{"event missing", func(t fsm.Events) fsm.Events { return t[1:] }, `"refresh_ahead" is not in the table`},
		{"state unreachable", func(t fsm.Events) fsm.Events {
			var out fsm.Events
			for _, d := range t {
				if d.Dst != "backoff" {
					out = append(out, d)
				}
			}
			return append(out, fsm.EventDesc{Name: "fail", Src: []string{"backoff"}, Dst: "valid"})
		}, `state "backoff" is unreachable`},
	}
	if _, err := compile(Table); err != nil {
		t.Fatalf("the real table does not compile: %v", err)
	}
	for _, tt := range tests {
		_, err := compile(tt.edit(base()))
		if err == nil || !strings.Contains(err.Error(), tt.errSub) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.errSub)
		}
	}
}

func TestNames(t *testing.T) {
	for _, s := range States() {
		got, err := ParseState(s.String())
		if err != nil || got != s {
			t.Errorf("ParseState(%q) = %v, %v", s.String(), got, err)
		}
		var u State
		b, _ := s.MarshalText()
		if err := u.UnmarshalText(b); err != nil || u != s {
			t.Errorf("text round trip of %v: %v, %v", s, u, err)
		}
	}
	if _, err := ParseState("Valid"); err == nil {
		t.Error("ParseState is case-insensitive; names are lower-case")
	}
	if got := State(99).String(); got != "state(99)" {
		t.Errorf("State(99) = %q", got)
	}
	if got := Event(99).String(); got != "event(99)" {
		t.Errorf("Event(99) = %q", got)
	}
}

// BenchmarkStep measures one decision on the hot path (Apply, which the
// simulator and the runtime use), the value-returning Step beside it, and the
// baselines: a bare lookup in the compiled table and a looplab Event().
func BenchmarkStep(b *testing.B) {
	m := NewMachine(Config{RefreshAhead: 5 * time.Minute})
	now := epoch.Add(10 * time.Minute)
	b.Run("apply-demand-valid", func(b *testing.B) {
		b.ReportAllocs()
		d := NewData(1, epoch, epoch.Add(time.Hour))
		in := Input{Kind: InDemand}
		var fx Effects
		for b.Loop() {
			m.Apply(&d, &in, now, &fx)
		}
	})
	b.Run("step-demand-valid", func(b *testing.B) {
		b.ReportAllocs()
		d := NewData(1, epoch, epoch.Add(time.Hour))
		for b.Loop() {
			d, _ = m.Step(d, Input{Kind: InDemand}, now)
		}
	})
	b.Run("apply-refresh-cycle", func(b *testing.B) {
		// Four decisions per op: refresh-ahead, a 502, the retry, the new token.
		b.ReportAllocs()
		var fx Effects
		wake := Input{Kind: InWake}
		fail := Input{Kind: InResult, Verdict: classified502}
		ok := Input{Kind: InResult}
		t := epoch
		for b.Loop() {
			t = t.Add(time.Hour)
			d := NewData(1, t.Add(-time.Hour), t)
			m.Apply(&d, &wake, t.Add(-time.Minute), &fx)
			fail.Flight = fx.Flight
			m.Apply(&d, &fail, t.Add(-time.Minute), &fx)
			retryAt := fx.WakeAt
			m.Apply(&d, &wake, retryAt, &fx)
			ok.Flight, ok.Issued, ok.Expiry = fx.Flight, retryAt, t.Add(time.Hour)
			m.Apply(&d, &ok, retryAt, &fx)
		}
	})
	b.Run("table-lookup", func(b *testing.B) {
		s := Valid
		for i := 0; b.Loop(); i++ {
			s, _ = Next(s, Event(i%int(numEvents)))
		}
	})
	b.Run("looplab-event", func(b *testing.B) {
		b.ReportAllocs()
		f := fsm.NewFSM("valid", Table, nil)
		ctx := context.Background()
		for b.Loop() {
			_ = f.Event(ctx, "refresh_ahead")
			_ = f.Event(ctx, "succeed")
		}
	})
}

var classified502 = policy.Classify(policy.Outcome{Status: 502})
