module github.com/authfsm/authfsm

go 1.26.0

require (
	github.com/benbjohnson/clock v1.3.5
	github.com/google/go-cmp v0.7.0
	github.com/looplab/fsm v1.0.3
	golang.org/x/oauth2 v0.38.0
)
