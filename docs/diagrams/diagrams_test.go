package diagrams

import (
	"os"
	"strings"
	"testing"

	"github.com/authfsm/authfsm/states"
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
}

func TestReadmeShowsTheMermaidDiagram(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	block := "```mermaid\n" + states.Mermaid() + "```"
	if !strings.Contains(string(readme), block) {
		t.Errorf("README.md does not show the current Mermaid diagram; paste docs/diagrams/session.mmd into its mermaid block")
	}
}
