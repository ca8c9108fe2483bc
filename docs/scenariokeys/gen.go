//go:build ignore

// gen writes docs/scenario-keys.md from the scenario schema; run it with go
// generate.
package main

import (
	"log"
	"os"

	"github.com/authfsm/authfsm/docs/scenariokeys"
)

func main() {
	md, err := scenariokeys.Markdown()
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(scenariokeys.File, []byte(md), 0o644); err != nil {
		log.Fatal(err)
	}
}
