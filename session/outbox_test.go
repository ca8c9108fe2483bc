package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/session/hooks"
	"github.com/authfsm/authfsm/states"
)

// callLog records, in order, what a session's hooks, sink and logger were
// called with.
type callLog struct {
	mu    sync.Mutex
	calls []string
}

func (c *callLog) add(format string, args ...any) {
	c.mu.Lock()
	c.calls = append(c.calls, fmt.Sprintf(format, args...))
	c.mu.Unlock()
}

func (c *callLog) get() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.calls...)
}

// handlerFunc is a slog.Handler that writes each record through a text
// handler after calling f, which may panic.
type handlerFunc struct {
	slog.Handler
	f func(slog.Record)
}

func (h handlerFunc) Handle(ctx context.Context, r slog.Record) error {
	h.f(r)
	return h.Handler.Handle(ctx, r)
}

// recovering runs f on a goroutine that recovers its panic, as net/http's
// do for a handler, and waits for it.
func recovering(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { _ = recover() }()
		f()
	}()
	<-done
}

// TestPanickingCallbackDoesNotWedge: a hook, the audit sink or the logger
// that panics, on whatever goroutine happens to deliver (one that recovers,
// as net/http's do), stops neither the delivery of the later records, hooks
// and log lines nor Shutdown. The panic is recovered, logged at error level
// with its stack, and counted in Status.Panics.
func TestPanickingCallbackDoesNotWedge(t *testing.T) {
	// The session is rejected, its refresh fails once (502) and then
	// succeeds: five transitions, two requests, one warning.
	run := func(t *testing.T, panicking string) (calls []string, logs string, panics uint64) {
		var cl callLog
		boom := func(who string) {
			if who == panicking {
				panic("boom from " + who)
			}
		}
		var logBuf bytes.Buffer
		var logMu sync.Mutex
		text := slog.NewTextHandler(lockedWriter{&logMu, &logBuf}, nil)
		logger := slog.New(handlerFunc{text, func(r slog.Record) {
			if r.Level == slog.LevelWarn {
				cl.add("log %s", r.Message)
				boom("logger")
			}
		}})
		hk := hooks.Hooks{
			Opened:      func(i hooks.SessionInfo) { cl.add("opened %v", i.State); boom("Opened") },
			Transition:  func(r audit.Record) { cl.add("transition %v", r.Event); boom("Transition") },
			RequestDone: func(r hooks.RequestDone) { cl.add("done %d", r.Status); boom("RequestDone") },
			Closed:      func(i hooks.SessionInfo) { cl.add("closed %v", i.State); boom("Closed") },
		}
		sink := audit.SinkFunc(func(r audit.Record) error { cl.add("sink %d %v", r.Seq, r.Event); boom("sink"); return nil })
		fe := newFakeEndpoint(time.Hour)
		fe.SetFault(fault{Kind: "status", Status: 502}, 1)
		var s *Session
		recovering(func() {
			s, _ = newTestSession(t, fe, WithHooks(hk), WithAudit(sink), WithLogger(logger))
		})
		if s == nil {
			t.Fatal("New did not return: a panicking Opened hook escaped it")
		}
		recovering(func() { s.Reject("tok-access-0") })
		time.Sleep(time.Minute)
		closed := make(chan error, 1)
		go func() {
			var err error
			recovering(func() { err = s.Shutdown(context.Background()) })
			closed <- err
		}()
		select {
		case err := <-closed:
			if err != nil {
				t.Errorf("Shutdown = %v", err)
			}
		case <-time.After(time.Hour):
			t.Fatal("Shutdown still blocked after an hour: the outbox is wedged")
		}
		if st := s.Status(); st.Dropped != 0 {
			t.Errorf("Status().Dropped = %d, want 0", st.Dropped)
		}
		logMu.Lock()
		defer logMu.Unlock()
		return cl.get(), logBuf.String(), s.Status().Panics
	}
	var want []string
	synctest.Test(t, func(t *testing.T) {
		want, _, _ = run(t, "")
	})
	if len(want) < 14 {
		t.Fatalf("the run without panics made only these calls:\n%s", strings.Join(want, "\n"))
	}
	for _, tc := range []struct {
		panicking string
		panics    uint64 // how many calls panicked
		what      string // what the error log names
	}{
		{"Opened", 1, "session: a hook panicked"},
		{"Transition", 5, "session: a hook panicked"},
		{"RequestDone", 2, "session: a hook panicked"},
		{"Closed", 1, "session: a hook panicked"},
		{"sink", 5, "session: the audit sink panicked"},
		{"logger", 1, "session: the logger panicked"},
	} {
		t.Run(tc.panicking, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				got, logs, panics := run(t, tc.panicking)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("calls (-without a panic +with %s panicking):\n%s", tc.panicking, diff)
				}
				if panics != tc.panics {
					t.Errorf("Status().Panics = %d, want %d", panics, tc.panics)
				}
				for _, w := range []string{"level=ERROR", `msg="` + tc.what + `"`, "panic=\"boom from " + tc.panicking, "goroutine ", "outbox.go"} {
					if !strings.Contains(logs, w) {
						t.Errorf("the log lacks %q:\n%s", w, logs)
					}
				}
				if n := strings.Count(logs, tc.what); n != int(tc.panics) {
					t.Errorf("%d panics logged, want %d", n, tc.panics)
				}
			})
		})
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestPanicLogHidesTheToken: a hook that panics with the access token in
// its message has it logged redacted.
func TestPanicLogHidesTheToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		var mu sync.Mutex
		logger := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &buf}, nil))
		var s *Session
		hk := hooks.Hooks{Transition: func(r audit.Record) {
			if tok, err := s.Token(context.Background()); err == nil {
				panic(errors.New("the API refused " + tok.Access.Reveal() + "\n\x1b[31mforged line"))
			}
		}}
		fe := newFakeEndpoint(time.Hour)
		s, _ = newTestSession(t, fe, WithHooks(hk), WithLogger(logger))
		s.Reject("tok-access-0")
		time.Sleep(time.Minute)
		s.Close()
		mu.Lock()
		defer mu.Unlock()
		out := buf.String()
		if strings.Contains(out, "tok-access") || strings.Contains(out, "\x1b") || !strings.Contains(out, `"panic":"the API refused [redacted]`) {
			t.Errorf("the panic's log:\n%s", out)
		}
	})
}

