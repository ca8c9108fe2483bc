package main

import (
	"fmt"
	"io"

	"github.com/authfsm/authfsm/diagram"
)

func runDiagram(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("diagram", stderr)
	format := fs.String("format", "mermaid", "output format: mermaid, dot or svg")
	if err := fs.Parse(args); err != nil {
		return badFlag(stdout, stderr, fs, err, "")
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "authfsm diagram: unexpected argument %q\n", fs.Arg(0))
		return exitBadInput
	}
	render := map[string]func() string{"mermaid": diagram.Mermaid, "dot": diagram.DOT, "svg": diagram.SVG}[*format]
	if render == nil {
		fmt.Fprintf(stderr, "authfsm diagram: unknown format %q (want mermaid, dot or svg)\n", *format)
		return exitBadInput
	}
	fmt.Fprint(stdout, render())
	return exitOK
}
