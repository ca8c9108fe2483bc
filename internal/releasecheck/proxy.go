package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// BuildProxy writes into dir a module proxy, in the layout GOPROXY=file://
// reads, that serves each module of p at p.Version: for a module path M,
// the files M/@v/list, M/@v/VERSION.info, .mod and .zip (M escaped as the
// proxy protocol says). The zip is made from the module's directory as
// the go command makes it from a tag: without nested modules, vendor
// directories or VCS directories. at is the time the .info files record.
func BuildProxy(dir string, p *Plan, at time.Time) error {
	for _, m := range p.Modules {
		if err := writeModule(dir, m, p.Version, at); err != nil {
			return fmt.Errorf("releasecheck: proxy for %s: %w", m.Path, err)
		}
	}
	return nil
}

func writeModule(dir string, m Module, version string, at time.Time) error {
	esc, err := module.EscapePath(m.Path)
	if err != nil {
		return err
	}
	escVersion, err := module.EscapeVersion(version)
	if err != nil {
		return err
	}
	vdir := filepath.Join(dir, filepath.FromSlash(esc), "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return err
	}
	base := filepath.Join(vdir, escVersion)
	if err := os.WriteFile(filepath.Join(vdir, "list"), []byte(version+"\n"), 0o644); err != nil {
		return err
	}
	info, err := json.Marshal(struct {
		Version string
		Time    time.Time
	}{version, at.UTC().Truncate(time.Second)})
	if err != nil {
		return err
	}
	if err := os.WriteFile(base+".info", info, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(base+".mod", m.GoMod, 0o644); err != nil {
		return err
	}
	f, err := os.Create(base + ".zip")
	if err != nil {
		return err
	}
	if err := modzip.CreateFromDir(f, module.Version{Path: m.Path, Version: version}, m.Dir); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