// TestOutboxIsBounded: while the audit sink blocks, the session goes on
// (Token, retries), its outbox keeps every audit record, and it holds at
// most outboxLimit notes in all: beyond, new log lines and hook calls are
// dropped, counted in Status().Dropped and reported by one warning once
// delivery resumes. Opened and Closed are never dropped.
func TestOutboxIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var counts struct {
			sync.Mutex
			opened, closed, starts, dones, warnings int
			report                                  string
		}
		count := func(p *int) { counts.Lock(); *p++; counts.Unlock() }
		hk := hooks.Hooks{
			Opened:       func(hooks.SessionInfo) { count(&counts.opened) },
			Closed:       func(hooks.SessionInfo) { count(&counts.closed) },
			RequestStart: func(hooks.RequestStart) { count(&counts.starts) },
			RequestDone:  func(hooks.RequestDone) { count(&counts.dones) },
		}
		logger := slog.New(handlerFunc{slog.NewTextHandler(io.Discard, nil), func(r slog.Record) {
			if r.Message == "session: token refresh failed" {
				count(&counts.warnings)
			}
			if strings.Contains(r.Message, "dropped") {
				counts.Lock()
				counts.report += r.Message + fmt.Sprintf(" %v\n", r.NumAttrs())
				r.Attrs(func(a slog.Attr) bool { counts.report += a.String() + "\n"; return true })
				counts.Unlock()
			}
		}})
		release := make(chan struct{})
		var once sync.Once
		var seqs []uint64
		var seqMu sync.Mutex
		sink := audit.SinkFunc(func(r audit.Record) error {
			once.Do(func() { <-release })
			seqMu.Lock()
			seqs = append(seqs, r.Seq)
			seqMu.Unlock()
			return nil
		})
		fe := newFakeEndpoint(time.Hour)
		fe.SetFault(fault{Kind: "status", Status: 502}, 0)
		s, _ := newTestSession(t, fe, WithHooks(hk), WithAudit(sink), WithLogger(logger))
		go s.Reject("tok-access-0") // its goroutine, or the one the refresh starts to deliver, blocks in the sink
		// 2,000 attempts, each with 2 hook calls, a warning and 2 records.
		time.Sleep(2000 * time.Second)
		if _, err := s.Token(context.Background()); err == nil {
			t.Fatal("Token succeeded during the outage")
		}
		requests, _, _ := fe.Stats()
		if requests < 1900 {
			t.Fatalf("only %d requests: the blocked sink held the session up", requests)
		}
		dropped := s.Status().Dropped
		close(release)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		st := s.Status()
		counts.Lock()
		defer counts.Unlock()
		delivered := counts.starts + counts.dones + counts.warnings
		if dropped == 0 || st.Dropped < dropped || uint64(delivered)+st.Dropped != uint64(3*requests) {
			t.Errorf("%d requests: %d hook calls and warnings delivered, %d dropped (%d before the sink was released); want %d in all",
				requests, delivered, st.Dropped, dropped, 3*requests)
		}
		if delivered > 2*outboxLimit {
			t.Errorf("%d hook calls and warnings delivered while the queue was bounded to %d", delivered, outboxLimit)
		}
		if counts.opened != 1 || counts.closed != 1 {
			t.Errorf("Opened %d, Closed %d times, want once each", counts.opened, counts.closed)
		}
		if !strings.Contains(counts.report, fmt.Sprintf("dropped=%d", st.Dropped)) {
			t.Errorf("the warning about the drops:\n%s", counts.report)
		}
		seqMu.Lock()
		defer seqMu.Unlock()
		if len(seqs) < 2*requests {
			t.Errorf("%d records for %d requests", len(seqs), requests)
		}
		for i, q := range seqs {
			if q != uint64(i+1) {
				t.Fatalf("record %d has seq %d: a record was lost or reordered", i+1, q)
			}
		}
	})
}

