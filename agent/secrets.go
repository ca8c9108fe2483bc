package agent

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/oauth"
)

// A secret's source is named by a key of the configuration file: a file
// (client_secret_file, refresh_token_file, private_key_jwt.key_file,
// assertion_file, subject_token_file, audit.key_file) or an environment
// variable (client_secret_env, refresh_token_env). A careless file may hold
// the secret itself where its source's name belongs, so the errors below
// name the key and what went wrong, never the file's or the variable's
// name.

// sourceError is the *ConfigError of the key of config file cfgFile whose
// source failed.
func sourceError(cfgFile, key, msg string) *ConfigError {
	return &ConfigError{File: cfgFile, Key: key, Msg: msg}
}

// fileProblem says what is wrong with the file at path, which the key
// names and which was to hold a kind ("client secret", "key", …), without
// naming the file. err is what reading or parsing it returned.
func fileProblem(path, kind string, err error) string {
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		return "cannot read the file it names: " + pe.Err.Error()
	}
	if errors.Is(err, audit.ErrEmptyKey) {
		return "the file it names is empty"
	}
	// A parser's message may name the file: keep what it says after it.
	msg := err.Error()
	if _, after, ok := strings.Cut(msg, path); ok {
		msg = strings.TrimSpace(strings.TrimPrefix(after, ":"))
	} else if _, after, ok := strings.Cut(msg, ": "); ok && !strings.Contains(msg[:len(msg)-len(after)], " ") {
		msg = after // "session: …", "audit: …"
	}
	if msg == "is empty" {
		return "the file it names is empty"
	}
	return "the file it names is not a usable " + kind + ": " + msg
}

// readFileSecret reads a secret from file, without surrounding whitespace;
// its errors say what is wrong, naming neither the file nor its content.
func readFileSecret(file string) (session.Secret, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			err = pe.Err
		}
		return "", errors.New("cannot read the file it names: " + err.Error())
	}
	s := bytes.TrimSpace(b)
	if len(s) == 0 {
		return "", errors.New("the file it names is empty")
	}
	return session.Secret(s), nil
}

// warnReadable logs a warning when other users may read a secret file.
func warnReadable(log *slog.Logger, key, file string) {
	if fi, err := os.Stat(file); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("a secret file is readable by other users", "key", key, "file", file, "mode", fi.Mode().Perm().String())
	}
}

// readSecret reads the secret of a profile's keyFile or keyEnv (key names
// without the profile's path), whichever file or env names; "" when
// neither does.
func (pr *Profile) readSecret(cfgFile, keyFile, keyEnv, file, env string, opts *Options) (session.Secret, error) {
	switch {
	case file != "":
		s, err := readFileSecret(file)
		if err != nil {
			return "", sourceError(cfgFile, pr.key(keyFile), err.Error())
		}
		warnReadable(opts.Logger, pr.key(keyFile), file)
		return s, nil
	case env != "":
		s := opts.Getenv(env)
		if s == "" {
			return "", sourceError(cfgFile, pr.key(keyEnv), "the environment variable it names is unset or empty")
		}
		return session.Secret(s), nil
	}
	return "", nil
}

// key returns the dotted path of the profile's key k.
func (pr *Profile) key(k string) string { return "profiles." + pr.Name + "." + k }

// endpoint builds the profile's oauth.Endpoint, reading its secrets;
// cfgFile names the configuration file in errors.
func (pr *Profile) endpoint(cfgFile string, opts *Options) (oauth.Endpoint, error) {
	e := oauth.Endpoint{
		TokenURL: pr.TokenURL, Issuer: pr.Issuer, AllowHTTP: pr.AllowHTTP,
		ClientID: pr.ClientID, AuthStyle: pr.AuthStyle, Grant: pr.Grant,
		Scopes: pr.Scopes, Params: pr.Params, HTTPClient: opts.HTTPClient,
	}
	secret, err := pr.readSecret(cfgFile, "client_secret_file", "client_secret_env", pr.ClientSecretFile, pr.ClientSecretEnv, opts)
	if err != nil {
		return e, err
	}
	e.ClientSecret = secret
	// A key or an assertion is read at every request (so that rotating the
	// file needs no restart), and once now, so that a wrong file fails the
	// start rather than the first refresh.
	req := oauth.AssertionRequest{ClientID: pr.ClientID, TokenURL: pr.TokenURL + pr.Issuer, Now: time.Now()}
	var key, path, kind string
	switch {
	case pr.PrivateKeyJWT != nil:
		k := pr.PrivateKeyJWT
		key, path, kind = "private_key_jwt.key_file", k.KeyFile, "private key"
		e.Assertion = &oauth.PrivateKeyJWT{KeyFile: k.KeyFile, KeyID: k.KeyID, Audience: k.Audience}
	case pr.AssertionFile != "":
		key, path, kind = "assertion_file", pr.AssertionFile, "assertion"
		e.Assertion = oauth.AssertionFile{Path: pr.AssertionFile, Type: pr.AssertionType}
	}
	if e.Assertion != nil {
		if _, _, err := e.Assertion.ClientAssertion(context.Background(), req); err != nil {
			return e, sourceError(cfgFile, pr.key(key), fileProblem(path, kind, err))
		}
		if pr.PrivateKeyJWT != nil {
			warnReadable(opts.Logger, pr.key(key), path)
		}
	}
	if pr.Grant == oauth.GrantTokenExchange {
		path, typ := pr.SubjectTokenFile, pr.SubjectTokenType
		e.SubjectToken = func(context.Context) (session.Secret, string, error) {
			tok, err := readFileSecret(path)
			if err != nil {
				return "", "", errors.New("agent: subject_token_file: " + err.Error())
			}
			return tok, typ, nil
		}
		e.RequestedTokenType = pr.RequestedTokenType
		if _, err := readFileSecret(path); err != nil {
			return e, sourceError(cfgFile, pr.key("subject_token_file"), err.Error())
		}
	}
	return e, nil
}

// seed returns the refresh token that starts a refresh_token profile
// whose store holds no pair, if the profile names one.
func (pr *Profile) seed(cfgFile string, opts *Options) (session.Secret, error) {
	return pr.readSecret(cfgFile, "refresh_token_file", "refresh_token_env", pr.RefreshTokenFile, pr.RefreshTokenEnv, opts)
}

// readAuditKey reads the audit log's HMAC key (audit.ReadKeyFile).
func readAuditKey(cfgFile, path string) ([]byte, error) {
	key, err := audit.ReadKeyFile(path)
	if err != nil {
		return nil, sourceError(cfgFile, "audit.key_file", fileProblem(path, "key", err))
	}
	return key, nil
}
