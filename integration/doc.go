// Package integration holds authfsm's end-to-end tests: a real OAuth2 server
// (package tokenserver, built on github.com/ory/fosite) behind a real nginx
// (package nginx), driven in real time with short token lifetimes, with
// golang.org/x/oauth2 run beside authfsm for comparison, and the authfsm
// command's agent driven as programs in other languages drive it (curl,
// `authfsm token`). See README.md.
//
// It is a separate Go module so that its test dependencies never reach the
// go.sum of programs that import authfsm.
package integration
