package main

import (
	"archive/zip"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

func TestBuildProxy(t *testing.T) {
	repo := fixture(t, "v0.1.0", func(f map[string]string) {
		f["vendor/example.com/v/v.go"] = "package v\n"
		f["coordinator/rediscoord/testdata/a.txt"] = "data\n"
	})
	p, err := Load(repo, "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	if err := BuildProxy(dir, p, at); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"github.com/authfsm/authfsm":                        {"CHANGELOG.md", "LICENSE", "go.mod", "root.go"},
		"github.com/authfsm/authfsm/coordinator/rediscoord": {"go.mod", "testdata/a.txt", "x.go"},
		"github.com/authfsm/authfsm/contrib/prometheus":     {"go.mod", "x.go"},
		"github.com/authfsm/authfsm/contrib/otel":           {"go.mod", "x.go"},
	}
	for _, m := range p.Modules {
		vdir := filepath.Join(dir, filepath.FromSlash(m.Path), "@v")
		list, err := os.ReadFile(filepath.Join(vdir, "list"))
		if err != nil || string(list) != "v0.1.0\n" {
			t.Errorf("%s: list %q, %v", m.Path, list, err)
		}
		var info struct {
			Version string
			Time    time.Time
		}
		data, err := os.ReadFile(filepath.Join(vdir, "v0.1.0.info"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &info); err != nil || info.Version != "v0.1.0" || !info.Time.Equal(at) {
			t.Errorf("%s: info %s, %v", m.Path, data, err)
		}
		mod, err := os.ReadFile(filepath.Join(vdir, "v0.1.0.mod"))
		if err != nil || string(mod) != string(m.GoMod) {
			t.Errorf("%s: .mod %q, want the go.mod %q", m.Path, mod, m.GoMod)
		}
		zipFile := filepath.Join(vdir, "v0.1.0.zip")
		if _, err := modzip.CheckZip(module.Version{Path: m.Path, Version: "v0.1.0"}, zipFile); err != nil {
			t.Errorf("%s: %v", m.Path, err)
		}
		z, err := zip.OpenReader(zipFile)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		prefix := m.Path + "@v0.1.0/"
		for _, f := range z.File {
			names = append(names, f.Name[len(prefix):])
		}
		z.Close()
		slices.Sort(names)
		if !slices.Equal(names, want[m.Path]) {
			t.Errorf("%s: the zip holds %q, want %q (no nested module, no vendor directory)", m.Path, names, want[m.Path])
		}
	}
}
