package authfsmprom

import (
	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/session"
)

// Chain returns hooks that call each of hs in turn, in the order given, for
// every event; a nil field is skipped. Use it to install the metrics'
// hooks beside the application's own:
//
//	session.WithHooks(authfsmprom.Chain(m.Hooks(), myHooks))
func Chain(hs ...session.Hooks) session.Hooks {
	var c session.Hooks
	for _, h := range hs {
		c.Opened = chain(c.Opened, h.Opened)
		c.Closed = chain(c.Closed, h.Closed)
		c.Transition = chain[audit.Record](c.Transition, h.Transition)
		c.RequestStart = chain(c.RequestStart, h.RequestStart)
		c.RequestDone = chain(c.RequestDone, h.RequestDone)
		c.StoreError = chain(c.StoreError, h.StoreError)
		c.Throttled = chain(c.Throttled, h.Throttled)
	}
	return c
}

// chain returns a function calling a then b, either of which may be nil.
func chain[T any](a, b func(T)) func(T) {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func(v T) { a(v); b(v) }
}
