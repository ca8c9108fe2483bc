package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A documented command is a line of a fenced block of README.md or of a
// page under docs/ that starts with "$ authfsm " (or "$ go run
// ./cmd/authfsm "): the lines after it, up to the next "$ " line or the end
// of the block, are what it prints on standard output. A last line "..."
// quotes only the start of the output. The command may end in pipes, run
// as their tools would: "| jq ." (each JSON value indented by two
// spaces), "| head -n N", "| tail -n +N". Paths are relative to the
// repository's root.
type docCommand struct {
	file string
	line int
	cmd  string
	want string
	cut  bool // the quote ends with "...": only the output's start
}

// docCommands returns the documented commands of the Markdown file path
// (relative to the root), in order.
func docCommands(t *testing.T, root, path string) []docCommand {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	var out []docCommand
	var cur *docCommand
	inBlock := false
	end := func() {
		if cur != nil {
			if strings.HasSuffix(cur.want, "...\n") {
				last := strings.LastIndex(strings.TrimSuffix(cur.want, "...\n"), "\n") + 1
				if strings.TrimSpace(cur.want[last:]) == "..." {
					cur.want, cur.cut = cur.want[:last], true
				}
			}
			out = append(out, *cur)
			cur = nil
		}
	}
	for i, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(strings.TrimSpace(l), "```"):
			end()
			inBlock = !inBlock
		case !inBlock:
		case strings.HasPrefix(l, "$ "):
			end()
			cmd, ok := strings.CutPrefix(l, "$ authfsm ")
			if !ok {
				cmd, ok = strings.CutPrefix(l, "$ go run ./cmd/authfsm ")
			}
			if ok {
				cur = &docCommand{file: path, line: i + 1, cmd: cmd}
			}
		case cur != nil:
			cur.want += l + "\n"
		}
	}
	return out
}

// runDocumented runs cmd in dir as a shell would run the documented line:
// authfsm's arguments split at spaces, then each pipe.
func runDocumented(t *testing.T, dir, cmd string) string {
	t.Helper()
	parts := strings.Split(cmd, " | ")
	t.Chdir(dir)
	var stdout, stderr bytes.Buffer
	run(strings.Fields(parts[0]), &stdout, &stderr)
	out := stdout.String()
	for _, p := range parts[1:] {
		var err error
		if out, err = pipe(out, p); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
	}
	return out
}

// pipe returns what the command p prints given in: "jq ." (each JSON
// value indented by two spaces), "head -n N", "tail -n N" or "tail -n +N".
func pipe(in, p string) (string, error) {
	f := strings.Fields(p)
	switch {
	case len(f) == 2 && f[0] == "jq" && f[1] == ".":
		var b bytes.Buffer
		dec := json.NewDecoder(strings.NewReader(in))
		for dec.More() {
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return "", fmt.Errorf("| jq .: %w", err)
			}
			if err := json.Indent(&b, v, "", "  "); err != nil {
				return "", fmt.Errorf("| jq .: %w", err)
			}
			b.WriteByte('\n')
		}
		return b.String(), nil
	case len(f) == 3 && (f[0] == "head" || f[0] == "tail") && f[1] == "-n":
		n, err := strconv.Atoi(strings.TrimPrefix(f[2], "+"))
		if err != nil || n < 0 {
			return "", fmt.Errorf("%q: not a count", p)
		}
		lines := strings.SplitAfter(in, "\n")
		if lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		switch {
		case f[0] == "head":
			lines = lines[:min(n, len(lines))]
		case strings.HasPrefix(f[2], "+"):
			lines = lines[min(max(n-1, 0), len(lines)):]
		default:
			lines = lines[max(len(lines)-n, 0):]
		}
		return strings.Join(lines, ""), nil
	}
	return "", fmt.Errorf("the pipe %q is not one the docs may use (jq ., head -n N, tail -n [+]N)", p)
}

// TestDocumentedCommands runs every command README.md and the pages under
// docs/ quote with its output, and compares: the docs show what the tools
// print. It runs them in a scratch directory that holds the repository's
// top-level entries, so a command that writes a file writes it there.
func TestDocumentedCommands(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	pages := []string{"README.md"}
	err = filepath.WalkDir(filepath.Join(root, "docs"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".md") {
			rel, _ := filepath.Rel(root, path)
			pages = append(pages, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	scratch := t.TempDir()
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Symlink(filepath.Join(root, e.Name()), filepath.Join(scratch, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	scenarios := false
	for _, page := range pages {
		for _, c := range docCommands(t, root, page) {
			n++
			scenarios = scenarios || page == filepath.Join("docs", "SCENARIOS.md")
			t.Run(fmt.Sprintf("%s:%d", page, c.line), func(t *testing.T) {
				got := runDocumented(t, scratch, c.cmd)
				if c.cut && strings.HasPrefix(got, c.want) || got == c.want {
					return
				}
				t.Errorf("%s:%d: authfsm %s prints\n%s\nthe page quotes\n%s", c.file, c.line, c.cmd, got, c.want)
			})
		}
	}
	if n < 4 || !scenarios {
		t.Errorf("%d documented commands, docs/SCENARIOS.md's among them: %t", n, scenarios)
	}
}

// TestDocCommandsParse: the blocks the test reads are the quoted
// commands and their output, elision and pipes included.
func TestDocCommandsParse(t *testing.T) {
	dir := t.TempDir()
	page := "text\n```\n$ authfsm sim a.yaml\nPASS a\n  ...\n```\n\n```sh\n$ go run ./cmd/authfsm --version | head -n 1\nauthfsm x\n$ echo hi\nhi\n$ authfsm schema\n{}\n```\n$ authfsm outside a block\n"
	if err := os.WriteFile(filepath.Join(dir, "p.md"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	got := docCommands(t, dir, "p.md")
	want := []docCommand{
		{"p.md", 3, "sim a.yaml", "PASS a\n", true},
		{"p.md", 9, "--version | head -n 1", "authfsm x\n", false},
		{"p.md", 13, "schema", "{}\n", false},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("read %v\nwant %v", got, want)
	}
	for _, c := range []struct{ in, pipe, want string }{
		{"a\nb\nc\n", "head -n 2", "a\nb\n"},
		{"a\nb\nc\n", "tail -n +2", "b\nc\n"},
		{"a\nb\nc\n", "tail -n 1", "c\n"},
		{"a\n", "tail -n +3", ""},
		// jq's own output for this input.
		{`{"a":[1,{}],"b":"×","c":[]}` + "\n" + `{"d":null}` + "\n", "jq .", "{\n  \"a\": [\n    1,\n    {}\n  ],\n  \"b\": \"×\",\n  \"c\": []\n}\n{\n  \"d\": null\n}\n"},
	} {
		if got, err := pipe(c.in, c.pipe); err != nil || got != c.want {
			t.Errorf("%q | %s = %q, %v; want %q", c.in, c.pipe, got, err, c.want)
		}
	}
	if _, err := pipe("x\n", "sort"); err == nil {
		t.Error("| sort: no error")
	}
}
