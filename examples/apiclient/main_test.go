package main

import (
	"strings"
	"testing"
)

// TestRun runs the program: five calls succeed through two 502s and a 401.
func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(&out); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(out.String(), `{"items":[1,2,3]}`); got != 5 || !strings.Contains(out.String(), "session valid") {
		t.Fatalf("output:\n%s", out.String())
	}
	if strings.Contains(out.String(), "access-") {
		t.Error("the program printed a token")
	}
}
