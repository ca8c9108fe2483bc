package session

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/session/internal/redact"
)

// outboxLimit is how many notes an outbox holds before it drops new log
// lines and hook calls (audit records, Opened and Closed are always kept).
const outboxLimit = 1024

// maxPanicText bounds the text of a recovered panic's value in the log.
const maxPanicText = 1000

// outbox delivers a session's audit records, hook calls and log lines
// outside the session lock, in the order the session produced them, one at
// a time. A sink or logger may therefore call back into the session
// (Status, Token) without deadlocking it, and a slow sink delays only the
// goroutine that happens to deliver, never the Token fast path.
//
// Notes are queued under the session lock, so their order is the order of
// the transitions. Whoever releases the session lock then delivers: the
// first goroutine to find the outbox idle drains it, including what other
// goroutines queue meanwhile; the others return at once. The refresh
// worker is the exception while it has a request or a store step to come:
// it then starts a goroutine that delivers (handOff), for a callback that
// blocks would hold the attempt up, and with it the whole session, which
// stays refreshing while its worker waits.
//
// That goroutine may be anyone's (a caller of Token under net/http's
// recover, the session's timer, the one a worker started, Shutdown), so a
// callback that panics is recovered, whoever it is: the panic is logged at
// error level with its stack and counted (Status.Panics), and delivery goes
// on with the next callback. Propagating it would crash the program or not
// depending on which goroutine happened to deliver. Should a callback end
// its goroutine (runtime.Goexit), the notes not yet delivered go back to
// the queue for the next deliverer.
//
// While a callback blocks, the queue grows; once it holds outboxLimit
// notes, new log lines and hook calls are dropped and counted
// (Status.Dropped), and a warning tells how many once the queue is empty
// again. Audit records, Opened and Closed are never dropped: an audit trail
// with gaps or a census that never sees a session close would lie, and
// their number is bounded by the session's transitions, which the retry
// policy paces.
type outbox struct {
	mu    sync.Mutex
	queue []note
	// draining is set while a goroutine delivers; idle is closed when it
	// is done.
	draining bool
	idle     chan struct{}
	// unreported counts the drops the log has not been told about yet.
	unreported      uint64
	panics, dropped atomic.Uint64
}

// note is one audit record (rec set), one hook call (call set) or one log
// line.
type note struct {
	rec  *audit.Record
	call func()
	// keep exempts a hook call from being dropped (Opened, Closed).
	keep  bool
	level slog.Level
	msg   string
	attrs []slog.Attr
}

func (o *outbox) push(n note) {
	o.mu.Lock()
	if len(o.queue) >= outboxLimit && n.rec == nil && !n.keep {
		o.unreported++
		o.dropped.Add(1)
	} else {
		o.queue = append(o.queue, n)
	}
	o.mu.Unlock()
}

// deliver drains the outbox unless another goroutine is draining it. With
// wait, it returns only once everything queued so far was delivered.
func (s *Session) deliver(wait bool) {
	_ = s.drain(context.Background(), wait)
}

// handOff is deliver(false) for the refresh worker: when the outbox is idle
// and holds notes, it starts a goroutine that drains it, and returns at
// once, so that no callback can hold the attempt up.
func (s *Session) handOff() {
	o := &s.out
	o.mu.Lock()
	if o.draining || len(o.queue) == 0 && o.unreported == 0 {
		o.mu.Unlock()
		return
	}
	o.draining, o.idle = true, make(chan struct{})
	o.mu.Unlock()
	go func() {
		o.mu.Lock()
		s.drainHeld()
	}()
}

// drain delivers what the outbox holds. When another goroutine is draining
// it, drain returns at once, or with wait waits for that drain to end and
// then delivers what is left, so that everything queued before the call
// was delivered when it returns. The wait ends with an error when ctx
// does.
func (s *Session) drain(ctx context.Context, wait bool) error {
	o := &s.out
	o.mu.Lock()
	for o.draining {
		if !wait {
			o.mu.Unlock()
			return nil
		}
		idle := o.idle
		o.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return fmt.Errorf("session: audit records, hook calls or log lines left undelivered (a hook, the audit sink or the logger blocks): %w", ctx.Err())
		}
		o.mu.Lock()
	}
	if len(o.queue) == 0 && o.unreported == 0 {
		o.mu.Unlock()
		return nil
	}
	o.draining, o.idle = true, make(chan struct{})
	s.drainHeld()
	return nil
}

