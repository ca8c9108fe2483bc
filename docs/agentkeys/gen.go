//go:build ignore

// gen writes docs/agent-keys.md from the agent's schema; run it with go
// generate.
package main

import (
	"log"
	"os"

	"github.com/authfsm/authfsm/docs/agentkeys"
)

func main() {
	md, err := agentkeys.Markdown()
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(agentkeys.File, []byte(md), 0o644); err != nil {
		log.Fatal(err)
	}
}
