package oauth

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/authfsm/authfsm/session"
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
	if tok := FromOAuth2(&oauth2.Token{AccessToken: "a"}); tok.ExtraMembers() != nil || tok != (session.Token{Access: "a"}) {
		t.Errorf("FromOAuth2 of a token without extra members = %v", tok)
	}
}
