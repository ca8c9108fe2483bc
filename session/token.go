package session

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/authfsm/authfsm/audit"
)

// Secret is a credential: an access token, a refresh token or a client
// secret. It redacts itself wherever it could be printed — fmt verbs, slog,
// JSON — showing only its fingerprint (see audit.Fingerprint). Reveal (or a
// conversion to string) is the one way to read it, so every place that does
// is easy to find.
type Secret string

// Reveal returns the secret itself, for the Authorization header or a form.
func (s Secret) Reveal() string { return string(s) }

// String returns "[redacted sha256:…]", or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted " + audit.Fingerprint(string(s)) + "]"
}

// GoString implements fmt.GoStringer with the redacted form.
func (s Secret) GoString() string { return s.String() }

// Format implements fmt.Formatter: every verb prints the redacted form, so
// %s, %q, %x and %v alike cannot reveal the secret.
func (s Secret) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }

// LogValue implements slog.LogValuer with the redacted form.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON encodes the redacted form: a Secret that reaches a JSON log or
// API response by accident stays secret. The file store writes real values
// through its own type.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalText implements encoding.TextMarshaler with the redacted form, so
// the encoders that use it (encoding/xml, YAML, TOML, JSON map keys) see
// the fingerprint, never the secret.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Token is an OAuth2 token pair with its lifetime. Its secrets are Secret
// values, and Token itself redacts in String, GoString, Format, LogValue,
// MarshalText and MarshalJSON.
type Token struct {
	// Access is the access token sent as "Authorization: Bearer".
	Access Secret
	// Refresh is the refresh token, if the server issued one.
	Refresh Secret
	// Type is the token type from the response; "" means Bearer.
	Type string
	// Issued is when the token was received, on the session's clock.
	Issued time.Time
	// Expiry is when the access token expires; zero means unknown, which a
	// Session treats as already expired.
	Expiry time.Time
	// Scope is the granted scope, if the server said.
	Scope string
	// ServeUntil is set on the tokens Session.Token returns: the instant
	// until which a caller may cache the token instead of asking again —
	// the session's refresh point (servers that revoke the previous access
	// token at a refresh, such as Ory Hydra, refuse it from then on), the
	// next attempt while a refresh is failing, an instant already past
	// while a refresh is in flight, and Expiry when no refresh is planned
	// (see states.Data.ServeUntil). It is never after Expiry. A cache, a
	// credential helper or a client that asks again near expiry should use
	// it rather than Expiry. New, SetToken and stores ignore it.
	ServeUntil time.Time `json:",omitzero"`

	// extra holds the token response's other members (see Extra); nil
	// when there were none. A pointer to a map never changed after it is
	// set, so that Token stays comparable and its copies cannot alter
	// one another's.
	extra *extraMembers
}

// extraMembers is what Token.extra points to.
type extraMembers struct{ m map[string]any }

// Extra returns the member key of the token response that delivered t,
// besides the ones Token holds in fields (access_token, token_type,
// refresh_token, expires_in or expires, scope): an OpenID Connect "id_token", a
// server's own members. It returns nil when there is no such member. Like
// golang.org/x/oauth2's Token.Extra, JSON values are as encoding/json
// decodes them into an any (string, float64, bool, nil, []any,
// map[string]any); a form-encoded answer's values are strings. A refresh
// replaces the members with its own answer's, as x/oauth2 does; stores
// keep them, FromOAuth2 and TokenSource carry them. The values may be
// credentials (an id_token is one): String, LogValue, MarshalText and
// MarshalJSON show only the members' names and fingerprints.
func (t Token) Extra(key string) any {
	if t.extra == nil {
		return nil
	}
	return t.extra.m[key]
}

// ExtraMembers returns a copy of all the members Extra returns, or nil
// when there are none.
func (t Token) ExtraMembers() map[string]any {
	if t.extra == nil {
		return nil
	}
	return maps.Clone(t.extra.m)
}

// WithExtra returns a copy of t whose Extra members are a copy of extra
// (none when extra is empty), for a token built by hand or converted.
func (t Token) WithExtra(extra map[string]any) Token {
	t.extra = newExtra(extra)
	return t
}

// newExtra returns the extraMembers of a copy of m, or nil when m is empty.
func newExtra(m map[string]any) *extraMembers {
	if len(m) == 0 {
		return nil
	}
	return &extraMembers{m: maps.Clone(m)}
}

