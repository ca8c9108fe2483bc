//go:build ignore

// gen writes the diagrams of package diagrams (see diagrams.Generate); run
// it with go generate. `go run gen.go DIR` writes them into DIR instead.
package main

import (
	"log"
	"os"

	"github.com/authfsm/authfsm/docs/diagrams"
)

func main() {
	log.SetFlags(0)
	dir := "."
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	if err := diagrams.Generate(dir); err != nil {
		log.Fatal(err)
	}
}
