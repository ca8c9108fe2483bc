package authfsmotel

import "github.com/authfsm/authfsm/session/hooks"

// Chain returns hooks that call each of hs in turn, in the order given, for
// every event; a nil field is skipped (hooks.Chain). Use it to
// install the metrics' hooks beside the application's own:
//
//	session.WithHooks(authfsmotel.Chain(m.Hooks(), myHooks))
func Chain(hs ...hooks.Hooks) hooks.Hooks { return hooks.Chain(hs...) }
