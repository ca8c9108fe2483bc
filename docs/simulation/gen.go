//go:build ignore

// gen writes the files of package simulation; run it with go generate.
package main

import (
	"log"
	"os"

	"github.com/authfsm/authfsm/docs/simulation"
)

func main() {
	for name, render := range simulation.Files {
		s, err := render()
		if err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(s), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
