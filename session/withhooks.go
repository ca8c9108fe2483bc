package session

import "github.com/authfsm/authfsm/session/hooks"

// WithHooks installs hooks; hooks.Chain installs several. See hooks.Hooks
// for when they are called.
func WithHooks(h hooks.Hooks) Option { return func(c *config) { c.hooks = h } }

// hook queues a call of a hook behind the records and log lines queued so
// far; the outbox delivers it outside the session lock, or drops it when
// full.
func (s *Session) hook(call func()) {
	s.out.push(note{call: call})
}

// lifeHook is hook for Opened and Closed, which the outbox never drops: a
// census that missed one would count the session forever.
func (s *Session) lifeHook(call func()) {
	s.out.push(note{call: call, keep: true})
}
