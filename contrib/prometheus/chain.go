package authfsmprom

import "github.com/authfsm/authfsm/session"

// Chain returns hooks that call each of hs in turn, in the order given, for
// every event; a nil field is skipped (session.ChainHooks). Use it to
// install the metrics' hooks beside the application's own:
//
//	session.WithHooks(authfsmprom.Chain(m.Hooks(), myHooks))
func Chain(hs ...session.Hooks) session.Hooks { return session.ChainHooks(hs...) }
