package session

import (
	"context"

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
