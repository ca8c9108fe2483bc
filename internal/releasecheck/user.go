package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
)

// program is the user's program: it imports the packages a user of each
// published module imports and runs a little of each.
const program = `package main

import (
	"fmt"
	"os"

	"github.com/authfsm/authfsm/agent"
	authfsmotel "github.com/authfsm/authfsm/contrib/otel"
	authfsmprom "github.com/authfsm/authfsm/contrib/prometheus"
	rediscoord "github.com/authfsm/authfsm/coordinator/rediscoord"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/sim"
	"github.com/authfsm/authfsm/states"
)

// The Redis coordinator serves the session package it was released with.
var _ session.Coordinator = (*rediscoord.Coordinator)(nil)

const scenario = ` + "`" + `name: release-check
seed: 1
duration: 10m
token:
  ttl: 1h
workload:
  - {kind: requests, every: 10s}
expect:
  never_states: [revoked]
` + "`" + `

func main() {
	otel, err := authfsmotel.New(nil)
	if err != nil {
		fail(err)
	}
	_ = session.WithHooks(authfsmprom.Chain(authfsmprom.New().Hooks(), otel.Hooks()))
	if _, err := agent.ParseListen("127.0.0.1:0"); err != nil {
		fail(err)
	}
	sc, err := sim.Parse("release-check.yaml", []byte(scenario))
	if err != nil {
		fail(err)
	}
	if res := sim.Run(sc, sim.Options{}); !res.Passed {
		fail(fmt.Errorf("the scenario failed in state %s", res.FinalState))
	}
	fmt.Println("ok", states.Can(states.Valid, states.Expire))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
`

// A User is a scratch module outside the repository, with a module
// cache of its own, whose go commands find the authfsm modules only in a
// proxy on disk.
type User struct {
	// Dir is the scratch module; Bin is where go install puts commands.
	Dir, Bin string
	// Env is the environment of its go commands.
	Env []string
	// Log receives each command and its output.
	Log io.Writer
}

// NewUser makes a user in work (an empty directory) whose GOPROXY is the
// proxy in proxyDir, then the module cache's download directory (so the
// third-party modules already here are not fetched again), then the
// configured GOPROXY. The checksum database is not asked about modules
// under rootPath, which it cannot know before they are tagged.
func NewUser(ctx context.Context, work, proxyDir, rootPath string, log io.Writer) (*User, error) {
	upstream, err := goEnv(ctx, "GOPROXY")
	if err != nil {
		return nil, err
	}
	cache, err := goEnv(ctx, "GOMODCACHE")
	if err != nil {
		return nil, err
	}
	u := &User{Dir: filepath.Join(work, "user"), Bin: filepath.Join(work, "bin"), Log: log}
	for _, d := range []string{u.Dir, u.Bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("releasecheck: %w", err)
		}
	}
	proxies := []string{fileURL(proxyDir)}
	if cache != "" {
		proxies = append(proxies, fileURL(filepath.Join(cache, "cache", "download")))
	}
	if upstream != "" {
		proxies = append(proxies, upstream)
	}
	set := map[string]string{
		"GOPROXY":    strings.Join(proxies, ","),
		"GONOSUMDB":  rootPath,
		"GONOPROXY":  "",
		"GOPRIVATE":  "",
		"GOFLAGS":    "-mod=mod -modcacherw -trimpath",
		"GOWORK":     "off",
		"GOMODCACHE": filepath.Join(work, "modcache"),
		"GOBIN":      u.Bin,
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := set[k]; !ok {
			u.Env = append(u.Env, kv)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(set)) {
		u.Env = append(u.Env, k+"="+set[k])
	}
	return u, nil
}

// fileURL is the file:// URL of the directory dir.
func fileURL(dir string) string {
	p := filepath.ToSlash(dir)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive letter
	}
	return "file://" + p
}

// goEnv returns the go command's value of the variable key.
func goEnv(ctx context.Context, key string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", key).Output()
	if err != nil {
		return "", fmt.Errorf("releasecheck: go env %s: %w", key, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Run runs a command in dir with the user's environment and returns its
// standard output; a failure's error holds what it printed.
func (u *User) Run(ctx context.Context, dir string, name string, args ...string) (string, error) {
	fmt.Fprintf(u.Log, "$ %s %s\n", name, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = u.Env
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = io.MultiWriter(&stderr, u.Log)
	start := time.Now()
	err := cmd.Run()
	u.Log.Write(stdout.Bytes())
	fmt.Fprintf(u.Log, "  (%s)\n", time.Since(start).Round(time.Millisecond))
	if err != nil {
		return "", fmt.Errorf("releasecheck: %s %s: %w\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// Check does as a user of the release would: in a new module whose go
// directive is the root's, go get every published module at p.Version,
// build and run a program that uses each, build every package of every
// module, and go install the command at p.Version. It fails when a
// published module cannot be had, does not build, or needs a newer Go
// than the root's go directive says.
func (u *User) Check(ctx context.Context, p *Plan) error {
	root := p.Modules[0]
	gomod := fmt.Sprintf("module example.com/authfsm-user\n\ngo %s\n", root.Go)
	if err := os.WriteFile(filepath.Join(u.Dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		return fmt.Errorf("releasecheck: %w", err)
	}
	if err := os.WriteFile(filepath.Join(u.Dir, "main.go"), []byte(program), 0o644); err != nil {
		return fmt.Errorf("releasecheck: %w", err)
	}
	get := []string{"get"}
	for _, m := range p.Modules {
		get = append(get, m.Path+"@"+p.Version)
	}
	if _, err := u.Run(ctx, u.Dir, "go", get...); err != nil {
		return err
	}
	if err := u.checkGoLine(root); err != nil {
		return err
	}
	exe := filepath.Join(u.Bin, "authfsm-user")
	if _, err := u.Run(ctx, u.Dir, "go", "build", "-o", exe, "."); err != nil {
		return err
	}
	if out, err := u.Run(ctx, u.Dir, exe); err != nil {
		return err
	} else if out != "ok true\n" {
		return fmt.Errorf("releasecheck: the user's program printed %q, want \"ok true\"", out)
	}
	if _, err := u.Run(ctx, u.Dir, "go", "build", root.Path+"/..."); err != nil {
		return err
	}
	if err := u.checkGoLine(root); err != nil {
		return err
	}
	if _, err := u.Run(ctx, u.Dir, "go", "install", root.Path+"/cmd/authfsm@"+p.Version); err != nil {
		return err
	}
	out, err := u.Run(ctx, u.Dir, filepath.Join(u.Bin, "authfsm"), "--version")
	if err != nil {
		return err
	}
	if !strings.HasPrefix(out, "authfsm "+p.Version+" ") {
		return fmt.Errorf("releasecheck: the installed authfsm --version printed %q, want it to name %s", out, p.Version)
	}
	return nil
}

// checkGoLine fails when the user's go directive was raised above the
// root's: a published module then turns away the users of a Go release
// the root says it supports.
func (u *User) checkGoLine(root Module) error {
	data, err := os.ReadFile(filepath.Join(u.Dir, "go.mod"))
	if err != nil {
		return fmt.Errorf("releasecheck: %w", err)
	}
	f, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		return fmt.Errorf("releasecheck: %w", err)
	}
	if f.Go == nil || f.Go.Version != root.Go {
		got := "none"
		if f.Go != nil {
			got = f.Go.Version
		}
		return fmt.Errorf("releasecheck: the user's go directive became %s, not the root module's %s: a published module or one of its dependencies needs a newer Go\n%s", got, root.Go, data)
	}
	return nil
}
