// Package archtest holds the test that keeps the package arrows of
// docs/DESIGN.md pointing down, in the manner of tailscale's tstest/deptest.
package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/authfsm/authfsm"

// forbidden lists, per package, imports it must not reach, directly or not.
var forbidden = map[string][]string{
	"policy": {"net", "net/http", "os/exec", "github.com/benbjohnson/clock", module + "/"},
	"states": {"net", "net/http", "os/exec", "github.com/benbjohnson/clock", module + "/audit", module + "/diagram", module + "/session", module + "/session/", module + "/sim"},
	"audit":  {"net/http", module + "/session", module + "/session/", module + "/sim"},
	// The renderer draws the table; it knows nothing of records or runs.
	"diagram": {"net", "net/http", "os/exec", module + "/audit", module + "/session", module + "/session/", module + "/sim"},
	"sim":     {"net/http", "github.com/benbjohnson/clock", module + "/session", module + "/session/", module + "/conform"},
	// The server model behind net/http: the simulator's, never the runtime's.
	"sim/simserver": {module + "/session", module + "/session/", module + "/conform", module + "/agent"},
	// The runner that compares the runtime with the simulator: a library,
	// below the CLI and beside the agent.
	"conform": {module + "/cmd/", module + "/agent"},
	"session": {module + "/sim", module + "/conform", module + "/agent", module + "/cmd/", module + "/session/oauth", module + "/session/login", module + "/session/ops"},
	// What a session tells its observers is data below the session: the
	// hooks know no session, so a metrics adapter needs no runtime.
	"session/hooks": {"net", "net/http", "github.com/benbjohnson/clock", module + "/session", module + "/session/oauth", module + "/session/login", module + "/session/ops", module + "/sim", module + "/agent"},
	// The token endpoint client imports the session (as x/oauth2's
	// clientcredentials imports oauth2); the session drives any Refresher
	// and knows nothing of it.
	"session/oauth": {module + "/sim", module + "/conform", module + "/agent", module + "/cmd/", module + "/session/login", module + "/session/ops"},
	// The logins drive the token endpoint client's grants and hand the
	// session its first pair.
	"session/login": {module + "/sim", module + "/conform", module + "/agent", module + "/cmd/", module + "/session/ops"},
	// The shared throttle is below the runtime, like its hooks.
	"session/throttle": {"net", "net/http", module + "/session", module + "/session/oauth", module + "/session/login", module + "/session/ops", module + "/sim", module + "/agent"},
	// Operating sessions (health, census, metrics) is above the runtime
	// and below the agent, which serves them.
	"session/ops": {module + "/sim", module + "/conform", module + "/agent", module + "/cmd/", module + "/session/oauth", module + "/session/login"},
	// The declared session is data below the runtime, the simulator and
	// the agent, which all read it; it runs nothing.
	"declare": {"net", "net/http", "github.com/benbjohnson/clock", module + "/audit", module + "/session", module + "/session/", module + "/sim", module + "/agent"},
	// The agent runs sessions; the simulator is a development tool it
	// must not link (its profiles are declared sessions, not scenarios).
	"agent": {module + "/sim", module + "/conform"},
	// The YAML walker knows no format of the project.
	"internal/yamlwalk": {module + "/"},
}

// direct lists imports a package's own files must not name (fmt reaches os,
// so os can only be banned at the first hop).
var direct = map[string][]string{
	"policy": {"os", "time/tzdata", "sync"},
	"states": {"os", "sync"},
}

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func TestImportArrows(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := map[string]bool{}
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(p.ImportPath, module+"/")
		seen[name] = true
		for _, dep := range p.Deps {
			for _, bad := range forbidden[name] {
				if dep == bad || strings.HasSuffix(bad, "/") && strings.HasPrefix(dep, bad) {
					t.Errorf("%s depends on %s", name, dep)
				}
			}
		}
		for _, imp := range p.Imports {
			for _, bad := range direct[name] {
				if imp == bad {
					t.Errorf("%s imports %s", name, imp)
				}
			}
		}
	}
	for _, name := range []string{"policy", "states", "diagram", "audit", "declare", "internal/yamlwalk", "sim", "sim/simserver", "session", "session/hooks", "session/login", "session/oauth", "session/ops", "session/throttle", "agent", "conform"} {
		if !seen[name] {
			t.Errorf("package %s not found by go list", name)
		}
	}
}
