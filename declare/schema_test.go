package declare_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/authfsm/authfsm/declare"
)

// TestSchemaKeysAreTheParsers: the schema declares exactly the keys the
// parser knows, as its answer to an unknown key lists them, with the
// defaults Default declares.
func TestSchemaKeysAreTheParsers(t *testing.T) {
	var doc struct {
		ID         string                     `json:"$id"`
		Properties map[string]json.RawMessage `json:"properties"`
		Additional *bool                      `json:"additionalProperties"`
	}
	if err := json.Unmarshal(declare.Schema(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.ID != declare.SchemaRef || doc.Additional == nil || *doc.Additional {
		t.Errorf("$id %q, additionalProperties %v; want %q and false", doc.ID, doc.Additional, declare.SchemaRef)
	}
	_, err := declare.Parse("s.yaml", []byte("nope: 1\n"))
	if err == nil {
		t.Fatal("an unknown key was accepted")
	}
	msg := err.Error()
	known := strings.Split(msg[strings.Index(msg, "(known: ")+len("(known: "):len(msg)-1], ", ")
	var keys []string
	for k := range doc.Properties {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	slices.Sort(known)
	if !slices.Equal(keys, known) {
		t.Errorf("schema keys %v, parser keys %v", keys, known)
	}
	def := declare.Default()
	for key, want := range map[string]string{
		"refresh_ahead": `"5m"`, "request_timeout": `"10s"`, "wait_for_refresh": `"0s"`, "fallback": "false",
	} {
		var p struct {
			Default json.RawMessage `json:"default"`
		}
		if err := json.Unmarshal(doc.Properties[key], &p); err != nil || string(p.Default) != want {
			t.Errorf("%s: schema default %s, want %s (%v)", key, p.Default, want, err)
		}
	}
	if def.RefreshAhead.String() != "5m0s" || def.RequestTimeout.String() != "10s" {
		t.Errorf("Default() = %+v, which the schema's defaults do not state", def)
	}
}

// TestIncludeSchema: a schema that names the session block by reference
// gets the block in its place, its own description kept; a schema without
// the reference, with two, or with other definitions is refused.
func TestIncludeSchema(t *testing.T) {
	var block map[string]json.RawMessage
	if err := json.Unmarshal(declare.Schema(), &block); err != nil {
		t.Fatal(err)
	}
	defs := string(block["$defs"])
	host := `{"type": "object", "properties": {"session": {"description": "mine", "$ref": "` + declare.SchemaRef + `"}}, "$defs": ` + defs + `}`
	out, err := declare.IncludeSchema([]byte(host))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Properties struct {
			Session map[string]json.RawMessage `json:"session"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	s := got.Properties.Session
	if string(s["description"]) != `"mine"` || s["$ref"] != nil || string(s["properties"]) == "" || len(s) != 4 {
		t.Errorf("included block: %s", out)
	}
	for name, bad := range map[string]string{
		"no reference":    `{"type": "object"}`,
		"two references":  `{"a": {"$ref": "` + declare.SchemaRef + `"}, "b": {"$ref": "` + declare.SchemaRef + `"}, "$defs": ` + defs + `}`,
		"other $defs":     `{"a": {"$ref": "` + declare.SchemaRef + `"}, "$defs": {}}`,
		"not JSON at all": `{`,
	} {
		if _, err := declare.IncludeSchema([]byte(bad)); err == nil || !strings.HasPrefix(err.Error(), "declare: ") {
			t.Errorf("%s: %v, want a declare error", name, err)
		}
	}
}