// extraNames returns the sorted names of t's Extra members.
func (t Token) extraNames() []string {
	if t.extra == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(t.extra.m))
}

// Equal reports whether t and u hold the same token: the same fields, the
// instants compared with time.Time.Equal, and the same Extra members. It
// makes github.com/google/go-cmp compare Tokens, whose Extra members are
// unexported.
func (t Token) Equal(u Token) bool {
	if t.Access != u.Access || t.Refresh != u.Refresh || t.Type != u.Type || t.Scope != u.Scope ||
		!t.Issued.Equal(u.Issued) || !t.Expiry.Equal(u.Expiry) || !t.ServeUntil.Equal(u.ServeUntil) {
		return false
	}
	if t.extra == u.extra {
		return true
	}
	return reflect.DeepEqual(t.ExtraMembers(), u.ExtraMembers())
}

// Valid reports whether t holds an access token that has not expired at now.
func (t Token) Valid(now time.Time) bool {
	return t.Access != "" && now.Before(t.Expiry)
}

// AuthorizationType returns the scheme for the Authorization header:
// "Bearer" unless the server named another type.
func (t Token) AuthorizationType() string {
	if t.Type == "" || strings.EqualFold(t.Type, "bearer") {
		return "Bearer"
	}
	return t.Type
}

// String describes t without its secrets; the members of Extra appear by
// name only.
func (t Token) String() string {
	s := fmt.Sprintf("session.Token{Type: %q, Access: %s, Refresh: %s, Expiry: %s",
		t.AuthorizationType(), t.Access.String(), t.Refresh.String(), t.Expiry.Format(time.RFC3339))
	if names := t.extraNames(); len(names) > 0 {
		s += fmt.Sprintf(", Extra: %q", names)
	}
	return s + "}"
}

// GoString implements fmt.GoStringer without the secrets.
func (t Token) GoString() string { return t.String() }

// Format implements fmt.Formatter: every verb prints String's form.
func (t Token) Format(f fmt.State, _ rune) { io.WriteString(f, t.String()) }

// MarshalText implements encoding.TextMarshaler with String's form, for the
// encoders that use it (encoding/xml, YAML).
func (t Token) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// MarshalJSON encodes t as the object of its fields, its secrets redacted
// by Secret's MarshalJSON, and its Extra members as "Extra", each value
// replaced by its redacted fingerprint: as without MarshalText, which
// encoding/json would otherwise use to write a string.
func (t Token) MarshalJSON() ([]byte, error) {
	type fields Token // Token's fields without its methods
	return json.Marshal(struct {
		fields
		Extra map[string]any `json:",omitempty"`
	}{fields(t), redactExtra(t.ExtraMembers())})
}

// redactExtra returns extra with every value replaced by the redacted form
// of a Secret: a string member's own fingerprint, or that of another
// value's JSON encoding.
func redactExtra(extra map[string]any) map[string]any {
	if extra == nil {
		return nil
	}
	out := make(map[string]any, len(extra))
	for k, v := range extra {
		s, ok := v.(string)
		if !ok {
			b, _ := json.Marshal(v)
			s = string(b)
		}
		out[k] = Secret(s).String()
	}
	return out
}

// LogValue implements slog.LogValuer with fingerprints in place of secrets.
// The members of Extra appear by name only.
func (t Token) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("access", audit.Fingerprint(string(t.Access))),
		slog.String("refresh", audit.Fingerprint(string(t.Refresh))),
		slog.Time("expiry", t.Expiry),
	}
	if names := t.extraNames(); len(names) > 0 {
		attrs = append(attrs, slog.Any("extra", names))
	}
	return slog.GroupValue(attrs...)
}

// The types below hold secrets in unexported fields, which fmt would print
// raw (it does not call a field's methods when the field is unexported), so
// each formats itself without them.

// Format implements fmt.Formatter: every verb prints the session's id and
// its token's fingerprint, never a token. It takes no lock, so an audit sink
// or logger called by the session may print the session.
func (s *Session) Format(f fmt.State, _ rune) {
	var fp string
	if p := s.snap.Load(); p != nil {
		fp = audit.Fingerprint(string(p.tok.Access))
	}
	fmt.Fprintf(f, "session.Session{ID: %q, Token: %q}", s.cfg.id, fp)
}

// Format implements fmt.Formatter without the stored token's secrets.
func (m *MemoryStore) Format(f fmt.State, _ rune) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintf(f, "session.MemoryStore{Token: %s}", m.tok.String())
}
