package diagrams

import (
	"os"
	"strings"
	"testing"

	"github.com/authfsm/authfsm/diagram"
)

func TestDiagramsAreFresh(t *testing.T) {
	for name, render := range Files {
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("%s: %v (run go generate ./...)", name, err)
		}
		if string(got) != render() {
			t.Errorf("%s is stale: run go generate ./...", name)
		}
	}
	svg, err := os.ReadFile(SVGFile)
	if err != nil {
		t.Fatal(err)
	}
	if !Fresh(string(svg)) {
		t.Errorf("%s was not drawn from the current table: run go generate ./... (with graphviz installed)", SVGFile)
	}
}

// TestFreshCatchesAStalePicture: a picture drawn from another DOT, or one
// that records no DOT (diagram.SVG's own layout included), is stale.
func TestFreshCatchesAStalePicture(t *testing.T) {
	if Fresh(dotMarker + "0000 -->\n<svg/>") {
		t.Error("a picture drawn from another DOT passed")
	}
	if Fresh("<svg/>") {
		t.Error("a picture that is neither passed")
	}
	if Fresh(diagram.SVG()) {
		t.Error("diagram.SVG's own layout passed for a picture drawn by dot")
	}
	if !Fresh(dotMarker + SourceHash() + " -->\n<svg/>") {
		t.Error("a picture drawn from the current DOT failed")
	}
}

// TestMachinePageShowsTheMermaidDiagram: docs/machine.md shows the
// current table as Mermaid.
func TestMachinePageShowsTheMermaidDiagram(t *testing.T) {
	page, err := os.ReadFile("../machine.md")
	if err != nil {
		t.Fatal(err)
	}
	block := "```mermaid\n" + diagram.Mermaid() + "```"
	if !strings.Contains(string(page), block) {
		t.Errorf("docs/machine.md does not show the current Mermaid diagram; paste docs/diagrams/session.mmd into its mermaid block")
	}
}
