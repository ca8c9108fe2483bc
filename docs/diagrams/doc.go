// Package diagrams holds the session machine's diagrams, generated from the
// table in package states by `go generate ./...`. Its test fails when the
// checked-in files differ from what the table generates.
//
// session.svg is drawn by Graphviz's dot from session.dot when dot is
// installed (Debian's graphviz package), so that its labels sit beside
// their edges; it records the SHA-256 of the DOT it was drawn from, and the
// test checks that against the current table without needing dot. Without
// dot, the generator falls back to states.SVG's own layout.
package diagrams

//go:generate go run gen.go

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os/exec"
	"strings"

	"github.com/authfsm/authfsm/states"
)

// Files maps each generated file name to the function that renders it.
var Files = map[string]func() string{
	"session.mmd": states.Mermaid,
	"session.dot": states.DOT,
}

// SVGFile is the picture of the machine.
const SVGFile = "session.svg"

// dotMarker opens the comment that names the DOT source of a picture drawn
// by dot.
const dotMarker = "<!-- drawn by Graphviz dot from session.dot sha256:"

// SourceHash returns the hash that a picture drawn from the current DOT
// records.
func SourceHash() string {
	sum := sha256.Sum256([]byte(states.DOT()))
	return hex.EncodeToString(sum[:])
}

// SVG draws the machine with dot when it is installed, and with
// states.SVG otherwise. It reports whether dot drew it.
func SVG() (string, bool) {
	path, err := exec.LookPath("dot")
	if err != nil {
		return states.SVG(), false
	}
	cmd := exec.Command(path, "-Tsvg")
	cmd.Stdin = strings.NewReader(states.DOT())
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return states.SVG(), false
	}
	svg := out.String()
	// The comment goes after the XML prolog and doctype, before <svg>.
	i := strings.Index(svg, "<svg")
	if i < 0 {
		return states.SVG(), false
	}
	return svg[:i] + dotMarker + SourceHash() + " -->\n" + svg[i:], true
}

// Fresh reports whether a picture was drawn from the current table: by dot
// from the current DOT, or as states.SVG draws it now.
func Fresh(svg string) bool {
	if i := strings.Index(svg, dotMarker); i >= 0 {
		return strings.HasPrefix(svg[i+len(dotMarker):], SourceHash()+" -->")
	}
	return svg == states.SVG()
}
