// Package readme holds the tests that keep README.md and the pages under
// docs/ honest: their Go code compiles and their links resolve.
package readme

import (
	"bytes"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// imports are what a README snippet may use without importing it, each with
// an expression that uses the package, so none is reported unused.
var imports = map[string]string{
	"context":                            "context.Background",
	"errors":                             "errors.New",
	"fmt":                                "fmt.Sprint",
	"log":                                "log.Print",
	"log/slog":                           "slog.Default",
	"net/http":                           "http.StatusOK",
	"os":                                 "os.Getenv",
	"time":                               "time.Second",
	"golang.org/x/oauth2":                "oauth2.StaticTokenSource",
	"github.com/authfsm/authfsm/audit":   "audit.Fingerprint",
	"github.com/authfsm/authfsm/policy":  "policy.Default",
	"github.com/authfsm/authfsm/session": "session.New",
	"github.com/authfsm/authfsm/session/hooks": "hooks.Chain",
	"github.com/authfsm/authfsm/session/login": "login.Elsewhere",
	"github.com/authfsm/authfsm/session/oauth": "oauth.NewClient",
	"github.com/authfsm/authfsm/session/ops":   "ops.NewCensus",
	"github.com/authfsm/authfsm/states":        "states.Valid",
	"github.com/authfsm/authfsm/sim":           "sim.Parse",
	"github.com/benbjohnson/clock":             "clock.New",
}

// placeholders stand for what a snippet elides: the variables it uses
// without declaring them. They are package-level, so an unused one is no
// error, while a snippet's own unused variable still is.
const placeholders = `
var (
	ctx      = context.Background()
	secret   string
	client   *oauth.Client
	ccClient *oauth.Client
	logger   = slog.Default()
	s        *session.Session
)
`

// modules maps an import path prefix to the directory of the module that
// can build a snippet importing it.
var modules = map[string]string{
	"github.com/authfsm/authfsm/contrib/prometheus":     "contrib/prometheus",
	"github.com/authfsm/authfsm/contrib/otel":           "contrib/otel",
	"github.com/authfsm/authfsm/coordinator/rediscoord": "coordinator/rediscoord",
}

var (
	blockRE  = regexp.MustCompile("(?s)```go\n(.*?)```")
	importRE = regexp.MustCompile(`^import\s+(\w+\s+)?"([^"]+)"\s*$`)
)

// TestReadmeGoBlocksCompile builds every ```go block of README.md and of
// the pages under docs/ (docs/*.md), each on its own, with the elided parts
// as declared placeholders: a snippet that would not compile once a reader
// fills in its variables (an unused err, a wrong signature) fails here.
func TestReadmeGoBlocksCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds each snippet with the go command")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	pages, err := markdownPages(root)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, page := range pages {
		text, err := os.ReadFile(filepath.Join(root, page))
		if err != nil {
			t.Fatal(err)
		}
		blocks := blockRE.FindAllSubmatch(text, -1)
		total += len(blocks)
		if page == "README.md" && len(blocks) == 0 {
			t.Error("README.md has no Go block; the extraction is broken")
		}
		for i, b := range blocks {
			t.Run(fmt.Sprintf("%s/%d", page, i+1), func(t *testing.T) {
				buildSnippet(t, root, page, i+1, string(b[1]))
			})
		}
	}
	if total < 7 {
		t.Errorf("README.md and docs/*.md have %d Go blocks; the extraction is broken", total)
	}
}

// markdownPages returns README.md and the pages under docs/ (docs/*.md),
// relative to root.
func markdownPages(root string) ([]string, error) {
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		return nil, err
	}
	pages := []string{"README.md"}
	for _, d := range docs {
		rel, err := filepath.Rel(root, d)
		if err != nil {
			return nil, err
		}
		pages = append(pages, filepath.ToSlash(rel))
	}
	return pages, nil
}

// buildSnippet builds the Go block n of page, made a program, in the module
// that can build it.
func buildSnippet(t *testing.T, root, page string, n int, snippet string) {
	t.Helper()
	src, dir := program(snippet)
	moddir := filepath.Join(root, dir)
	tmp, err := os.MkdirTemp(moddir, ".readme-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if err := os.WriteFile(filepath.Join(tmp, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-o", os.DevNull, "./"+filepath.Base(tmp))
	cmd.Dir = moddir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%s's Go block %d does not compile:\n%s\n--- as built:\n%s", page, n, out, numbered(src))
	}
}

// program turns a snippet into a main package and names the module
// directory that builds it.
func program(snippet string) (string, string) {
	var body, extra []string
	dir := "."
	for _, line := range strings.Split(snippet, "\n") {
		if m := importRE.FindStringSubmatch(line); m != nil {
			extra = append(extra, strings.TrimSpace(m[1])+" "+fmt.Sprintf("%q", m[2]))
			for prefix, d := range modules {
				if strings.HasPrefix(m[2], prefix) {
					dir = d
				}
			}
			continue
		}
		body = append(body, line)
	}
	code := strings.Join(body, "\n")
	// Declarations stay at the top level; statements go into a function.
	// The function returns an error, so a snippet may "return err".
	if _, err := parser.ParseFile(token.NewFileSet(), "", "package p\n"+code, 0); err != nil {
		code = "func _() error {\n" + code + "\nreturn nil\n}"
	}
	var b bytes.Buffer
	// Import what the snippet or the placeholders name, and no more: a
	// nested module need not require every package of the root.
	var paths []string
	for path, use := range imports {
		name, _, _ := strings.Cut(use, ".")
		if strings.Contains(code, name+".") || strings.Contains(placeholders, name+".") {
			paths = append(paths, path)
		}
	}
	sort.Strings(paths)
	b.WriteString("package main\n\nimport (\n")
	for _, path := range paths {
		fmt.Fprintf(&b, "\t%q\n", path)
	}
	for _, e := range extra {
		fmt.Fprintf(&b, "\t%s\n", e)
	}
	b.WriteString(")\n\nvar (\n")
	for _, path := range paths {
		fmt.Fprintf(&b, "\t_ = %s\n", imports[path])
	}
	b.WriteString(")\n")
	b.WriteString(placeholders)
	b.WriteString("\nfunc main() {}\n\n")
	b.WriteString(code)
	b.WriteString("\n")
	return b.String(), dir
}

func numbered(src string) string {
	lines := strings.Split(src, "\n")
	for i := range lines {
		lines[i] = fmt.Sprintf("%3d  %s", i+1, lines[i])
	}
	return strings.Join(lines, "\n")
}
