package session

import (
	"bytes"
	"encoding"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/authfsm/authfsm/audit"
)

func TestSecretRedacts(t *testing.T) {
	s := Secret("hunter2-secret")
	tok := Token{Access: s, Refresh: "refresh-secret", Expiry: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s"} {
		for _, v := range []any{s, tok, &tok, struct{ T Token }{tok}, []Token{tok}, map[string]Secret{"k": s}} {
			if out := fmt.Sprintf(verb, v); strings.Contains(out, "secret") || strings.Contains(out, "68756e746572") {
				t.Errorf("Sprintf(%q, %T) = %q reveals a secret", verb, v, out)
			}
		}
	}
	if s.Reveal() != "hunter2-secret" {
		t.Errorf("Reveal = %q", s.Reveal())
	}
	if got, want := s.String(), "[redacted "+audit.Fingerprint("hunter2-secret")+"]"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if Secret("").String() != "" {
		t.Errorf("empty secret prints %q", Secret("").String())
	}
	b, err := json.Marshal(tok)
	if err != nil || strings.Contains(string(b), "secret\"") || strings.Contains(string(b), "hunter2") {
		t.Errorf("json.Marshal(Token) = %s, %v", b, err)
	}
	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, nil))
	l.Info("x", "token", tok, "secret", s)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "token", tok, "secret", s)
	if strings.Contains(buf.String(), "hunter2") || strings.Contains(buf.String(), "refresh-secret") {
		t.Errorf("slog output reveals a secret: %s", buf.String())
	}
}

// TestSecretsRedactInEncoders runs secrets through encoding/json,
// encoding/xml and YAML, which uses encoding.TextMarshaler.
func TestSecretsRedactInEncoders(t *testing.T) {
	issued := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tok := Token{Access: "a-SECRET", Refresh: "r-SECRET", Type: "bearer", Scope: "read", Issued: issued, Expiry: issued.Add(time.Hour)}
	fa, fr := audit.Fingerprint("a-SECRET"), audit.Fingerprint("r-SECRET")
	// encoding/json writes a map key of a string type as it is, whatever
	// its methods, so a Secret must not key a map that may be encoded.
	type holder struct {
		S Secret
		T Token
	}
	h := holder{S: "s-SECRET", T: tok}
	xmlOf := func(v any) ([]byte, error) { return xml.Marshal(v) }
	yamlOf := func(v any) ([]byte, error) { return yaml.Marshal(v) }
	textOf := func(v any) ([]byte, error) { return v.(encoding.TextMarshaler).MarshalText() }
	tests := []struct {
		name   string
		encode func(any) ([]byte, error)
		v      any
		want   string
	}{
		// Token's JSON stays the object it was before MarshalText.
		{"json Token", json.Marshal, tok, `{"Access":"[redacted ` + fa + `]","Refresh":"[redacted ` + fr +
			`]","Type":"bearer","Issued":"2026-01-01T00:00:00Z","Expiry":"2026-01-01T01:00:00Z","Scope":"read"}`},
		{"json *Token", json.Marshal, &tok, `"Access":"[redacted ` + fa + `]"`},
		{"json zero Token", json.Marshal, Token{}, `{"Access":"","Refresh":"","Type":"","Issued":"0001-01-01T00:00:00Z","Expiry":"0001-01-01T00:00:00Z","Scope":""}`},
		{"json holder", json.Marshal, h, `"T":{"Access":"[redacted ` + fa + `]"`},
		{"xml holder", xmlOf, h, `<holder><S>[redacted ` + audit.Fingerprint("s-SECRET") + `]</S><T>session.Token{`},
		{"xml Token", xmlOf, tok, `<Token>session.Token{Type: &#34;Bearer&#34;, Access: [redacted ` + fa + `]`},
		{"xml *Token", xmlOf, &tok, `Refresh: [redacted ` + fr + `]`},
		{"yaml holder", yamlOf, h, `[redacted ` + fa + `]`},
		{"yaml Token", yamlOf, tok, `[redacted ` + fr + `]`},
		{"yaml Secret", yamlOf, h.S, `[redacted ` + audit.Fingerprint("s-SECRET") + `]`},
		{"TextMarshaler Secret", textOf, h.S, `[redacted ` + audit.Fingerprint("s-SECRET") + `]`},
		{"TextMarshaler Token", textOf, tok, tok.String()},
		{"TextMarshaler empty Secret", textOf, Secret(""), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.encode(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), "SECRET") {
				t.Errorf("encoded %s", b)
			}
			if !strings.Contains(string(b), tc.want) {
				t.Errorf("encoded %s, want it to contain %s", b, tc.want)
			}
		})
	}
}
