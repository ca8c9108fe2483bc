package agent

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/authfsm/authfsm/session"
)

// readSecret reads a secret from a file or an environment variable; its
// errors name where it looked, never what it found.
func readSecret(what, file, env string, getenv func(string) string, log *slog.Logger) (session.Secret, error) {
	switch {
	case file != "":
		s, err := readFileSecret(what, file)
		if err == nil {
			if fi, err := os.Stat(file); err == nil && fi.Mode().Perm()&0o077 != 0 {
				log.Warn("a secret file is readable by other users", "what", what, "file", file, "mode", fi.Mode().Perm().String())
			}
		}
		return s, err
	case env != "":
		s := getenv(env)
		if s == "" {
			return "", fmt.Errorf("%s: the environment variable %s is unset or empty", what, env)
		}
		return session.Secret(s), nil
	}
	return "", nil
}

// readFileSecret reads a secret from file, without surrounding whitespace.
func readFileSecret(what, file string) (session.Secret, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	s := bytes.TrimSpace(b)
	if len(s) == 0 {
		return "", fmt.Errorf("%s: %s is empty", what, file)
	}
	return session.Secret(s), nil
}

// endpoint builds the profile's session.Endpoint, reading its secrets.
func (pr *Profile) endpoint(opts *Options) (session.Endpoint, error) {
	e := session.Endpoint{
		TokenURL: pr.TokenURL, Issuer: pr.Issuer, AllowHTTP: pr.AllowHTTP,
		ClientID: pr.ClientID, AuthStyle: pr.AuthStyle, Grant: pr.Grant,
		Scopes: pr.Scopes, Params: pr.Params, HTTPClient: opts.HTTPClient,
	}
	secret, err := readSecret("client_secret", pr.ClientSecretFile, pr.ClientSecretEnv, opts.Getenv, opts.Logger)
	if err != nil {
		return e, err
	}
	e.ClientSecret = secret
	// A key or an assertion is read at every request (so that rotating the
	// file needs no restart), and once now, so that a wrong file fails the
	// start rather than the first refresh.
	req := session.AssertionRequest{ClientID: pr.ClientID, TokenURL: pr.TokenURL + pr.Issuer, Now: time.Now()}
	switch {
	case pr.PrivateKeyJWT != nil:
		k := pr.PrivateKeyJWT
		e.Assertion = &session.PrivateKeyJWT{KeyFile: k.KeyFile, KeyID: k.KeyID, Audience: k.Audience}
	case pr.AssertionFile != "":
		e.Assertion = session.AssertionFile{Path: pr.AssertionFile, Type: pr.AssertionType}
	}
	if e.Assertion != nil {
		if _, _, err := e.Assertion.ClientAssertion(context.Background(), req); err != nil {
			return e, err
		}
	}
	if pr.Grant == session.GrantTokenExchange {
		path, typ := pr.SubjectTokenFile, pr.SubjectTokenType
		e.SubjectToken = func(context.Context) (session.Secret, string, error) {
			tok, err := readFileSecret("subject token", path)
			return tok, typ, err
		}
		e.RequestedTokenType = pr.RequestedTokenType
		if _, _, err := e.SubjectToken(context.Background()); err != nil {
			return e, err
		}
	}
	return e, nil
}

// seed returns the refresh token that starts a refresh_token profile
// whose store holds no pair, if the profile names one.
func (pr *Profile) seed(opts *Options) (session.Secret, error) {
	return readSecret("refresh_token", pr.RefreshTokenFile, pr.RefreshTokenEnv, opts.Getenv, opts.Logger)
}
