package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/authfsm/authfsm/audit"
)

// runAudit implements "authfsm audit verify FILE": exit 0 when the
// hash-chained log verifies, 1 when a link is broken, 2 for bad usage or an
// unreadable file.
func runAudit(args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 || args[0] != "verify" {
		fmt.Fprintln(stderr, "usage: authfsm audit verify FILE")
		return exitBadInput
	}
	path := args[1]
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(stderr, "authfsm audit: %v\n", err)
		return exitBadInput
	}
	defer f.Close()
	head, err := audit.Verify(f)
	var ce *audit.ChainError
	switch {
	case errors.As(err, &ce):
		fmt.Fprintf(stderr, "%s:%d: %v\n", path, ce.Line, err)
		return exitFailed
	case err != nil:
		fmt.Fprintf(stderr, "authfsm audit: %s: %v\n", path, err)
		return exitBadInput
	}
	fmt.Fprintf(stdout, "%s: ok, %d records, head %s\n", path, head.Seq, head.Hash)
	return exitOK
}
