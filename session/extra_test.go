package session

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

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
	fe.IDToken = true
	c := testClient(t, fe, testEndpoint{ClientID: "app"})
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