// TestBlockedLoggerDoesNotHoldTheRefresh: the refresh worker never
// delivers notes on its own goroutine, so a logger (or hook, or audit sink) that blocks
// on a note the refresh queued while nobody else delivers (the warning
// that the refresh token was refused, logged just before the fallback
// grant) does not keep it from sending that grant: the session gets its
// new token, and the notes wait and are all delivered, in order, once the
// logger returns.
func TestBlockedLoggerDoesNotHoldTheRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var once sync.Once
		logger := slog.New(handlerFunc{slog.NewTextHandler(io.Discard, nil), func(r slog.Record) {
			if strings.Contains(r.Message, "trying the fallback grant") {
				once.Do(func() { <-release })
			}
		}})
		var seqs []uint64
		var seqMu sync.Mutex
		sink := audit.SinkFunc(func(r audit.Record) error {
			seqMu.Lock()
			seqs = append(seqs, r.Seq)
			seqMu.Unlock()
			return nil
		})
		fe := newFakeEndpoint(time.Hour)
		fe.Latency = time.Second // Reject's caller is long gone when the refusal comes
		fe.SetFault(fault{Kind: "status", Status: 400, Code: "invalid_grant"}, 1)
		fb := testClient(t, fe, testEndpoint{Grant: grantClientCredentials})
		s, _ := newTestSession(t, fe, WithAudit(sink), WithLogger(logger), WithFallback(fb))
		s.Reject("tok-access-0")
		synctest.Wait()
		time.Sleep(time.Minute) // nobody but the refresh goroutine is about
		if requests, _, _ := fe.Stats(); requests != 2 {
			t.Errorf("%d requests, want the refresh and the fallback grant: the refresh waited for the logger", requests)
		}
		if st := s.Status(); st.State != states.Valid {
			t.Errorf("state %v while the logger blocked, want valid", st.State)
		}
		close(release)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		seqMu.Lock()
		defer seqMu.Unlock()
		if len(seqs) != 3 {
			t.Errorf("records %v delivered, want 1 2 3", seqs)
		}
		for i, q := range seqs {
			if q != uint64(i+1) {
				t.Fatalf("record %d has seq %d: a record was lost or reordered", i+1, q)
			}
		}
	})
}

// TestShutdownBoundsTheDelivery: a sink that never returns holds Shutdown
// only until its context ends; Shutdown then says what it left behind.
func TestShutdownBoundsTheDelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		sink := audit.SinkFunc(func(r audit.Record) error {
			if r.Seq == 1 {
				<-release
			}
			return nil
		})
		fe := newFakeEndpoint(time.Hour)
		s, _ := newTestSession(t, fe, WithAudit(sink))
		go s.Revoke() // blocks in the sink; no refresh goroutine involved
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := s.Shutdown(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "session: ") || !strings.Contains(err.Error(), "undelivered") {
			t.Errorf("Shutdown = %v, want an error about the undelivered records", err)
		}
		close(release)
		if err := s.Close(); err != nil {
			t.Errorf("a second Close = %v", err)
		}
	})
}

