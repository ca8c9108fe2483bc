package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/authfsm/authfsm/declare"
	"github.com/authfsm/authfsm/internal/yamlwalk"
	"github.com/authfsm/authfsm/session/oauth"
)

// Config is a parsed and validated agent configuration file. Parse reads
// the file's structure only: secrets are read, and files opened, by New.
type Config struct {
	// File is the file's name, for messages.
	File string
	// Listen is where the agent's API (/v1/token, /v1/health, /metrics)
	// listens; nil for none.
	Listen *Listen
	// Audit is the hash-chained audit log; nil for none.
	Audit *Audit
	// ShutdownTimeout bounds a graceful shutdown (DefaultShutdownTimeout).
	ShutdownTimeout time.Duration
	// LogLevel is the least level logged (info by default).
	LogLevel slog.Level
	// Profiles are in the file's order.
	Profiles []*Profile
}

// DefaultShutdownTimeout bounds a graceful shutdown unless the file's
// shutdown_timeout says otherwise: long enough for a refresh in flight
// (request_timeout, 10 s by default) to finish and its pair to be saved.
const DefaultShutdownTimeout = 30 * time.Second

// DefaultMaxReplayBody is the largest request body the proxy keeps so that
// it can replay the request after a 401.
const DefaultMaxReplayBody = 1 << 20

// DefaultMaxIdleConns is how many idle connections to its upstream a
// proxy keeps open unless the file's max_idle_conns says otherwise: as
// many as net/http's DefaultTransport keeps in all, where it keeps 2 per
// host, so that up to that many clients at once never wait for a new
// connection (on https, a TLS handshake).
const DefaultMaxIdleConns = 100

// Listen is a listening address: loopback TCP or a unix socket.
type Listen struct {
	// Network is "tcp" or "unix".
	Network string
	// Address is host:port (a loopback host) or the socket's path.
	Address string
}

// String returns the address as the file writes it: host:port or
// unix:PATH.
func (l Listen) String() string {
	if l.Network == "unix" {
		return "unix:" + l.Address
	}
	return l.Address
}

// Audit configures the audit log.
type Audit struct {
	// Path is the chained log, created with mode 0600 and verified before
	// it is extended.
	Path string
	// KeyFile, when set, holds the HMAC key of a keyed chain
	// (audit.ReadKeyFile).
	KeyFile string
}

// Profile is one token endpoint and session, with what the agent serves
// for it.
type Profile struct {
	Name string
	// TokenURL or Issuer (discovered, RFC 8414 / OpenID Connect) locates
	// the token endpoint.
	TokenURL, Issuer string
	AllowHTTP        bool
	ClientID         string
	// The client's authentication: at most one of a secret (from a file or
	// the environment), private_key_jwt, or an assertion file.
	ClientSecretFile, ClientSecretEnv string
	AuthStyle                         oauth.AuthStyle
	PrivateKeyJWT                     *PrivateKeyJWT
	AssertionFile, AssertionType      string
	// Grant is the grant requested (refresh_token by default).
	Grant oauth.Grant
	// RefreshTokenFile or RefreshTokenEnv seeds a refresh_token profile
	// whose store holds no pair yet.
	RefreshTokenFile, RefreshTokenEnv string
	// Login is how `authfsm login` logs the profile in; nil for none.
	Login *LoginConfig
	// RevocationURL is where `authfsm logout` revokes the profile's pair
	// (RFC 7009); empty means the issuer's revocation_endpoint.
	RevocationURL string
	// SubjectTokenFile (read at every request), SubjectTokenType and
	// RequestedTokenType parameterise a token exchange.
	SubjectTokenFile, SubjectTokenType, RequestedTokenType string
	Scopes                                                 []string
	Params                                                 url.Values
	// Session is the session block, a scenario's (declare.ParseNode):
	// `authfsm sim --profile` simulates it, and session.Declared runs it.
	Session declare.Session
	// Store keeps the token pair across restarts; nil for none.
	Store *Store
	// Proxy is the profile's reverse proxy; nil for none.
	Proxy *Proxy
	// Git names the hosts the git credential helper answers for, besides
	// the proxy's upstream (see GitHosts); nil for none.
	Git *Git
}

// PrivateKeyJWT configures private_key_jwt client authentication
// (oauth.PrivateKeyJWT).
type PrivateKeyJWT struct {
	KeyFile, KeyID, Audience string
}

// Proxy is a profile's reverse proxy.
type Proxy struct {
	Listen   Listen
	Upstream *url.URL
	// AllowedHosts may receive the token on a redirect
	// (session.Transport.AllowedHosts).
	AllowedHosts []string
	// MaxReplayBody is the largest request body kept for a replay.
	MaxReplayBody int64
	// MaxIdleConns is how many idle connections to the upstream are kept
	// for reuse (DefaultMaxIdleConns). It applies to the transport the
	// agent makes for the proxy, not to an Options.Upstream.
	MaxIdleConns int
}

// ConfigError is a problem in a configuration file, located by file, line
// and key. It never quotes a value of the file, which may be a secret
// written in the wrong place.
type ConfigError struct {
	File string
	Line int
	// Key is the dotted path of the offending key ("profiles.api.grant").
	Key string
	Msg string
}

// Error formats the problem as "agent: file:line: key: message".
func (e *ConfigError) Error() string {
	return yamlwalk.Message("agent", e.File, e.Line, e.Key, e.Msg)
}

// Load reads and parses the configuration file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &ConfigError{File: path, Msg: "cannot read: " + err.Error()}
	}
	return Parse(path, data)
}

// Parse parses and validates a configuration; file names it in errors, and
// relative paths in it are relative to file's directory. An error is a
// *ConfigError, or, when the file has problems in several top-level keys
// or profiles, their errors.Join, one *ConfigError for each (the first
// problem of each; Errors lists them).
func Parse(file string, data []byte) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// yaml.v3's syntax errors name a line and the construct, not the
		// file's text.
		return nil, &ConfigError{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, &ConfigError{File: file, Msg: "empty configuration"}
	}
	p := newParser(file)
	c := &Config{File: file, ShutdownTimeout: DefaultShutdownTimeout}
	p.config(doc.Content[0], c)
	problems := p.problems()
	switch len(problems) {
	case 0:
		return c, nil
	case 1:
		return nil, problems[0]
	}
	errs := make([]error, len(problems))
	for i, e := range problems {
		errs[i] = e
	}
	return nil, errors.Join(errs...)
}

// Errors returns the problems err reports: the *ConfigError values of a
// joined error (as Parse and Check return), or err itself.
func Errors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// Profile returns the profile called name; with name "", the only one.
func (c *Config) Profile(name string) (*Profile, error) {
	if name == "" {
		if len(c.Profiles) == 1 {
			return c.Profiles[0], nil
		}
		return nil, fmt.Errorf("agent: %s has %d profiles (%s): name one", c.File, len(c.Profiles), strings.Join(c.names(), ", "))
	}
	for _, p := range c.Profiles {
		if p.Name == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("agent: %s has no profile %q (it has %s)", c.File, name, strings.Join(c.names(), ", "))
}

func (c *Config) names() []string {
	var n []string
	for _, p := range c.Profiles {
		n = append(n, p.Name)
	}
	return n
}
