package diagrams

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/authfsm/authfsm/diagram"
)

// fakeDotSVG is what the fake dot of withFakeDot draws.
const fakeDotSVG = "<?xml version=\"1.0\"?>\n<svg>fake dot</svg>\n"

// withoutDot leaves PATH with no dot on it.
func withoutDot(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	if _, err := exec.LookPath("dot"); err == nil {
		t.Fatal("dot is still found")
	}
}

// withFakeDot puts a dot on PATH that draws fakeDotSVG.
func withFakeDot(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the fake dot is a shell script")
	}
	bin := t.TempDir()
	script := "#!/bin/sh\nwhile read -r _; do :; done\nprintf '%s' '" + fakeDotSVG + "'\n"
	if err := os.WriteFile(filepath.Join(bin, "dot"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
}

// copyCommitted copies the checked-in diagrams into a new directory.
func copyCommitted(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"session.mmd", "session.dot", SVGFile} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// stale is a picture drawn by dot from another DOT.
const stale = "<?xml version=\"1.0\"?>\n" + dotMarker + "0000 -->\n<svg>old</svg>\n"

func read(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestGenerate(t *testing.T) {
	committed, err := os.ReadFile(SVGFile)
	if err != nil {
		t.Fatal(err)
	}
	redrawn := fakeDotSVG[:strings.Index(fakeDotSVG, "<svg")] + dotMarker + SourceHash() + " -->\n<svg>fake dot</svg>\n"
	for _, tc := range []struct {
		name  string
		dot   func(*testing.T)
		svg   string // in the directory before; "" for none
		want  string // the picture after
		noDot bool   // Generate fails with ErrNoDot
	}{
		{"without dot, a fresh picture is kept", withoutDot, string(committed), string(committed), false},
		{"with dot, a fresh picture is kept too", withFakeDot, string(committed), string(committed), false},
		{"without dot, a stale picture fails", withoutDot, stale, stale, true},
		{"without dot, an own-layout picture fails", withoutDot, diagram.SVG(), diagram.SVG(), true},
		{"without dot, a missing picture fails", withoutDot, "", "", true},
		{"with dot, a stale picture is redrawn", withFakeDot, stale, redrawn, false},
		{"with dot, a missing picture is drawn", withFakeDot, "", redrawn, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyCommitted(t)
			file := filepath.Join(dir, SVGFile)
			if tc.svg == "" {
				os.Remove(file)
			} else if err := os.WriteFile(file, []byte(tc.svg), 0o644); err != nil {
				t.Fatal(err)
			}
			tc.dot(t)
			err := Generate(dir)
			if tc.noDot {
				var nd *NoDotError
				if !errors.Is(err, ErrNoDot) || !errors.As(err, &nd) || nd.File != "docs/diagrams/session.svg" {
					t.Fatalf("got %v, want a *NoDotError for docs/diagrams/session.svg", err)
				}
				for _, s := range []string{"diagrams: docs/diagrams/session.svg", "apt-get install graphviz", "go generate"} {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("the error %q does not say %q", err, s)
					}
				}
			} else if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(file)
			if string(got) != tc.want {
				t.Errorf("%s after Generate:\n%.300s\nwant:\n%.300s", SVGFile, got, tc.want)
			}
			for name, render := range Files {
				if read(t, filepath.Join(dir, name)) != render() {
					t.Errorf("%s was not written", name)
				}
			}
		})
	}
}

// TestGenerateWithoutDotLeavesTheTree runs gen.go as go generate does,
// with no dot on PATH: on the checked-in files it changes nothing and
// exits 0; after the DOT changed it exits 1 and says what to install.
func TestGenerateWithoutDotLeavesTheTree(t *testing.T) {
	if testing.Short() {
		t.Skip("builds gen.go")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	withoutDot(t)
	t.Setenv("CGO_ENABLED", "0") // no C compiler on this PATH either
	run := func(dir string) (string, error) {
		out, err := exec.Command(goCmd, "run", "gen.go", dir).CombinedOutput()
		return string(out), err
	}

	dir := copyCommitted(t)
	before := read(t, filepath.Join(dir, SVGFile))
	if out, err := run(dir); err != nil {
		t.Fatalf("gen.go without dot on the checked-in files: %v\n%s", err, out)
	}
	if read(t, filepath.Join(dir, SVGFile)) != before {
		t.Errorf("gen.go without dot rewrote the checked-in %s", SVGFile)
	}

	if err := os.WriteFile(filepath.Join(dir, SVGFile), []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(dir)
	if err == nil {
		t.Fatalf("gen.go without dot on a stale picture succeeded:\n%s", out)
	}
	if !strings.Contains(out, "docs/diagrams/session.svg") || !strings.Contains(out, "install Graphviz") {
		t.Errorf("gen.go's failure does not name the file and Graphviz:\n%s", out)
	}
	if read(t, filepath.Join(dir, SVGFile)) != stale {
		t.Errorf("gen.go without dot replaced the stale picture")
	}
}
