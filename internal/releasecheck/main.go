// Command releasecheck does what a user of an authfsm release does, before
// the release is tagged: it builds a module proxy on disk that serves each
// published module of the working tree (the root, coordinator/rediscoord,
// contrib/prometheus, contrib/otel) at the version the nested modules
// require of the root, then, in a scratch module outside the repository
// whose GOPROXY finds the authfsm modules only there (third-party modules
// come from the module cache and the configured proxy), runs
// `go get MODULE@VERSION` for every one, builds and runs a program that
// uses each, builds every package, and `go install`s the command at that
// version.
//
// It fails when a nested module requires a version of the root that no
// tag names, when the published modules disagree on the version, when
// CHANGELOG.md has no section for it, when a module cannot be had or does
// not build from the proxy, or when one needs a newer Go than the root's
// go directive.
//
// Usage, from anywhere in the repository:
//
//	cd internal/releasecheck && go run . [-version v0.1.0] [-repo DIR] [-keep]
//
// -version, when given, must be the version the nested modules require;
// -repo is the repository root (by default the directory of the first
// go.mod above the working directory that is not this module's); -keep
// keeps the proxy and the scratch module and prints where. See
// RELEASING.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
)

// selfPath is this module's path, which -repo's default skips.
const selfPath = "github.com/authfsm/authfsm/internal/releasecheck"

func main() {
	version := flag.String("version", "", "the version being released (default: the one the nested modules require)")
	repo := flag.String("repo", "", "the repository root (default: found from the working directory)")
	keep := flag.Bool("keep", false, "keep the proxy and the scratch module, and print where")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *repo, *version, *keep); err != nil {
		fmt.Fprintln(os.Stderr, err)
		fmt.Fprintln(os.Stderr, "release check FAILED")
		os.Exit(1)
	}
}

func run(ctx context.Context, repo, version string, keep bool) error {
	if repo == "" {
		var err error
		if repo, err = findRepo(); err != nil {
			return err
		}
	}
	repo, err := filepath.Abs(repo)
	if err != nil {
		return fmt.Errorf("releasecheck: %w", err)
	}
	p, err := Load(repo, version)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "authfsm-release-")
	if err != nil {
		return fmt.Errorf("releasecheck: %w", err)
	}
	if keep {
		fmt.Println("releasecheck: keeping", work)
	} else {
		defer os.RemoveAll(work)
	}
	proxy := filepath.Join(work, "proxy")
	if err := BuildProxy(proxy, p, time.Now()); err != nil {
		return err
	}
	var tags []string
	for _, m := range p.Modules {
		tags = append(tags, m.Tag(p.Version))
	}
	fmt.Printf("releasecheck: %s from %s: %s\n", p.Version, repo, strings.Join(tags, ", "))
	u, err := NewUser(ctx, work, proxy, p.Modules[0].Path, os.Stdout)
	if err != nil {
		return err
	}
	if err := u.Check(ctx, p); err != nil {
		return err
	}
	fmt.Printf("release check passed: a user gets and builds %s of every published module on go %s; tag them in this order: %s\n",
		p.Version, p.Modules[0].Go, strings.Join(tags, ", "))
	return nil
}

// findRepo returns the directory of the first go.mod above the working
// directory that is not this module's.
func findRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("releasecheck: %w", err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && modfile.ModulePath(data) != selfPath {
			return dir, nil
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("releasecheck: %w", err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("releasecheck: no repository above the working directory: give -repo")
		}
		dir = parent
	}
}
