package agentkeys

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/authfsm/authfsm/agent"
)

func TestReferenceIsFresh(t *testing.T) {
	want, err := Markdown()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(File)
	if err != nil {
		t.Fatalf("%s: %v (run go generate ./docs/agentkeys)", File, err)
	}
	if string(got) != want {
		t.Errorf("%s is stale: run go generate ./docs/agentkeys", File)
	}
}

// keyPaths returns the dotted path of every key agent.Schema declares,
// NAME standing for a profile's name.
func keyPaths(t *testing.T) []string {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(agent.Schema(), &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(path string, s map[string]any)
	walk = func(path string, s map[string]any) {
		props, _ := s["properties"].(map[string]any)
		for k, v := range props {
			p, _ := v.(map[string]any)
			kp := k
			if path != "" {
				kp = path + "." + k
			}
			out = append(out, kp)
			walk(kp, p)
			if named, ok := p["additionalProperties"].(map[string]any); ok {
				walk(kp+".NAME", named)
			}
		}
	}
	walk("", doc)
	slices.Sort(out)
	return out
}

// TestReferenceHasEveryKey: each key of the schema has its row, with its
// default when the schema gives one, and nothing else has a row.
func TestReferenceHasEveryKey(t *testing.T) {
	md, err := Markdown()
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile("(?m)^\\| `([^`]+)` \\| [^|]+ \\| ([^|]+) \\|").FindAllStringSubmatch(md, -1)
	defaults := map[string]string{}
	var got []string
	for _, r := range rows {
		got = append(got, r[1])
		defaults[r[1]] = strings.TrimSpace(r[2])
	}
	slices.Sort(got)
	if want := keyPaths(t); !slices.Equal(got, want) {
		t.Errorf("rows for\n%v\nkeys\n%v", got, want)
	}
	for key, def := range map[string]string{
		"profiles": "required", "shutdown_timeout": "`30s`", "log_level": "`info`", "profiles.NAME.grant": "`refresh_token`",
		"profiles.NAME.store.redis.addr": "required", "profiles.NAME.store.redis.db": "`0`",
		"profiles.NAME.proxy.max_replay_body": "`1048576`", "profiles.NAME.proxy.max_idle_conns": "`100`", "profiles.NAME.session.refresh_ahead": "`5m`", "profiles.NAME.client_id": "—",
	} {
		if defaults[key] != def {
			t.Errorf("%s: default column %q, want %q", key, defaults[key], def)
		}
	}
}

// TestReferenceExamplesParse: the complete examples the reference shows are
// configurations the agent's parser accepts.
func TestReferenceExamplesParse(t *testing.T) {
	md, err := Markdown()
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(md, -1)
	if len(blocks) != 2 {
		t.Fatalf("%d examples, want 2", len(blocks))
	}
	for i, b := range blocks {
		if _, err := agent.Parse("/etc/authfsm/agent.yaml", []byte(b[1])); err != nil {
			t.Errorf("example %d: %v\n%s", i+1, err, b[1])
		}
	}
}
