package session

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
)

// TestTokenResponseExtraMembers: the members of a token response that
// Token has no field for (an id_token above all) are kept, not dropped, in
// JSON and form answers alike; the ones it has fields for are not repeated.
func TestTokenResponseExtraMembers(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name, ctype, body string
		want              map[string]any
	}{
		{"json", "application/json",
			`{"access_token":"a","token_type":"Bearer","refresh_token":"r","expires_in":60,"scope":"openid",` +
				`"id_token":"eyJ.id.tok","refresh_expires_in":1800,"not-before-policy":0,"amr":["pwd"],"claims":{"x":true},"nothing":null}`,
			map[string]any{"id_token": "eyJ.id.tok", "refresh_expires_in": 1800.0, "not-before-policy": 0.0,
				"amr": []any{"pwd"}, "claims": map[string]any{"x": true}, "nothing": nil}},
		{"form", "application/x-www-form-urlencoded",
			"access_token=a&token_type=bearer&expires_in=60&id_token=eyJ.id.tok&refresh_expires_in=1800",
			map[string]any{"id_token": "eyJ.id.tok", "refresh_expires_in": "1800"}},
		{"none", "application/json", `{"access_token":"a","expires_in":60}`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := parseTokenResponse(tc.ctype, []byte(tc.body), now, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, tok.ExtraMembers()); diff != "" {
				t.Errorf("Extra members (-want +got):\n%s", diff)
			}
			for k, v := range tc.want {
				if diff := cmp.Diff(v, tok.Extra(k)); diff != "" {
					t.Errorf("Extra(%q) (-want +got):\n%s", k, diff)
				}
			}
			if tok.Extra("access_token") != nil || tok.Extra("expires_in") != nil || tok.Extra("absent") != nil {
				t.Error("Extra repeats a member Token has a field for, or invents one")
			}
		})
	}
}

// TestExtraIsReadOnly: a Token's Extra members cannot be changed through a
// copy or through the map ExtraMembers returns, and Tokens stay comparable.
func TestExtraIsReadOnly(t *testing.T) {
	m := map[string]any{"id_token": "one"}
	tok := Token{Access: "a"}.WithExtra(m)
	m["id_token"] = "changed"
	tok.ExtraMembers()["id_token"] = "changed too"
	if got := tok.Extra("id_token"); got != "one" {
		t.Errorf("Extra(id_token) = %v after changing the maps given and returned", got)
	}
	cp := tok
	if cp != tok || !cp.Equal(tok) {
		t.Error("a copy of a Token is not equal to it")
	}
	other := Token{Access: "a"}.WithExtra(map[string]any{"id_token": "one"})
	if !other.Equal(tok) || other.Equal(Token{Access: "a"}) {
		t.Error("Equal does not compare the Extra members")
	}
	if (Token{}).WithExtra(nil) != (Token{}) {
		t.Error("WithExtra(nil) is not a Token without Extra members")
	}
}

// TestExtraRedacted: an id_token is a credential; a Token shows only the
// names of its Extra members and fingerprints of their values.
func TestExtraRedacted(t *testing.T) {
	const idToken = "eyJhbGciOi.SECRETPAYLOAD.sig"
	tok := Token{Access: "a-SECRET", Expiry: time.Unix(1e9, 0).UTC()}.WithExtra(map[string]any{"id_token": idToken, "n": 7.0})
	var b bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		fmt.Fprintf(&b, verb+"\n", tok)
	}
	j, err := json.Marshal(tok)
	if err != nil {
		t.Fatal(err)
	}
	b.Write(j)
	txt, _ := tok.MarshalText()
	b.Write(txt)
	slog.New(slog.NewJSONHandler(&b, nil)).Info("token", "tok", tok)
	slog.New(slog.NewTextHandler(&b, nil)).Info("token", "tok", tok)
	out := b.String()
	if strings.Contains(out, "SECRET") {
		t.Fatalf("a secret leaked:\n%s", out)
	}
	for _, want := range []string{`Extra: ["id_token" "n"]`, `"Extra":{"id_token":"[redacted sha256:`, `"extra":["id_token","n"]`, "tok.extra=\"[id_token n]\""} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
}