// TestOutboxSurvivesGoexit: a hook that ends its goroutine (runtime.Goexit,
// as t.FailNow does) leaves the outbox idle, and the calls queued behind it
// are delivered by the next deliverer.
func TestOutboxSurvivesGoexit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &Session{}
		s.cfg.logger = slog.New(slog.DiscardHandler)
		var cl callLog
		s.hook(func() { cl.add("a") })
		s.hook(runtime.Goexit)
		s.hook(func() { cl.add("c") })
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.deliver(false)
			t.Error("deliver returned after runtime.Goexit")
		}()
		<-done
		s.hook(func() { cl.add("d") })
		finished := make(chan struct{})
		go func() { s.deliver(true); close(finished) }()
		select {
		case <-finished:
		case <-time.After(time.Hour):
			t.Fatal("the outbox stayed marked as draining")
		}
		if got := cl.get(); strings.Join(got, " ") != "a c d" {
			t.Errorf("delivered %q, want a c d", got)
		}
	})
}

// TestFullOutboxKeepsRecordsAndLifeHooks: once outboxLimit notes wait, a
// hook call or log line is dropped, an audit record, Opened or Closed is
// queued all the same, and the drops are reported once delivered.
func TestFullOutboxKeepsRecordsAndLifeHooks(t *testing.T) {
	var logged []string
	s := &Session{}
	s.cfg.logger = slog.New(handlerFunc{slog.NewTextHandler(io.Discard, nil), func(r slog.Record) {
		logged = append(logged, r.Message)
	}})
	var cl callLog
	for range outboxLimit {
		s.hook(func() { cl.add("hook") })
	}
	s.hook(func() { cl.add("dropped hook") })
	s.mu.Lock()
	s.logLocked(slog.LevelWarn, "dropped line")
	s.mu.Unlock()
	s.lifeHook(func() { cl.add("closed") })
	s.cfg.hooks.Transition = func(r audit.Record) { cl.add("record %d", r.Seq) }
	s.out.push(note{rec: &audit.Record{Seq: 7}})
	s.deliver(true)
	got := cl.get()
	if len(got) != outboxLimit+2 || got[outboxLimit] != "closed" || got[outboxLimit+1] != "record 7" {
		t.Errorf("%d calls, ending %q; want %d hooks, then closed and record 7", len(got), got[max(0, len(got)-3):], outboxLimit)
	}
	if d := s.out.dropped.Load(); d != 2 {
		t.Errorf("%d dropped, want 2", d)
	}
	if strings.Join(logged, "|") != "session: the outbox was full (a hook or the audit sink blocked); log lines and hook calls were dropped" {
		t.Errorf("logged %q", logged)
	}
}

// TestLogNamesTheSessionOnlyWithAnID: the session's log lines carry
// session=ID when WithID set one, and no session attribute at all without
// one (not session=""), whichever path logs them: a line queued behind the
// records (a refresh), a panicking hook, a failing audit sink.
func TestLogNamesTheSessionOnlyWithAnID(t *testing.T) {
	for _, id := range []string{"", "api"} {
		synctest.Test(t, func(t *testing.T) {
			var buf bytes.Buffer
			var mu sync.Mutex
			logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
			hk := hooks.Hooks{Transition: func(r audit.Record) { panic("hook") }}
			opts := []Option{WithHooks(hk), WithLogger(logger), WithAudit(failingSink{})}
			if id != "" {
				opts = append(opts, WithID(id))
			}
			s, _ := newTestSession(t, newFakeEndpoint(time.Hour), opts...)
			s.Reject("tok-access-0")
			time.Sleep(time.Minute)
			s.Close()
			mu.Lock()
			defer mu.Unlock()
			lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			for _, want := range []string{"token refreshed", "panicked", "audit sink failed"} {
				if !strings.Contains(buf.String(), want) {
					t.Errorf("id %q: no line says %q:\n%s", id, want, buf.String())
				}
			}
			for _, l := range lines {
				named := strings.Contains(l, " session=")
				if strings.Contains(l, `session=""`) || named != (id != "") || id != "" && !strings.Contains(l, " session="+id+" ") {
					t.Errorf("id %q: line %.200s", id, l)
				}
			}
		})
	}
}

// failingSink is an audit sink whose every write fails.
type failingSink struct{}

func (failingSink) Write(audit.Record) error { return errors.New("sink down") }
