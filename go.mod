module github.com/authfsm/authfsm

go 1.26

require github.com/looplab/fsm v1.0.3

require (
	github.com/google/go-cmp v0.7.0 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
)