// TestExtraThroughClientSessionAndStores: a refresh's id_token reaches the
// caller of Session.Token and of its TokenSource, is replaced by the next
// refresh's, and survives a FileStore and a FileCoordinator.
func TestExtraThroughClientSessionAndStores(t *testing.T) {
	ctx := context.Background()
	fe := newFakeEndpoint(time.Hour)
	fe.idToken = true
	c := testClient(t, fe, Endpoint{ClientID: "app"})
	store := &FileStore{Path: filepath.Join(t.TempDir(), "token.json")}
	s, err := New(ctx, c, Token{Refresh: "tok-refresh-0"}, WithStore(store))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tok, err := s.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Extra("id_token"); got != "tok-id-1" {
		t.Errorf("Session.Token's Extra(id_token) = %v, want tok-id-1", got)
	}
	ot, err := s.TokenSource(ctx).Token()
	if err != nil {
		t.Fatal(err)
	}
	if got := ot.Extra("id_token"); got != "tok-id-1" {
		t.Errorf("TokenSource's oauth2.Token.Extra(id_token) = %v, want tok-id-1", got)
	}
	s.Reject(tok.Access) // the next demand refreshes
	if tok, err := s.Token(ctx); tok.Extra("id_token") != "tok-id-2" {
		t.Errorf("after a refresh Extra(id_token) = %v (Token error %v), want the new answer's tok-id-2", tok.Extra("id_token"), err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	saved, err := store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := saved.Extra("id_token"); got != "tok-id-2" {
		t.Errorf("the FileStore kept Extra(id_token) = %v with access %q, want tok-id-2", got, saved.Access.Reveal())
	}

	coord := &FileCoordinator{Path: filepath.Join(t.TempDir(), "family.json")}
	pair := Token{Access: "a", Refresh: "r", Expiry: time.Now().Add(time.Hour).Round(0)}.WithExtra(map[string]any{"id_token": "fam-id", "n": 2.0})
	if _, err := coord.Publish(ctx, "me", 0, pair); err != nil {
		t.Fatal(err)
	}
	fam, err := coord.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(pair.ExtraMembers(), fam.Pair.ExtraMembers()); diff != "" {
		t.Errorf("the FileCoordinator's pair lost Extra members (-want +got):\n%s", diff)
	}
}

// TestFromOAuth2CarriesExtra: the members a login through oauth2.Config
// obtained (JSON or form answer) become the Token's Extra members, as do
// those given to oauth2.Token.WithExtra.
func TestFromOAuth2CarriesExtra(t *testing.T) {
	for _, tc := range []struct{ ctype, body string }{
		{"application/json", `{"access_token":"a","token_type":"Bearer","refresh_token":"r","expires_in":3600,"id_token":"the-id","refresh_expires_in":1800}`},
		{"application/x-www-form-urlencoded", "access_token=a&token_type=Bearer&refresh_token=r&expires_in=3600&id_token=the-id&refresh_expires_in=1800"},
	} {
		t.Run(tc.ctype, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ctype)
				fmt.Fprint(w, tc.body)
			}))
			defer srv.Close()
			conf := &oauth2.Config{ClientID: "app", Endpoint: oauth2.Endpoint{TokenURL: srv.URL, AuthStyle: oauth2.AuthStyleInParams}}
			ot, err := conf.Exchange(context.Background(), "code")
			if err != nil {
				t.Fatal(err)
			}
			tok := FromOAuth2(ot)
			if tok.Access != "a" || tok.Refresh != "r" || tok.Extra("id_token") != "the-id" || tok.Extra("refresh_expires_in") == nil {
				t.Errorf("FromOAuth2 = %v with id_token %v, refresh_expires_in %v", tok, tok.Extra("id_token"), tok.Extra("refresh_expires_in"))
			}
			if tok.Extra("access_token") != nil || tok.Extra("expires_in") != nil {
				t.Error("FromOAuth2 repeats in Extra a member Token has a field for")
			}
		})
	}
	ot := (&oauth2.Token{AccessToken: "a"}).WithExtra(map[string]any{"id_token": "given", "access_token": "a"})
	if tok := FromOAuth2(ot); tok.Extra("id_token") != "given" || len(tok.ExtraMembers()) != 1 {
		t.Errorf("FromOAuth2 of a token WithExtra: %v", tok.ExtraMembers())
	}
	if tok := FromOAuth2(&oauth2.Token{AccessToken: "a"}); tok.ExtraMembers() != nil || tok != (Token{Access: "a"}) {
		t.Errorf("FromOAuth2 of a token without extra members = %v", tok)
	}
}
