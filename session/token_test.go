package session

import (
	"bytes"
	"context"
	"encoding"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/policy"
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

// TestCanary runs tokens and a client secret carrying one marker through
// every path that produces text — debug logs, audit (slog and hash chain),
// errors of every kind, fmt verbs, JSON, recovered panics — and checks that
// the marker appears nowhere.
func TestCanary(t *testing.T) {
	const marker = "CANARY7f3a"
	var out lockedBuffer
	record := func(format string, args ...any) { fmt.Fprintf(&out, format+"\n", args...) }
	synctest.Test(t, func(t *testing.T) {
		fe := newFakeEndpoint(time.Hour)
		fe.prefix, fe.refresh = marker, marker+"-refresh-0"
		fe.idToken = true // an id_token is a credential too
		logger := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
		textLogger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
		chain := audit.NewChainWriter(&out, audit.Head{})
		c := testClient(t, fe, Endpoint{ClientID: "app", ClientSecret: marker + "-client-secret"})
		fb := testClient(t, fe, Endpoint{ClientID: "app", ClientSecret: marker + "-client-secret", AuthStyle: AuthBody, Grant: GrantClientCredentials})
		initial := Token{Access: marker + "-access-0", Refresh: marker + "-refresh-0", Expiry: time.Now().Add(time.Hour)}
		store := &MemoryStore{}
		s, err := New(context.Background(), c, initial, WithLogger(logger), WithSeed(1), WithStore(store),
			WithAudit(audit.Multi(chain, audit.NewSlogSink(textLogger))), WithPolicy(policy.Constant{Wait: time.Second}),
			WithRefreshAhead(0))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctx := context.Background()
		tok, _ := s.Token(ctx)
		withID, err := c.Refresh(ctx, Token{Refresh: Secret(fe.current())})
		if err != nil || withID.Extra("id_token") == nil {
			t.Fatalf("no id_token in the Extra members of a refreshed token: %v", err)
		}
		show := func(what string, v any) {
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
				record("%s "+verb, what, v)
			}
			if b, err := json.Marshal(v); err == nil {
				record("%s json %s", what, b)
			}
			logger.Debug(what, "value", v)
		}
		show("token", tok)
		show("token with an id_token", withID)
		s.SetToken(ctx, withID)
		tok, _ = s.Token(ctx)
		show("session", s)
		show("client", c)
		show("store", store)
		show("endpoint config", Endpoint{TokenURL: testURL, ClientSecret: marker})
		show("state", s.Status())

		// A failure, a lost response, a consumed refresh token: every error.
		fe.setFault(fault{kind: "status", status: 502}, 2)
		time.Sleep(time.Hour)
		synctest.Wait()
		_, err = s.Token(ctx)
		show("refresh error", err)
		fe.setFault(fault{kind: "lost_response"}, 1)
		s.Reject(tok.Access)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		_, err = s.Token(ctx)
		show("revoked error", err)
		if !errors.Is(err, ErrRevoked) {
			t.Errorf("the canary scenario did not reach revocation: %v", err)
		}
		_, err = c.Refresh(ctx, Token{Refresh: marker + "-refresh-stale"})
		show("endpoint error", err)

		// The transport against a resource server that refuses the token.
		// The re-login token expires before a refreshed one would, so the
		// refresh after the 401 succeeds at once (an expiry that does not
		// advance would be a failure, which the fail-fast transport returns).
		s.SetToken(ctx, Token{Access: marker + "-access-relogin", Refresh: Secret(fe.refresh), Expiry: time.Now().Add(time.Minute)})
		api := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return respond(r, 401, "text/plain", "unauthorized", ""), nil
		})
		hc := &http.Client{Transport: &Transport{Session: s, Base: api}}
		resp, err := hc.Get("https://api.example/data")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			show("transport response status", resp.Status)
			show("transport rejection", RejectionFrom(resp))
		}
		show("transport error", err)
		_, err = fb.Refresh(ctx, Token{})
		show("fallback", err)

		// A password in the token URL's userinfo, through every check of
		// NewClient and through a client's request error.
		for _, raw := range []string{"https://app:" + marker + "@exa mple.com/x", "https://app:" + marker + "@/x",
			"http://app:" + marker + "@auth.example/x", "ftp://app:" + marker + "@auth.example/x", "app:" + marker + "@x"} {
			_, err := NewClient(Endpoint{TokenURL: raw})
			show("token URL error", err)
		}
		down := roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("connection refused") })
		uc, err := NewClient(Endpoint{TokenURL: "https://app:" + marker + "@auth.example/x", HTTPClient: &http.Client{Transport: down}})
		if err != nil {
			t.Fatal(err)
		}
		show("userinfo client", uc)
		_, err = uc.Refresh(ctx, Token{Refresh: "rt"})
		show("userinfo endpoint error", err)

		// Panics carrying tokens, recovered and printed as a test harness would.
		for _, v := range []any{tok, Secret(marker), fmt.Errorf("wrapped: %w", err)} {
			func() {
				defer func() { record("recovered %v", recover()) }()
				panic(v)
			}()
		}
	})
	if strings.Contains(out.String(), marker) || strings.Contains(out.String(), fmt.Sprintf("%x", marker)) {
		i := strings.Index(out.String(), marker)
		t.Fatalf("the marker leaked:\n...%s...", out.String()[max(0, i-300):min(len(out.String()), i+100)])
	}
	for _, want := range []string{"session: token refresh failed: 502 Bad Gateway", "probably consumed", "auth session transition",
		`"hash":"`, "session: revoked", "answered 400 Bad Request: invalid_grant", "session: the resource server rejected a token issued moments ago too: 401 Unauthorized", "[redacted sha256:",
		"token refreshed", "recovered session.Token{", `Extra: ["id_token"]`, `"Extra":{"id_token":"[redacted sha256:`, `"extra":["id_token"]`, "app:xxxxx@exa mple.com/x: invalid character"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the canary output lacks %q: a path was not exercised", want)
		}
	}
	if n := len(out.String()); n < 5000 {
		t.Fatalf("only %d bytes of output: the canary exercised too little", n)
	}
}

// lockedBuffer is a bytes.Buffer shared by the session's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
