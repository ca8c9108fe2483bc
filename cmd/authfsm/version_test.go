package main

import (
	"strings"
	"testing"
)

// TestVersionAndHelp: --version prints the build's version; every command
// answers --help (or -h, anywhere before "--") with exit 0 and a one-line
// description on standard output.
func TestVersionAndHelp(t *testing.T) {
	code, out, _ := runCLI("--version")
	if code != exitOK || !strings.HasPrefix(out, "authfsm ") || !strings.Contains(out, "go1.") {
		t.Errorf("--version: exit %d, %q", code, out)
	}
	for _, args := range [][]string{
		{"sim", "--help"}, {"sim", seedFile, "-h"}, {"compare", "--help"}, {"fuzz", "-h"}, {"diagram", "--help"},
		{"audit", "--help"}, {"audit", "verify", "--help"}, {"audit", "repair", "--help"}, {"agent", "--help"}, {"token", "--help"},
		{"sim", "--h"}, {"agent", "--h"}, {"token", "-help=true"},
		{"--help"},
	} {
		code, out, errOut := runCLI(args...)
		if code != exitOK || out == "" || strings.Contains(errOut, "flag provided but not defined") {
			t.Errorf("authfsm %v: exit %d\nstdout %q\nstderr %q", args, code, out, errOut)
		}
	}
	if code, out, _ := runCLI("sim", "--help"); !strings.HasPrefix(out, "authfsm sim: run scenario files") || code != exitOK {
		t.Errorf("sim --help: %q", out)
	}
	// A command's help lists its flags, which a wrong flag's message
	// sends the user to.
	for cmd, flags := range map[string][]string{
		"sim":     {"-seed", "-policy", "-profile", "-json", "-trace", "-audit", "-svg", "-session", "-max-events"},
		"compare": {"-svg", "-max-events"},
		"conform": {"-json", "-trace"},
		"fuzz":    {"-runs", "-seed", "-out", "-json"},
		"diagram": {"-format"},
	} {
		_, out, _ := runCLI(cmd, "--help")
		for _, f := range flags {
			if !strings.Contains(out, "\n  "+f+" ") && !strings.Contains(out, "\n  "+f+"\n") {
				t.Errorf("%s --help lacks %s:\n%s", cmd, f, out)
			}
		}
	}
	if code, _, errOut := runCLI("sim", "--sesion", "1", seedFile); code != exitBadInput || !strings.Contains(errOut, "authfsm sim --help lists the flags") {
		t.Errorf("a wrong flag: exit %d, %s", code, errOut)
	}
	// -- ends the flags: a file named --help is a file.
	if code, _, errOut := runCLI("sim", "--", "--help"); code != exitBadInput || !strings.Contains(errOut, "--help") {
		t.Errorf("sim -- --help: exit %d, %s", code, errOut)
	}
}

// TestStdinScenario: "-" reads the scenario from standard input, bounded
// like a file.
func TestStdinScenario(t *testing.T) {
	old := stdin
	defer func() { stdin = old }()
	stdin = strings.NewReader("name: s\nduration: 2h\ntoken: {ttl: 1h}\nexpect: {final_state: valid}\n")
	if code, out, errOut := runCLI("sim", "-"); code != exitOK || !strings.HasPrefix(out, "PASS s ") {
		t.Errorf("sim -: exit %d\n%s%s", code, out, errOut)
	}
	stdin = strings.NewReader("name: s\nduration: 2h\ntoken: {tll: 1h}\n")
	if code, _, errOut := runCLI("sim", "-"); code != exitBadInput || !strings.Contains(errOut, "<stdin>:3: token.tll: unknown key") {
		t.Errorf("a bad scenario on stdin: exit %d, %s", code, errOut)
	}
	stdin = strings.NewReader(strings.Repeat("#", maxScenario+1))
	if code, _, errOut := runCLI("sim", "-"); code != exitBadInput || !strings.Contains(errOut, "larger than") {
		t.Errorf("a huge stdin: exit %d, %s", code, errOut)
	}
}
