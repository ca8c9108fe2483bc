package sim_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/authfsm/authfsm/sim"
)

// The schema is checked by santhosh-tekuri/jsonschema, a validator that
// passes the JSON-Schema-Test-Suite for draft 2020-12, so that what these
// tests find is what an editor's validator finds, not what a validator of
// our own happens to implement.

// schemaID is the schema's $id, under which the tests compile it.
const schemaID = "https://raw.githubusercontent.com/authfsm/authfsm/main/sim/schema.json"

var compiled = sync.OnceValues(func() (*jsonschema.Compiler, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(sim.Schema()))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(schemaID, doc); err != nil {
		return nil, err
	}
	return c, nil
})

var compiling sync.Mutex

// compileAt compiles the schema at ptr, a JSON pointer into the schema
// ("" for the whole).
func compileAt(t testing.TB, ptr string) *jsonschema.Schema {
	t.Helper()
	c, err := compiled()
	if err != nil {
		t.Fatalf("schema: %v", err)
	}
	compiling.Lock() // a Compiler is not safe for concurrent use
	defer compiling.Unlock()
	s, err := c.Compile(schemaID + "#" + ptr)
	if err != nil {
		t.Fatalf("schema at %q: %v", ptr, err)
	}
	return s
}

// schemaDoc returns the schema decoded as plain Go values (numbers as
// json.Number), for walking.
func schemaDoc(t testing.TB) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(sim.Schema()))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("schema.json: %v", err)
	}
	return doc
}

// yamlValue reads a YAML document into the JSON data model a schema
// validator sees, as an editor's YAML reader does: mappings become objects,
// sequences arrays, and each scalar takes its YAML type (7 a number, 90s
// and "7" strings, true a boolean, an empty value null).
func yamlValue(data []byte) (any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, errors.New("empty YAML document")
	}
	return nodeValue(doc.Content[0], 0)
}

func nodeValue(n *yaml.Node, depth int) (any, error) {
	if depth > 100 {
		return nil, errors.New("YAML nested too deep")
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, fmt.Errorf("line %d: alias without an anchor", n.Line)
		}
		return nodeValue(n.Alias, depth+1)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a key that is not a scalar", k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: key %q given twice", k.Line, k.Value)
			}
			v, err := nodeValue(n.Content[i+1], depth+1)
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			v, err := nodeValue(item, depth+1)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			err := n.Decode(&b)
			return b, err
		case "!!int", "!!float":
			var v any
			if err := n.Decode(&v); err != nil {
				return nil, err
			}
			switch x := v.(type) {
			case int:
				return json.Number(strconv.Itoa(x)), nil
			case int64:
				return json.Number(strconv.FormatInt(x, 10)), nil
			case uint64:
				return json.Number(strconv.FormatUint(x, 10)), nil
			case float64:
				if math.IsInf(x, 0) || math.IsNaN(x) {
					return n.Value, nil // JSON has no such number
				}
				return json.Number(strconv.FormatFloat(x, 'g', -1, 64)), nil
			}
			return nil, fmt.Errorf("line %d: number %q decoded as %T", n.Line, n.Value, v)
		}
		return n.Value, nil
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}

// validate reports whether the YAML (or JSON) document data is valid
// against the schema.
func validate(t testing.TB, data []byte) error {
	t.Helper()
	v, err := yamlValue(data)
	if err != nil {
		return err
	}
	return compileAt(t, "").Validate(v)
}

