package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/internal/fakeidp"
)

// TestCanary runs tokens and a client secret carrying one marker through
// every path that produces text — debug logs, audit (slog and hash chain),
// errors of every kind, fmt verbs, JSON, recovered panics — and checks that
// the marker appears nowhere.
func TestCanary(t *testing.T) {
	const marker = "CANARY7f3a"
	var out fakeidp.LockedBuffer
	record := func(format string, args ...any) { fmt.Fprintf(&out, format+"\n", args...) }
	synctest.Test(t, func(t *testing.T) {
		fe := fakeidp.New(time.Hour)
		fe.Prefix, fe.Refresh = marker, marker+"-refresh-0"
		fe.IDToken = true // an id_token is a credential too
		logger := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
		textLogger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
		chain := audit.NewChainWriter(&out, audit.Head{})
		c := testClient(t, fe, Endpoint{ClientID: "app", ClientSecret: marker + "-client-secret"})
		fb := testClient(t, fe, Endpoint{ClientID: "app", ClientSecret: marker + "-client-secret", AuthStyle: AuthBody, Grant: GrantClientCredentials})
		initial := session.Token{Access: marker + "-access-0", Refresh: marker + "-refresh-0", Expiry: time.Now().Add(time.Hour)}
		store := &session.MemoryStore{}
		s, err := session.New(context.Background(), c, initial, session.WithLogger(logger), session.WithSeed(1), session.WithStore(store),
			session.WithAudit(audit.Multi(chain, audit.NewSlogSink(textLogger))), session.WithPolicy(policy.Constant{Wait: time.Second}),
			session.WithRefreshAhead(0))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctx := context.Background()
		tok, _ := s.Token(ctx)
		withID, err := c.Refresh(ctx, session.Token{Refresh: session.Secret(fe.Current())})
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
		fe.SetFault(fakeidp.Fault{Kind: "status", Status: 502}, 2)
		time.Sleep(time.Hour)
		synctest.Wait()
		_, err = s.Token(ctx)
		show("refresh error", err)
		fe.SetFault(fakeidp.Fault{Kind: "lost_response"}, 1)
		s.Reject(tok.Access)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		_, err = s.Token(ctx)
		show("revoked error", err)
		if !errors.Is(err, session.ErrRevoked) {
			t.Errorf("the canary scenario did not reach revocation: %v", err)
		}
		_, err = c.Refresh(ctx, session.Token{Refresh: marker + "-refresh-stale"})
		show("endpoint error", err)

		// The transport against a resource server that refuses the token.
		// The re-login token expires before a refreshed one would, so the
		// refresh after the 401 succeeds at once (an expiry that does not
		// advance would be a failure, which the fail-fast transport returns).
		s.SetToken(ctx, session.Token{Access: marker + "-access-relogin", Refresh: session.Secret(fe.Refresh), Expiry: time.Now().Add(time.Minute)})
		api := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return fakeidp.Respond(r, 401, "text/plain", "unauthorized", ""), nil
		})
		hc := &http.Client{Transport: &session.Transport{Session: s, Base: api}}
		resp, err := hc.Get("https://api.example/data")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			show("transport response status", resp.Status)
			show("transport rejection", session.RejectionFrom(resp))
		}
		show("transport error", err)
		_, err = fb.Refresh(ctx, session.Token{})
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
		_, err = uc.Refresh(ctx, session.Token{Refresh: "rt"})
		show("userinfo endpoint error", err)

		// Panics carrying tokens, recovered and printed as a test harness would.
		for _, v := range []any{tok, session.Secret(marker), fmt.Errorf("wrapped: %w", err)} {
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
