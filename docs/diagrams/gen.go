//go:build ignore

// gen writes the diagrams of package diagrams; run it with go generate.
package main

import (
	"log"
	"os"

	"github.com/authfsm/authfsm/docs/diagrams"
)

func main() {
	for name, render := range diagrams.Files {
		if err := os.WriteFile(name, []byte(render()), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	svg, byDot := diagrams.SVG()
	if !byDot {
		log.Print("dot (Debian's graphviz) is not installed: session.svg uses states.SVG's own layout")
	}
	if err := os.WriteFile(diagrams.SVGFile, []byte(svg), 0o644); err != nil {
		log.Fatal(err)
	}
}
