package session

import (
	"context"
	"log/slog"
	"sync"

	"github.com/authfsm/authfsm/audit"
)

// outbox delivers a session's audit records and log lines outside the
// session lock, in the order the session produced them, one at a time,
// without losing any. A sink or logger may therefore call back into the
// session (Status, Token) without deadlocking it, and a slow sink delays
// only the goroutine that happens to deliver, never the Token fast path.
//
// Notes are queued under the session lock, so their order is the order of
// the transitions. Whoever releases the session lock then delivers: the
// first goroutine to find the outbox idle drains it, including what other
// goroutines queue meanwhile; the others return at once.
type outbox struct {
	mu       sync.Mutex
	idle     *sync.Cond // signalled when a drain ends
	queue    []note
	draining bool
}

// note is one audit record (rec set), one hook call (call set) or one log
// line.
type note struct {
	rec   *audit.Record
	call  func()
	level slog.Level
	msg   string
	attrs []slog.Attr
}

func (o *outbox) push(n note) {
	o.mu.Lock()
	o.queue = append(o.queue, n)
	o.mu.Unlock()
}

// deliver drains the outbox unless another goroutine is draining it. With
// wait, it returns only once everything queued so far was delivered.
func (s *Session) deliver(wait bool) {
	o := &s.out
	o.mu.Lock()
	if o.draining {
		for wait && o.draining {
			o.idle.Wait()
		}
		o.mu.Unlock()
		return
	}
	o.draining = true
	for len(o.queue) > 0 {
		batch := o.queue
		o.queue = nil
		o.mu.Unlock()
		for i := range batch {
			s.send(&batch[i])
			batch[i] = note{} // let the records go
		}
		o.mu.Lock()
		if o.queue == nil {
			o.queue = batch[:0] // reuse the array
		}
	}
	o.draining = false
	o.idle.Broadcast()
	o.mu.Unlock()
}

func (s *Session) send(n *note) {
	ctx := context.Background()
	switch {
	case n.call != nil:
		n.call()
		return
	case n.rec == nil:
		s.cfg.logger.LogAttrs(ctx, n.level, n.msg, n.attrs...)
		return
	}
	if h := s.cfg.hooks.Transition; h != nil {
		h(*n.rec)
	}
	if s.cfg.sink == nil {
		return
	}
	if err := s.cfg.sink.Write(*n.rec); err != nil {
		s.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "session: audit sink failed",
			slog.String("session", s.cfg.id), slog.Uint64("seq", n.rec.Seq), slog.String("err", err.Error()))
	}
}

// logLocked queues a log line behind the records queued so far.
func (s *Session) logLocked(level slog.Level, msg string, attrs ...slog.Attr) {
	if !s.cfg.logger.Enabled(context.Background(), level) {
		return
	}
	s.out.push(note{level: level, msg: msg, attrs: append([]slog.Attr{slog.String("session", s.cfg.id)}, attrs...)})
}

// unlock releases the session lock and delivers what the locked section
// queued.
func (s *Session) unlock() {
	s.mu.Unlock()
	s.deliver(false)
}
