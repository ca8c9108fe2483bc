package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixture writes a repository laid out as authfsm's: a root module and
// the published and unpublished nested modules, each nested one requiring
// the root at version with a development replace. edit may change the
// files before they are written.
func fixture(t *testing.T, version string, edit func(files map[string]string)) string {
	t.Helper()
	files := map[string]string{
		"go.mod":       "module github.com/authfsm/authfsm\n\ngo 1.25.0\n",
		"root.go":      "package authfsm\n",
		"LICENSE":      "license\n",
		"CHANGELOG.md": "# Changelog\n\n## [Unreleased]\n\n## [0.1.0] - 2026-12-01\n",
	}
	for _, rel := range append(Published[1:], Unpublished...) {
		up := strings.Repeat("../", strings.Count(rel, "/")+1)
		files[rel+"/go.mod"] = "module github.com/authfsm/authfsm/" + rel + "\n\ngo 1.25.0\n\n" +
			"replace github.com/authfsm/authfsm => " + strings.TrimSuffix(up, "/") + "\n\n" +
			"require github.com/authfsm/authfsm " + version + "\n"
		files[rel+"/x.go"] = "package x\n"
	}
	if edit != nil {
		edit(files)
	}
	repo := t.TempDir()
	for name, data := range files {
		path := filepath.Join(repo, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return repo
}

func TestLoadTheRepository(t *testing.T) {
	p, err := Load("../..", "")
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, m := range p.Modules {
		tags = append(tags, m.Tag(p.Version))
	}
	want := "v0.1.0 coordinator/rediscoord/v0.1.0 contrib/prometheus/v0.1.0 contrib/otel/v0.1.0"
	if got := strings.Join(tags, " "); got != want {
		t.Errorf("tags %q, want %q", got, want)
	}
	if p.Modules[0].Path != "github.com/authfsm/authfsm" {
		t.Errorf("root %s", p.Modules[0].Path)
	}
}

func TestLoadRejects(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version string // given with -version
		edit    func(map[string]string)
		file    string // the PlanError's
		reason  string // part of it
	}{
		{
			name: "a pseudo-version no tag names",
			edit: func(f map[string]string) {
				f["contrib/otel/go.mod"] = strings.Replace(f["contrib/otel/go.mod"], "v0.1.0", "v0.0.0-00010101000000-000000000000", 1)
			},
			file: "contrib/otel/go.mod", reason: "a version no tag names",
		},
		{
			name: "versions that disagree",
			edit: func(f map[string]string) {
				f["contrib/prometheus/go.mod"] = strings.Replace(f["contrib/prometheus/go.mod"], "v0.1.0", "v0.2.0", 1)
			},
			file: "contrib/prometheus/go.mod", reason: "the one version being released",
		},
		{
			name: "a nested module in neither list", edit: func(f map[string]string) {
				f["contrib/zipkin/go.mod"] = "module github.com/authfsm/authfsm/contrib/zipkin\n\ngo 1.25.0\n"
			},
			file: "contrib/zipkin/go.mod", reason: "neither Published nor Unpublished",
		},
		{
			name: "a published module missing", edit: func(f map[string]string) {
				delete(f, "contrib/otel/go.mod")
			},
			file: "contrib/otel/go.mod", reason: "missing",
		},
		{
			name: "a replace users ignore", edit: func(f map[string]string) {
				f["coordinator/rediscoord/go.mod"] += "\nreplace github.com/redis/go-redis/v9 => ../fork\n"
			},
			file: "coordinator/rediscoord/go.mod", reason: "ignore its replace directives",
		},
		{
			name: "a module path that is not its directory", edit: func(f map[string]string) {
				f["contrib/otel/go.mod"] = strings.Replace(f["contrib/otel/go.mod"], "contrib/otel", "otel", 1)
			},
			file: "contrib/otel/go.mod", reason: "want github.com/authfsm/authfsm/contrib/otel",
		},
		{
			name: "no changelog section", edit: func(f map[string]string) {
				f["CHANGELOG.md"] = "# Changelog\n\n## [Unreleased]\n"
			},
			file: "CHANGELOG.md", reason: `no section "## [0.1.0]"`,
		},
		{
			name: "another version asked for", version: "v0.2.0",
			file: "coordinator/rediscoord/go.mod", reason: "not the v0.2.0 being released",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(fixture(t, "v0.1.0", tc.edit), tc.version)
			var pe *PlanError
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want a *PlanError", err)
			}
			if pe.File != tc.file || !strings.Contains(pe.Reason, tc.reason) {
				t.Errorf("got %v, want %s: …%s…", err, tc.file, tc.reason)
			}
			if !strings.HasPrefix(err.Error(), "releasecheck: ") {
				t.Errorf("error %q does not start with the package name", err)
			}
		})
	}
}

func TestLoadAcceptsAFixture(t *testing.T) {
	p, err := Load(fixture(t, "v0.1.0", nil), "v0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != "v0.1.0" || len(p.Modules) != len(Published) {
		t.Errorf("plan %+v", p)
	}
}
