module github.com/authfsm/authfsm

go 1.26

require github.com/looplab/fsm v1.0.3

require github.com/google/go-cmp v0.7.0 // indirect
