// Package diagrams holds the session machine's diagrams, generated from the
// table in package states by `go generate ./...`. Its test fails when the
// checked-in files differ from what the table generates.
//
// session.svg is drawn by Graphviz's dot from session.dot (Debian's
// graphviz package), so that its labels sit beside their edges; it
// records the SHA-256 of the DOT it was drawn from, and the test checks
// that against the current table without needing dot. Generation never
// degrades it: a picture that records the current DOT's hash is kept as
// it is, with or without dot (so another Graphviz version does not
// rewrite it either), and one drawn from another DOT is redrawn by dot;
// without dot, Generate fails with a *NoDotError that names the file and
// how to install Graphviz, rather than falling back to diagram.SVG's own
// layout.
package diagrams

//go:generate go run gen.go

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/authfsm/authfsm/diagram"
)

// Files maps each generated file name to the function that renders it.
var Files = map[string]func() string{
	"session.mmd": diagram.Mermaid,
	"session.dot": diagram.DOT,
}

// SVGFile is the picture of the machine.
const SVGFile = "session.svg"

// svgPath is SVGFile from the repository root, as errors name it.
const svgPath = "docs/diagrams/" + SVGFile

// dotMarker opens the comment that names the DOT source of a picture drawn
// by dot.
const dotMarker = "<!-- drawn by Graphviz dot from session.dot sha256:"

// SourceHash returns the hash that a picture drawn from the current DOT
// records.
func SourceHash() string { return hashOf(diagram.DOT()) }

// ErrNoDot is what a *NoDotError matches with errors.Is: dot, Graphviz's
// layout program, is not installed.
var ErrNoDot = errors.New("diagrams: dot (Graphviz) is not installed")

// A NoDotError reports that session.svg must be redrawn, as the DOT
// changed since it was drawn, and dot is not installed to draw it.
type NoDotError struct {
	// File is the picture, from the repository root.
	File string
}

// Error names the file and how to install Graphviz.
func (e *NoDotError) Error() string {
	return fmt.Sprintf("diagrams: %s was drawn from another session.dot and must be redrawn, "+
		"but dot (Graphviz) is not installed: install Graphviz (Debian, Ubuntu: apt-get install graphviz; "+
		"macOS: brew install graphviz) and run go generate ./docs/diagrams again", e.File)
}

// Is reports whether target is ErrNoDot.
func (e *NoDotError) Is(target error) bool { return target == ErrNoDot }

// Draw draws the machine with dot (found on PATH) and records the DOT's
// hash in the picture. Without dot it returns a *NoDotError.
func Draw() (string, error) {
	path, err := exec.LookPath("dot")
	if err != nil {
		return "", &NoDotError{File: svgPath}
	}
	src := diagram.DOT()
	cmd := exec.Command(path, "-Tsvg")
	cmd.Stdin = strings.NewReader(src)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("diagrams: dot -Tsvg: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	svg := out.String()
	// The comment goes after the XML prolog and doctype, before <svg>.
	i := strings.Index(svg, "<svg")
	if i < 0 {
		return "", fmt.Errorf("diagrams: dot -Tsvg wrote no <svg> element")
	}
	return svg[:i] + dotMarker + hashOf(src) + " -->\n" + svg[i:], nil
}

// Fresh reports whether a picture was drawn by dot from the current DOT.
func Fresh(svg string) bool {
	i := strings.Index(svg, dotMarker)
	return i >= 0 && strings.HasPrefix(svg[i+len(dotMarker):], SourceHash()+" -->")
}

// Generate writes the diagrams into dir: the files of Files always, and
// SVGFile only when the one in dir is missing or not Fresh, drawn by
// Draw. A fresh picture is left untouched, so generation leaves the tree
// as it was whether dot is installed or not, whatever its version. When
// the picture must be redrawn and dot is missing, the other files are
// still written and the error is a *NoDotError (errors.Is ErrNoDot).
func Generate(dir string) error {
	for name, render := range Files {
		if err := writeIfChanged(filepath.Join(dir, name), render()); err != nil {
			return err
		}
	}
	file := filepath.Join(dir, SVGFile)
	old, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("diagrams: %w", err)
	}
	if err == nil && Fresh(string(old)) {
		return nil
	}
	svg, err := Draw()
	if err != nil {
		return err
	}
	return writeIfChanged(file, svg)
}

// writeIfChanged writes data to file unless it already holds it, so that
// a file's time changes only with its content.
func writeIfChanged(file, data string) error {
	if old, err := os.ReadFile(file); err == nil && string(old) == data {
		return nil
	}
	if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
		return fmt.Errorf("diagrams: %w", err)
	}
	return nil
}

// hashOf returns the hex SHA-256 of a DOT source.
func hashOf(dot string) string {
	sum := sha256.Sum256([]byte(dot))
	return hex.EncodeToString(sum[:])
}
