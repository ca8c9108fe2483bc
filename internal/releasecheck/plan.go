package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// Published lists the directories of the modules a release tags, relative
// to the repository root, in the order they are tagged: the root first, as
// the others require it.
var Published = []string{".", "coordinator/rediscoord", "contrib/prometheus", "contrib/otel"}

// Unpublished lists the nested modules no release tags: the end-to-end
// tests and this check.
var Unpublished = []string{"integration", "internal/releasecheck"}

// A Module is one published module of the repository.
type Module struct {
	// Path is the module path, Dir its directory (absolute) and Rel that
	// directory relative to the repository root ("." for the root).
	Path, Dir, Rel string
	// GoMod is the content of its go.mod, which the proxy serves as is.
	GoMod []byte
	// Go is its go directive.
	Go string
}

// Tag is the git tag that releases m at version: the version for the root,
// the directory and the version for a nested module
// ("coordinator/rediscoord/v0.1.0"), as the go command looks them up.
func (m Module) Tag(version string) string {
	if m.Rel == "." {
		return version
	}
	return m.Rel + "/" + version
}

// A Plan is what a release publishes: its version and its modules, the
// root first.
type Plan struct {
	Version string
	Modules []Module
}

// A PlanError says why the repository is not ready for a release.
type PlanError struct {
	// File is the file at fault, relative to the repository root.
	File string
	// Reason says what is wrong and how to put it right.
	Reason string
}

// Error formats the problem as "releasecheck: FILE: REASON".
func (e *PlanError) Error() string { return "releasecheck: " + e.File + ": " + e.Reason }

// Load reads the plan of the repository at repo. The version is the one
// every published nested module requires of the root; version, when not
// empty, must be that one. Every nested module found must be listed in
// Published or Unpublished, a published one's path must be the root's
// path and its directory, it may replace only authfsm modules (users
// ignore a dependency's replace directives), and CHANGELOG.md must have a
// section for the version.
func Load(repo, version string) (*Plan, error) {
	root, err := readModule(repo, ".")
	if err != nil {
		return nil, err
	}
	found, err := nestedModules(repo)
	if err != nil {
		return nil, err
	}
	for _, rel := range found {
		if !slices.Contains(Published, rel) && !slices.Contains(Unpublished, rel) {
			return nil, &PlanError{File: rel + "/go.mod", Reason: "a nested module neither Published nor Unpublished: add it to one of the lists in internal/releasecheck/plan.go (and to RELEASING.md when published)"}
		}
	}
	p := &Plan{Modules: []Module{root}}
	for _, rel := range Published[1:] {
		if !slices.Contains(found, rel) {
			return nil, &PlanError{File: rel + "/go.mod", Reason: "a published module that is missing"}
		}
		m, err := readModule(repo, rel)
		if err != nil {
			return nil, err
		}
		if want := root.Path + "/" + rel; m.Path != want {
			return nil, &PlanError{File: rel + "/go.mod", Reason: fmt.Sprintf("module path %s, want %s (the go command finds a nested module by its directory)", m.Path, want)}
		}
		v, err := checkRequires(m, root.Path)
		if err != nil {
			return nil, err
		}
		if p.Version == "" {
			p.Version = v
		} else if v != p.Version {
			return nil, &PlanError{File: rel + "/go.mod", Reason: fmt.Sprintf("requires %s %s, but %s requires %s: the published modules must require the one version being released", root.Path, v, p.Modules[1].Rel+"/go.mod", p.Version)}
		}
		p.Modules = append(p.Modules, m)
	}
	if version != "" && version != p.Version {
		return nil, &PlanError{File: p.Modules[1].Rel + "/go.mod", Reason: fmt.Sprintf("requires %s %s, not the %s being released: see RELEASING.md", root.Path, p.Version, version)}
	}
	if err := checkChangelog(repo, p.Version); err != nil {
		return nil, err
	}
	return p, nil
}

// readModule reads the go.mod of the module in directory rel of repo.
func readModule(repo, rel string) (Module, error) {
	dir := filepath.Join(repo, filepath.FromSlash(rel))
	file := filepath.ToSlash(filepath.Join(rel, "go.mod"))
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return Module{}, fmt.Errorf("releasecheck: %w", err)
	}
	f, err := modfile.Parse(file, data, nil)
	if err != nil {
		return Module{}, fmt.Errorf("releasecheck: %w", err)
	}
	if f.Module == nil || f.Go == nil {
		return Module{}, &PlanError{File: file, Reason: "no module path or no go directive"}
	}
	return Module{Path: f.Module.Mod.Path, Dir: dir, Rel: rel, GoMod: data, Go: f.Go.Version}, nil
}

// checkRequires returns the version of the root (rootPath) that m
// requires, which must be a release: not a pseudo-version, which names no
// tag. m may replace only authfsm modules, for development.
func checkRequires(m Module, rootPath string) (string, error) {
	file := m.Rel + "/go.mod"
	f, err := modfile.Parse(file, m.GoMod, nil)
	if err != nil {
		return "", fmt.Errorf("releasecheck: %w", err)
	}
	for _, r := range f.Replace {
		if r.Old.Path != rootPath && !strings.HasPrefix(r.Old.Path, rootPath+"/") {
			return "", &PlanError{File: file, Reason: fmt.Sprintf("replaces %s: users of a published module ignore its replace directives, so it must build without them", r.Old.Path)}
		}
	}
	for _, r := range f.Require {
		if r.Mod.Path != rootPath {
			continue
		}
		v := r.Mod.Version
		if module.IsPseudoVersion(v) || semver.Canonical(v) != v {
			return "", &PlanError{File: file, Reason: fmt.Sprintf("requires %s %s, a version no tag names: require the version being released (see RELEASING.md)", rootPath, v)}
		}
		return v, nil
	}
	return "", &PlanError{File: file, Reason: "does not require " + rootPath}
}

// nestedModules returns the directories below repo, relative and
// slash-separated, that hold a go.mod.
func nestedModules(repo string) ([]string, error) {
	var found []string
	err := filepath.WalkDir(repo, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.IsDir() || d.Name() != "go.mod" {
			return nil
		}
		rel, err := filepath.Rel(repo, filepath.Dir(path))
		if err != nil {
			return err
		}
		if rel != "." {
			found = append(found, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("releasecheck: %w", err)
	}
	return found, nil
}

// checkChangelog checks that CHANGELOG.md has a section "## [X.Y.Z]" for
// version vX.Y.Z.
func checkChangelog(repo, version string) error {
	data, err := os.ReadFile(filepath.Join(repo, "CHANGELOG.md"))
	if err != nil {
		return fmt.Errorf("releasecheck: %w", err)
	}
	heading := regexp.MustCompile(`(?m)^## \[` + regexp.QuoteMeta(strings.TrimPrefix(version, "v")) + `\]`)
	if !heading.Match(data) {
		return &PlanError{File: "CHANGELOG.md", Reason: fmt.Sprintf("no section \"## [%s]\" for the version being released", strings.TrimPrefix(version, "v"))}
	}
	return nil
}
