module github.com/authfsm/authfsm/coordinator/rediscoord

go 1.25.0

replace github.com/authfsm/authfsm => ../..

require (
	github.com/alicebob/miniredis/v2 v2.40.0
	github.com/authfsm/authfsm v0.1.0
	github.com/redis/go-redis/v9 v9.22.0
)

require (
	github.com/benbjohnson/clock v1.3.5 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/looplab/fsm v1.0.3 // indirect
	github.com/yuin/gopher-lua v1.1.1 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
	golang.org/x/oauth2 v0.36.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)
