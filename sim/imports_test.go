package sim

import (
	goparser "go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps the arrows of docs/DESIGN.md: the simulator drives the
// machine directly (never session/), runs no network I/O and reads no
// clock package; its virtual time is its own.
func TestImports(t *testing.T) {
	forbidden := []string{
		"github.com/authfsm/authfsm/session", "github.com/benbjohnson/clock",
		"net", "net/http", "golang.org/x/oauth2",
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		ast, err := goparser.ParseFile(fset, f, nil, goparser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbidden {
				if path == bad || strings.HasPrefix(path, bad+"/") {
					t.Errorf("%s imports %s", f, path)
				}
			}
		}
	}
}