// document renders v, a JSON data-model value, as a scenario file: JSON,
// which is YAML, so that Parse and the validator read the same text.
func document(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// repoRoot is the root of the module, the parent of this package.
const repoRoot = ".."

// scenarioSources returns every scenario in the repository: the YAML
// files and the ```yaml blocks of Markdown files whose top level has a
// duration key (an agent's profile file has none). Markdown blocks are
// documentation: they must validate, but may show a value the parser
// rejects for reasons a schema cannot see.
func scenarioSources(t *testing.T) (files, blocks map[string][]byte) {
	t.Helper()
	files, blocks = map[string][]byte{}, map[string][]byte{}
	block := regexp.MustCompile("(?s)```yaml\n(.*?)```")
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" || d.Name() == "node_modules" {
				return filepath.SkipDir
			}
			return nil
		}
		ext := filepath.Ext(path)
		if ext != ".yaml" && ext != ".yml" && ext != ".md" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if ext != ".md" {
			if isScenario(data) {
				files[path] = data
			}
			return nil
		}
		for i, m := range block.FindAllSubmatch(data, -1) {
			if isScenario(m[1]) {
				blocks[fmt.Sprintf("%s block %d", path, i+1)] = m[1]
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, blocks
}

func isScenario(data []byte) bool {
	v, err := yamlValue(data)
	if err != nil {
		return false
	}
	m, ok := v.(map[string]any)
	_, has := m["duration"]
	return ok && has
}

// TestSchemaValidatesEveryScenario: every scenario file of the repository
// validates, and so does every scenario shown in its Markdown.
func TestSchemaValidatesEveryScenario(t *testing.T) {
	files, blocks := scenarioSources(t)
	library, err := filepath.Glob(filepath.Join(repoRoot, "testdata", "scenarios", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range library {
		if _, ok := files[f]; !ok {
			t.Errorf("%s was not recognised as a scenario", f)
		}
	}
	if len(library) < 29 || len(files) <= len(library) || len(blocks) < 2 {
		t.Fatalf("found %d scenario files (%d in the library) and %d Markdown scenarios: the walk is broken", len(files), len(library), len(blocks))
	}
	for _, src := range []map[string][]byte{files, blocks} {
		for _, name := range sortedKeys(src) {
			if err := validate(t, src[name]); err != nil {
				t.Errorf("%s does not validate:\n%v", name, err)
			}
		}
	}
	for _, name := range sortedKeys(files) {
		if _, err := sim.Parse(name, files[name]); err != nil {
			t.Errorf("%s validates, but %v", name, err)
		}
	}
}

// TestSchemaValidatesGeneratedScenarios: the fuzzer's scenarios, written
// out as authfsm fuzz --out writes them, validate.
func TestSchemaValidatesGeneratedScenarios(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		data := sim.MarshalYAML(sim.Generate(seed))
		if _, err := sim.Parse("gen.yaml", data); err != nil {
			t.Fatalf("seed %d: the generated scenario does not parse: %v", seed, err)
		}
		if err := validate(t, data); err != nil {
			t.Errorf("seed %d does not validate:\n%v\n%s", seed, err, data)
		}
	}
}

// TestSchemaRejects: unknown keys at every depth, values outside an enum,
// wrong types and the per-kind rules fail validation, and the parser
// rejects the same files.
func TestSchemaRejects(t *testing.T) {
	const head = "name: x\nduration: 3h\n"
	const base = head + "token: {ttl: 1h}\n"
	for _, c := range []struct {
		name, src string
		want      string // in the validator's message
	}{
		{"unknown top-level key", base + "sesion: {refresh_ahead: 1m}\n", "'sesion'"},
		{"unknown key in token", head + "token: {ttl: 1h, tll: 1h}\n", "'tll'"},
		{"unknown key in session.policy", base + "session: {policy: {kinds: constant}}\n", "'kinds'"},
		{"unknown key in session.throttle", base + "session: {throttle: {kind: adaptive, kk: 2}}\n", "'kk'"},
		{"unknown key in share", base + "fleet: {sessions: 2, families: 1}\nshare: {kind: store, leese: 30s}\n", "'leese'"},
		{"unknown key in a fault", base + "server: {faults: [{from: 1h, to: 2h, kind: hang, stauts: 1}]}\n", "'stauts'"},
		{"unknown key in a workload", base + "workload: [{kind: requests, evry: 1m}]\n", "'evry'"},
		{"unknown key in fleet", base + "fleet: {session: 3}\n", "'session'"},
		{"unknown key in expect", base + "expect: {final_sate: valid}\n", "'final_sate'"},
		{"missing name", "duration: 3h\ntoken: {ttl: 1h}\n", "'name'"},
		{"missing token.ttl", head + "token: {rotate: true}\n", "'ttl'"},
		{"bad name", "name: a b\nduration: 3h\ntoken: {ttl: 1h}\n", "does not match pattern"},
		{"bad fault kind", base + "server: {faults: [{from: 1h, to: 2h, kind: crash}]}\n", "value must be one of"},
		{"bad policy kind", base + "session: {policy: {kind: linear}}\n", "value must be one of"},
		{"bad jitter", base + "session: {policy: {jitter: half}}\n", "value must be one of"},
		{"bad throttle kind", base + "session: {throttle: {kind: aimd}}\n", "value must be one of"},
		{"bad share kind", base + "fleet: {sessions: 2, families: 1}\nshare: {kind: redis}\n", "value must be one of"},
		{"bad workload kind", base + "workload: [{kind: stream, every: 1m}]\n", "value must be one of"},
		{"bad final state", base + "expect: {final_state: ok}\n", "value must be one of"},
		{"mixed is no state to avoid", base + "expect: {never_states: [mixed]}\n", "value must be one of"},
		{"a duration without unit", head + "token: {ttl: 60}\n", "ttl"},
		{"a duration with a space", "name: x\nduration: 1 h\ntoken: {ttl: 1h}\n", "duration"},
		{"a negative duration", head + "token: {ttl: 1h, refresh_ttl: -1h}\n", "refresh_ttl"},
		{"a zero ttl", head + "token: {ttl: 0s}\n", "ttl"},
		{"a string for a boolean", head + "token: {ttl: 1h, rotate: yes}\n", "want boolean"},
		{"a string for an integer", base + "fleet: {sessions: \"4\"}\n", "want integer"},
		{"a negative seed", base + "seed: -1\n", "minimum"},
		{"a status above 599", base + "server: {faults: [{from: 1h, to: 2h, kind: status, status: 600}]}\n", "maximum"},
		{"a success status", base + "server: {faults: [{from: 1h, to: 2h, kind: status, status: 200}]}\n", "minimum"},
		{"a status fault without status", base + "server: {faults: [{from: 1h, to: 2h, kind: status}]}\n", "'status'"},
		{"a description with status 502 and no error", base + "server: {faults: [{from: 1h, to: 2h, kind: status, status: 502, description: busy}]}\n", "value must be one of"},
		{"a description on a hang", base + "server: {faults: [{from: 1h, to: 2h, kind: hang, description: busy}]}\n", "false schema"},
		{"a description with a control character", base + "server: {faults: [{from: 1h, to: 2h, kind: status, status: 400, description: \"a\\tb\"}]}\n", "does not match pattern"},
		{"a bad error code", base + "server: {faults: [{from: 1h, to: 2h, kind: status, status: 400, error: Invalid}]}\n", "does not match pattern"},
		{"status on a hang", base + "server: {faults: [{from: 1h, to: 2h, kind: hang, status: 502}]}\n", "false schema"},
		{"retry_after on a hang", base + "server: {faults: [{from: 1h, to: 2h, kind: hang, retry_after: 5s}]}\n", "false schema"},
		{"a revoke over a window", base + "server: {faults: [{from: 1h, to: 2h, kind: revoke}]}\n", "'at'"},
		{"at and from together", base + "server: {faults: [{at: 1h, from: 1h, kind: hang}]}\n", "false schema"},
		{"a window without its end", base + "server: {faults: [{from: 1h, kind: hang}]}\n", "'to'"},
		{"a crashed holder without restart", base + "server: {faults: [{from: 1h, to: 2h, kind: crash_holder}]}\n", "'restart'"},
		{"restart on a hang", base + "server: {faults: [{from: 1h, to: 2h, kind: hang, restart: 5s}]}\n", "false schema"},
		{"a store outage without a store", base + "server: {faults: [{from: 1h, to: 2h, kind: store_down}]}\n", "'share'"},
		{"a store outage with share none", base + "server: {faults: [{from: 1h, to: 2h, kind: store_down}]}\nfleet: {sessions: 2, families: 1}\nshare: {kind: none}\n", "value must be"},
		{"requests without every", base + "workload: [{kind: requests}]\n", "'every'"},
		{"requests with count", base + "workload: [{kind: requests, every: 1m, count: 3}]\n", "false schema"},
		{"a burst without count", base + "workload: [{kind: burst, at: 1h}]\n", "'count'"},
		{"a burst with every", base + "workload: [{kind: burst, at: 1h, count: 3, every: 1m}]\n", "false schema"},
		{"share without families", base + "share: {kind: none}\n", "'fleet'"},
		{"share with zero families", base + "fleet: {sessions: 2, families: 0}\nshare: {kind: none}\n", "minimum"},
		{"a lease under share none", base + "fleet: {sessions: 2, families: 1}\nshare: {kind: none, lease: 30s}\n", "false schema"},
		{"a zero lease", base + "fleet: {sessions: 2, families: 1}\nshare: {kind: store, lease: 0s}\n", "lease"},
		{"reuse_grace without rotation", head + "token: {ttl: 1h, reuse_grace: 1m}\n", "'rotate'"},
		{"reuse_detection without rotation", head + "token: {ttl: 1h, rotate: false, reuse_detection: true}\n", "value must be"},
		{"initial on policy none", base + "session: {policy: {kind: none, initial: 1s}}\n", "false schema"},
		{"jitter on policy none", base + "session: {policy: {kind: none, jitter: full}}\n", "value must be"},
		{"multiplier on a constant policy", base + "session: {policy: {kind: constant, multiplier: 2}}\n", "false schema"},
		{"a cap on a constant policy", base + "session: {policy: {kind: constant, max: 1m}}\n", "max"},
		{"a multiplier below 1", base + "session: {policy: {multiplier: 0.5}}\n", "minimum"},
		{"k without the adaptive throttle", base + "session: {throttle: {k: 2}}\n", "false schema"},
		{"probe on throttle none", base + "session: {throttle: {kind: none, probe: 10s}}\n", "false schema"},
		{"a list for a mapping", base + "session: [refresh_ahead]\n", "want object"},
		{"a mapping for a list", base + "workload: {kind: requests, every: 1m}\n", "want array"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := validate(t, []byte(c.src))
			if err == nil {
				t.Fatalf("validates:\n%s", c.src)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("the validator's message lacks %q:\n%v", c.want, err)
			}
			if _, perr := sim.Parse("bad.yaml", []byte(c.src)); perr == nil {
				t.Errorf("the schema rejects what the parser accepts:\n%s", c.src)
			}
		})
	}
}

// TestSchemaKnownDifferences lists the files the parser accepts and the
// schema rejects: spellings the parser reads from the text of a scalar
// whatever its YAML type, empty values it takes as absent, and fractions
// of a nanosecond, which time.ParseDuration drops. The schema follows the
// documented types (the parser's integers already reject quoted numbers)
// and takes a duration with a digit other than 0 for a non-zero one.
// Should the parser come to reject one, drop its case.
func TestSchemaKnownDifferences(t *testing.T) {
	const head = "name: x\nduration: 3h\n"
	const base = head + "token: {ttl: 1h}\n"
	for _, c := range []struct{ name, src string }{
		{"a quoted boolean", head + "token: {ttl: 1h, rotate: \"true\"}\n"},
		{"a quoted seed", base + "seed: \"7\"\n"},
		{"a quoted multiplier", base + "session: {policy: {multiplier: \"2\"}}\n"},
		{"a boolean name", "name: true\nduration: 3h\ntoken: {ttl: 1h}\n"},
		{"a null name", "name: null\nduration: 3h\ntoken: {ttl: 1h}\n"},
		{"an empty error code", base + "server: {faults: [{from: 1h, to: 2h, kind: hang, error: \"\"}]}\n"},
		{"an empty jitter", base + "session: {policy: {jitter: \"\"}}\n"},
		{"an empty throttle kind", base + "session: {throttle: {kind: \"\"}}\n"},
		{"a null throttle kind", base + "session: {throttle: {kind: }}\n"},
		{"a negative duration shorter than a nanosecond", head + "token: {ttl: 1h, refresh_ttl: -0.5ns}\n"},
		{"a reuse grace shorter than a nanosecond", head + "token: {ttl: 1h, reuse_grace: 0.5ns}\n"},
	} {
		if _, err := sim.Parse("odd.yaml", []byte(c.src)); err != nil {
			t.Errorf("%s: the parser now rejects it (%v): drop the case", c.name, err)
		}
		if validate(t, []byte(c.src)) == nil {
			t.Errorf("%s: the schema now accepts it: drop the case", c.name)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestYAMLValue: the reader gives each scalar its YAML type, follows
// aliases and refuses duplicated keys.
func TestYAMLValue(t *testing.T) {
	got, err := yamlValue([]byte("a: &x 7\nb: *x\nc: 90s\nd: \"7\"\ne: true\nf:\ng: [1.5, 18446744073709551615, .inf]\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"a": json.Number("7"), "b": json.Number("7"), "c": "90s", "d": "7", "e": true, "f": nil,
		"g": []any{json.Number("1.5"), json.Number("18446744073709551615"), ".inf"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
	if _, err := yamlValue([]byte("a: 1\na: 2\n")); err == nil {
		t.Error("a duplicated key was accepted")
	}
	if !slices.Equal([]string{"a", "b"}, sortedKeys(map[string]int{"b": 1, "a": 2})) {
		t.Error("sortedKeys")
	}
}