// drainHeld delivers until the outbox is empty. It is called holding the
// outbox's lock with draining set, and returns with the outbox idle and
// its lock released, even when a callback ends the goroutine.
func (s *Session) drainHeld() {
	o := &s.out
	defer func() {
		o.draining = false
		close(o.idle)
		o.mu.Unlock()
	}()
	for {
		if len(o.queue) == 0 && o.unreported > 0 {
			o.queue = append(o.queue, note{level: slog.LevelWarn, msg: "session: the outbox was full (a hook or the audit sink blocked); log lines and hook calls were dropped",
				attrs: s.logAttrs(slog.Uint64("dropped", o.unreported))})
			o.unreported = 0
		}
		if len(o.queue) == 0 {
			return
		}
		batch := o.queue
		o.queue = nil
		s.sendBatch(batch)
		if o.queue == nil && cap(batch) <= outboxLimit {
			o.queue = batch[:0] // reuse the array
		}
	}
}

// sendBatch delivers batch in order with the outbox's lock released, and
// returns holding it again. When a callback ends the goroutine
// (runtime.Goexit, as t.FailNow does), the notes not yet delivered go back
// to the head of the queue and drain's deferred call marks the outbox idle.
func (s *Session) sendBatch(batch []note) {
	o := &s.out
	i := 0
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		if i < len(batch) {
			o.queue = append(slices.Clone(batch[i:]), o.queue...)
		}
	}()
	for i < len(batch) {
		n := batch[i]
		batch[i] = note{} // let the records go
		i++
		s.send(&n)
	}
}

// What a recovered panic came from, as its log line names it.
const (
	fromHook   = "a hook"
	fromSink   = "the audit sink"
	fromLogger = "the logger"
)

func (s *Session) send(n *note) {
	ctx := context.Background()
	switch {
	case n.call != nil:
		s.guard(fromHook, n.call)
		return
	case n.rec == nil:
		s.guard(fromLogger, func() { s.cfg.logger.LogAttrs(ctx, n.level, n.msg, n.attrs...) })
		return
	}
	if h := s.cfg.hooks.Transition; h != nil {
		s.guard(fromHook, func() { h(*n.rec) })
	}
	if s.cfg.sink == nil {
		return
	}
	var err error
	s.guard(fromSink, func() { err = s.cfg.sink.Write(*n.rec) })
	if err != nil {
		s.guard(fromLogger, func() {
			s.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "session: audit sink failed",
				s.logAttrs(slog.Uint64("seq", n.rec.Seq), slog.String("err", err.Error()))...)
		})
	}
}

// guard calls f, recovering a panic: it is counted and logged at error
// level as "session: <from> panicked" with the panic's value and stack.
func (s *Session) guard(from string, f func()) {
	defer func() {
		if v := recover(); v != nil {
			s.out.panics.Add(1)
			s.logPanic(from, v, debug.Stack())
		}
	}()
	f()
}

// logPanic logs a recovered panic. The value's text is cleaned of the
// session's access token and of control characters, and cut short; the
// stack holds function names, files and argument words, never a string's
// bytes. A logger that panics in turn (or a value whose String method
// does) cannot be reported: the panic is counted all the same.
func (s *Session) logPanic(from string, v any, stack []byte) {
	defer func() { _ = recover() }()
	var access string
	if p := s.snap.Load(); p != nil {
		access = p.tok.Access.Reveal()
	}
	text := redact.Text(redact.NewScrubber(access), fmt.Sprint(v), maxPanicText)
	s.cfg.logger.LogAttrs(context.Background(), slog.LevelError, "session: "+from+" panicked",
		s.logAttrs(slog.String("panic", text), slog.String("stack", string(stack)))...)
}

// logLocked queues a log line behind the records queued so far.
func (s *Session) logLocked(level slog.Level, msg string, attrs ...slog.Attr) {
	if !s.cfg.logger.Enabled(context.Background(), level) {
		return
	}
	s.out.push(note{level: level, msg: msg, attrs: s.logAttrs(attrs...)})
}

// logAttrs returns the attributes of one of the session's log lines:
// session=ID first when WithID gave one, none without (not session=""),
// then attrs.
func (s *Session) logAttrs(attrs ...slog.Attr) []slog.Attr {
	if s.cfg.id == "" {
		return attrs
	}
	return append([]slog.Attr{slog.String("session", s.cfg.id)}, attrs...)
}

// unlock releases the session lock and delivers what the locked section
// queued.
func (s *Session) unlock() {
	s.mu.Unlock()
	s.deliver(false)
}

// unlockHandOff is unlock for the refresh worker: it releases the session
// lock and hands the delivery to a goroutine of its own (handOff).
func (s *Session) unlockHandOff() {
	s.mu.Unlock()
	s.handOff()
}
