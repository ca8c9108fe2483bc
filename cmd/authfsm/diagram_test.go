package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/authfsm/authfsm/diagram"
)

func TestDiagram(t *testing.T) {
	tests := []struct {
		args       []string
		wantCode   int
		wantOut    string
		wantErrSub string
	}{
		{[]string{"diagram"}, exitOK, diagram.Mermaid(), ""},
		{[]string{"diagram", "--format", "dot"}, exitOK, diagram.DOT(), ""},
		{[]string{"diagram", "--format=svg"}, exitOK, diagram.SVG(), ""},
		{[]string{"diagram", "--format", "png"}, exitBadInput, "", `unknown format "png"`},
		{[]string{"diagram", "extra"}, exitBadInput, "", `unexpected argument "extra"`},
		{[]string{"frobnicate"}, exitBadInput, "", `unknown command "frobnicate"`},
		{nil, exitBadInput, "", "usage:"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(tt.args, &stdout, &stderr)
		if code != tt.wantCode || stdout.String() != tt.wantOut || !strings.Contains(stderr.String(), tt.wantErrSub) {
			t.Errorf("run(%q) = %d, stdout %d bytes, stderr %q; want %d, %d bytes, stderr containing %q",
				tt.args, code, stdout.Len(), stderr.String(), tt.wantCode, len(tt.wantOut), tt.wantErrSub)
		}
	}
}
