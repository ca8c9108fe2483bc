package archtest

import (
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the testdata/api.txt of every public package")

// notPublic are the directories whose packages no user imports: the
// command, the generators of docs/, examples, the end-to-end tests and
// what internal/ holds.
var notPublic = []string{"cmd", "docs", "examples", "integration", "internal", "testdata"}

// TestPublicSurface keeps every public package's exported names — of the
// root module and of the published nested ones — to what its users need,
// in the manner of sim's guard before it: each package's
// testdata/api.txt lists them (functions, methods of exported types,
// types, constants, variables), and a new one must be added there on
// purpose. Run with -update to rewrite the files, and review the diff.
func TestPublicSurface(t *testing.T) {
	root, dirs := publicDirs(t)
	checked := 0
	for _, dir := range dirs {
		names, isLib := exported(t, dir)
		if !isLib {
			continue
		}
		checked++
		rel, _ := filepath.Rel(root, dir)
		t.Run(filepath.ToSlash(rel), func(t *testing.T) {
			got := strings.Join(names, "\n") + "\n"
			golden := filepath.Join(dir, "testdata", "api.txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (a public package lists its exported names there: go test ./internal/archtest -run TestPublicSurface -update)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("exported names changed (-%s +now); if on purpose, run go test ./internal/archtest -run TestPublicSurface -update:\n%s", rel+"/testdata/api.txt", diff)
			}
		})
	}
	if checked < 15 {
		t.Errorf("%d public packages found; the walk is broken", checked)
	}
}

// publicDirs returns the repository's root and every directory below it
// that may hold a public package (of the root module or a nested one).
func publicDirs(t *testing.T) (string, []string) {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		first, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
		if strings.HasPrefix(d.Name(), ".") && rel != "." || slices.Contains(notPublic, first) || d.Name() == "testdata" ||
			d.Name() == "internal" { // Go lets no user import what an internal directory holds
			return filepath.SkipDir
		}
		dirs = append(dirs, path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return root, dirs
}

// exported returns the exported names of the package in dir, sorted, and
// whether dir holds a package that is not a command.
func exported(t *testing.T, dir string) ([]string, bool) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	lib := false
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if af.Name.Name == "main" || ignored(af) {
			continue
		}
		lib = true
		for _, d := range af.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				if d.Recv == nil {
					names = append(names, "func "+d.Name.Name)
				} else if recv := receiverName(d.Recv.List[0].Type); ast.IsExported(recv) {
					names = append(names, "method "+recv+"."+d.Name.Name)
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() {
							names = append(names, "type "+s.Name.Name)
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() {
								names = append(names, d.Tok.String()+" "+n.Name)
							}
						}
					}
				}
			}
		}
	}
	slices.Sort(names)
	return names, lib
}

// ignored reports whether a file is built only on request (a generator's
// //go:build ignore).
func ignored(f *ast.File) bool {
	for _, g := range f.Comments {
		if g.Pos() > f.Package {
			break
		}
		for _, c := range g.List {
			if strings.HasPrefix(c.Text, "//go:build") && strings.Contains(c.Text, "ignore") {
				return true
			}
		}
	}
	return false
}

// receiverName is the type name of a method's receiver.
func receiverName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.StarExpr:
		return receiverName(e.X)
	case *ast.IndexExpr: // a generic type's method
		return receiverName(e.X)
	case *ast.IndexListExpr:
		return receiverName(e.X)
	case *ast.Ident:
		return e.Name
	}
	return ""
}
