// Package diagrams holds the session machine's diagrams, generated from the
// table in package states by `go generate ./...`. Its test fails when the
// checked-in files differ from what the table generates.
package diagrams

//go:generate go run gen.go

import "github.com/authfsm/authfsm/states"

// Files maps each generated file name to the function that renders it.
var Files = map[string]func() string{
	"session.mmd": states.Mermaid,
	"session.dot": states.DOT,
	"session.svg": states.SVG,
}
