package session

import (
	"context"
	"reflect"
	"slices"

	"golang.org/x/oauth2"
)

// TokenSource returns an oauth2.TokenSource backed by s, so a Session drops
// into code built on golang.org/x/oauth2 (oauth2.NewClient, gRPC
// credentials, cloud SDKs). oauth2.TokenSource.Token has no context, so ctx
// (nil means context.Background()) bounds every wait for a refresh; give it
// a deadline, or set WithFailFast, to bound a call during an outage.
//
// The tokens carry no refresh token: the Session keeps that. They carry
// the Extra members of the session's token (oauth2.Token.Extra("id_token")
// works as after oauth2.Config.Exchange). Their Expiry
// is Token.ServeUntil, the instant the session plans to replace the token
// (its refresh point), not the access token's own expiry: a caller that
// caches tokens, as oauth2.ReuseTokenSource does, then never sends one
// that the refresh has revoked. Prefer
// Transport for new code: unlike oauth2.Transport it reports a 401 back to
// the session.
func (s *Session) TokenSource(ctx context.Context) oauth2.TokenSource {
	if ctx == nil {
		ctx = context.Background()
	}
	return tokenSource{s: s, ctx: ctx}
}

type tokenSource struct {
	s   *Session
	ctx context.Context
}

// Token implements oauth2.TokenSource.
func (ts tokenSource) Token() (*oauth2.Token, error) {
	t, err := ts.s.Token(ts.ctx)
	if err != nil {
		return nil, err
	}
	// Expiry is when the session stops serving the token (ServeUntil), so
	// that oauth2.ReuseTokenSource, which caches a token until its Expiry,
	// asks again at the refresh point instead of sending a token that the
	// refresh revokes at servers such as Ory Hydra.
	ot := &oauth2.Token{AccessToken: t.Access.Reveal(), TokenType: t.AuthorizationType(), Expiry: t.ServeUntil}
	if t.extra != nil {
		// WithExtra keeps the map; oauth2.Token.Extra only reads it.
		ot = ot.WithExtra(t.extra.m)
	}
	return ot, nil
}

// FromOAuth2 converts a golang.org/x/oauth2 token, such as the one
// oauth2.Config.Exchange returns after an authorization-code login, into the
// Token that New or SetToken takes: a Session can then keep alive what an
// oauth2.Config login obtained. The members of the token response that
// t.Extra returns (an id_token, a server's own) become the Token's Extra
// members, except those Token holds in fields; so do those of a map[string]any
// or url.Values given to t.WithExtra.
func FromOAuth2(t *oauth2.Token) Token {
	if t == nil {
		return Token{}
	}
	tok := Token{Access: Secret(t.AccessToken), Refresh: Secret(t.RefreshToken), Type: t.TokenType, Expiry: t.Expiry}
	if extra := oauth2Extra(t); len(extra) > 0 {
		tok.extra = &extraMembers{m: extra}
	}
	return tok
}

// oauth2Extra returns the members t.Extra knows of, besides the ones Token
// holds in fields. x/oauth2 keeps them in an unexported field and offers no
// way to list them, so their names come from that field's map keys, read
// by reflection (names only, never a value: those come from t.Extra).
// Should a release of x/oauth2 rename the field, the well-known members are
// asked for by name instead.
func oauth2Extra(t *oauth2.Token) map[string]any {
	var names []string
	if raw := reflect.ValueOf(t).Elem().FieldByName("raw"); raw.IsValid() && raw.Kind() == reflect.Interface {
		if m := raw.Elem(); m.IsValid() && m.Kind() == reflect.Map && m.Type().Key().Kind() == reflect.String {
			for _, k := range m.MapKeys() {
				names = append(names, k.String())
			}
		}
	} else {
		names = wellKnownExtra
	}
	extra := map[string]any{}
	for _, k := range names {
		if v := t.Extra(k); v != nil && !slices.Contains(tokenMembers, k) {
			extra[k] = v
		}
	}
	return extra
}

// wellKnownExtra are the members FromOAuth2 asks for by name when it cannot
// list them: OpenID Connect's id_token and the refresh token lifetimes
// that Keycloak and Azure AD send.
var wellKnownExtra = []string{"id_token", "refresh_expires_in", "refresh_token_expires_in", "ext_expires_in", "not-before-policy", "session_state"}

// EndpointFromOAuth2 returns the Endpoint that describes the client of an
// oauth2.Config: its token, authorization and device authorization URLs,
// client id and secret, and authentication style (oauth2.AuthStyleInHeader
// is AuthBasic, AuthStyleInParams AuthBody, AuthStyleAutoDetect
// AuthAutoDetect). conf.Scopes are not copied: x/oauth2 sends them in the
// authorization request only, where Endpoint.Scopes go with every refresh
// too; give them to LoginDevice or LoginBrowser in their options. NewClient
// takes the Endpoint as it is, or after setting what x/oauth2 has no field
// for (Issuer, Grant, Params, …). A Session built on it keeps alive what
// conf's login obtained (see FromOAuth2).
func EndpointFromOAuth2(conf *oauth2.Config) Endpoint {
	if conf == nil {
		return Endpoint{}
	}
	e := Endpoint{TokenURL: conf.Endpoint.TokenURL, AuthURL: conf.Endpoint.AuthURL, DeviceAuthURL: conf.Endpoint.DeviceAuthURL,
		ClientID: conf.ClientID, ClientSecret: Secret(conf.ClientSecret)}
	switch conf.Endpoint.AuthStyle {
	case oauth2.AuthStyleInHeader:
		e.AuthStyle = AuthBasic
	case oauth2.AuthStyleInParams:
		e.AuthStyle = AuthBody
	}
	return e
}
