package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/sim"
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
	AuthStyle                         session.AuthStyle
	PrivateKeyJWT                     *PrivateKeyJWT
	AssertionFile, AssertionType      string
	// Grant is the grant requested (refresh_token by default).
	Grant session.Grant
	// RefreshTokenFile or RefreshTokenEnv seeds a refresh_token profile
	// whose store holds no pair yet.
	RefreshTokenFile, RefreshTokenEnv string
	// SubjectTokenFile (read at every request), SubjectTokenType and
	// RequestedTokenType parameterise a token exchange.
	SubjectTokenFile, SubjectTokenType, RequestedTokenType string
	Scopes                                                 []string
	Params                                                 url.Values
	// Session is the session block, a scenario's (sim.ParseSession).
	Session sim.Session
	// Store keeps the token pair across restarts; nil for none.
	Store *Store
	// Proxy is the profile's reverse proxy; nil for none.
	Proxy *Proxy
}

// PrivateKeyJWT configures private_key_jwt client authentication
// (session.PrivateKeyJWT).
type PrivateKeyJWT struct {
	KeyFile, KeyID, Audience string
}

// Store is where a profile's token pair is kept.
type Store struct {
	// Path is the file (session.FileStore), or the token family's file
	// with a coordinator.
	Path string
	// Coordinator "file" shares the pair with the other processes of the
	// host that use the same file (session.FileCoordinator); "" for none.
	Coordinator string
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
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Key == "" {
		return "agent: " + loc + ": " + e.Msg
	}
	return "agent: " + loc + ": " + e.Key + ": " + e.Msg
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
// relative paths in it are relative to file's directory.
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
	p := &cparser{file: file, dir: filepath.Dir(file)}
	c := &Config{File: file, ShutdownTimeout: DefaultShutdownTimeout}
	p.config(doc.Content[0], c)
	if p.err != nil {
		return nil, p.err
	}
	return c, nil
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

// cparser walks the YAML tree, keeping the first error. Its messages never
// quote a value.
type cparser struct {
	file, dir string
	err       *ConfigError
}

func (p *cparser) fail(n *yaml.Node, key, format string, args ...any) {
	if p.err == nil {
		line := 0
		if n != nil {
			line = n.Line
		}
		p.err = &ConfigError{File: p.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}
	}
}

// ckey is a known key: what to do with its value, or, for a key that would
// hold a secret inline, the message that refuses it.
type ckey struct {
	key    string
	set    func(n *yaml.Node, key string)
	refuse string
}

// inline refuses a secret written in the file itself.
func inline(key, instead string) ckey {
	return ckey{key: key, refuse: "an inline secret is refused: the configuration file is no place for one; use " + instead}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// mapping applies keys to the mapping n at path; unknown and repeated keys
// are errors. It returns the keys given, with their key nodes.
func (p *cparser) mapping(n *yaml.Node, path string, keys []ckey) map[string]*yaml.Node {
	seen := map[string]*yaml.Node{}
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		p.fail(n, path, "want a mapping, got %s", describe(n))
		return seen
	}
	for i := 0; i+1 < len(n.Content) && p.err == nil; i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		key := join(path, k.Value)
		if seen[k.Value] != nil {
			p.fail(k, key, "key given twice")
			break
		}
		seen[k.Value] = k
		i := slices.IndexFunc(keys, func(c ckey) bool { return c.key == k.Value })
		switch {
		case i < 0:
			names := make([]string, 0, len(keys))
			for _, c := range keys {
				if c.refuse == "" {
					names = append(names, c.key)
				}
			}
			p.fail(k, key, "unknown key (known: %s)", strings.Join(names, ", "))
		case keys[i].refuse != "":
			p.fail(k, key, "%s", keys[i].refuse)
		default:
			keys[i].set(v, key)
		}
	}
	return seen
}

func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

// describe names a node's kind without its value.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value"
	}
	return "nothing"
}

func (p *cparser) scalar(n *yaml.Node, key string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		p.fail(n, key, "want a single value, got %s", describe(n))
		return "", false
	}
	return n.Value, true
}

func (p *cparser) text(dst *string) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		if s, ok := p.scalar(n, key); ok {
			if s == "" {
				p.fail(n, key, "empty")
				return
			}
			*dst = s
		}
	}
}

// path reads a file name, relative to the configuration file's directory.
func (p *cparser) path(dst *string) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		var s string
		p.text(&s)(n, key)
		if s != "" {
			*dst = p.abs(s)
		}
	}
}

func (p *cparser) abs(s string) string {
	if filepath.IsAbs(s) {
		return s
	}
	return filepath.Join(p.dir, s)
}

func (p *cparser) boolean(dst *bool) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		s, ok := p.scalar(n, key)
		switch {
		case !ok:
		case s == "true":
			*dst = true
		case s == "false":
			*dst = false
		default:
			p.fail(n, key, "want true or false")
		}
	}
}

func (p *cparser) duration(dst *time.Duration, lo, hi time.Duration) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		s, ok := p.scalar(n, key)
		if !ok {
			return
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < lo || d > hi {
			p.fail(n, key, "want a Go duration from %v to %v, such as 30s", lo, hi)
			return
		}
		*dst = d
	}
}

func (p *cparser) strings(dst *[]string) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		if n.Kind != yaml.SequenceNode {
			p.fail(n, key, "want a list, got %s", describe(n))
			return
		}
		for i, item := range n.Content {
			var s string
			p.text(&s)(resolve(item), key+"["+strconv.Itoa(i)+"]")
			*dst = append(*dst, s)
		}
	}
}

// quoted matches a Go-quoted string in a message.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

var profileName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (p *cparser) config(n *yaml.Node, c *Config) {
	var level string
	given := p.mapping(n, "", []ckey{
		{key: "listen", set: func(n *yaml.Node, key string) { c.Listen = p.listen(n, key) }},
		{key: "audit", set: func(n *yaml.Node, key string) {
			c.Audit = &Audit{}
			p.mapping(n, key, []ckey{
				{key: "path", set: p.path(&c.Audit.Path)},
				{key: "key_file", set: p.path(&c.Audit.KeyFile)},
				inline("key", "key_file"),
			})
			if p.err == nil && c.Audit.Path == "" {
				p.fail(n, key+".path", "required")
			}
		}},
		{key: "shutdown_timeout", set: p.duration(&c.ShutdownTimeout, time.Second, time.Hour)},
		{key: "log_level", set: p.text(&level)},
		{key: "profiles", set: func(n *yaml.Node, key string) {
			if n.Kind != yaml.MappingNode {
				p.fail(n, key, "want a mapping of profile names to profiles, got %s", describe(n))
				return
			}
			for i := 0; i+1 < len(n.Content) && p.err == nil; i += 2 {
				k := n.Content[i]
				name := join(key, k.Value)
				if !profileName.MatchString(k.Value) {
					p.fail(k, name, "a profile's name is 1 to 64 letters, digits, '-' or '_'")
					return
				}
				for _, q := range c.Profiles {
					if q.Name == k.Value {
						p.fail(k, name, "profile given twice")
						return
					}
				}
				pr := &Profile{Name: k.Value}
				p.profile(resolve(n.Content[i+1]), name, pr)
				c.Profiles = append(c.Profiles, pr)
			}
		}},
	})
	if p.err != nil {
		return
	}
	if level != "" {
		if err := c.LogLevel.UnmarshalText([]byte(level)); err != nil {
			p.fail(given["log_level"], "log_level", "want debug, info, warn or error")
			return
		}
	}
	if len(c.Profiles) == 0 {
		p.fail(n, "profiles", "required: at least one profile")
		return
	}
	// Every address is taken once.
	seen := map[string]string{}
	claim := func(l *Listen, who string) {
		if l == nil || p.err != nil {
			return
		}
		key := l.String()
		if l.Network == "tcp" && strings.HasSuffix(l.Address, ":0") {
			return // a port chosen by the system each time
		}
		if other, ok := seen[key]; ok {
			p.fail(nil, who, "listens on %s, as %s does", key, other)
		}
		seen[key] = who
	}
	claim(c.Listen, "listen")
	served := c.Listen != nil
	for _, pr := range c.Profiles {
		if pr.Proxy != nil {
			claim(&pr.Proxy.Listen, "profiles."+pr.Name+".proxy.listen")
			served = true
		}
	}
	if p.err == nil && !served {
		p.fail(n, "listen", "nothing to serve: give listen (the token API) or a profile's proxy")
	}
}

// listen reads host:port (a loopback host) or unix:PATH.
func (p *cparser) listen(n *yaml.Node, key string) *Listen {
	s, ok := p.scalar(n, key)
	if !ok {
		return nil
	}
	l, msg := parseListen(s, p.dir)
	if msg != "" {
		p.fail(n, key, "%s", msg)
		return nil
	}
	return &l
}

// ParseListen reads an address as the configuration file writes it:
// host:port on loopback, or unix:PATH.
func ParseListen(s string) (Listen, error) {
	l, msg := parseListen(s, ".")
	if msg != "" {
		return Listen{}, errors.New(msg)
	}
	return l, nil
}

// parseListen reads host:port (a loopback host) or unix:PATH, a relative
// PATH being relative to dir; it returns what is wrong, never quoting s.
func parseListen(s, dir string) (Listen, string) {
	if path, ok := strings.CutPrefix(s, "unix:"); ok {
		if path == "" {
			return Listen{}, "unix: needs the socket's path"
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		return Listen{Network: "unix", Address: path}, ""
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return Listen{}, "want host:port on loopback (127.0.0.1:8180) or unix:PATH"
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return Listen{}, "the port is not a number from 0 to 65535"
	}
	if !loopback(host) {
		return Listen{}, "the agent listens on loopback only (127.0.0.1, [::1] or localhost) or a unix socket: the tokens it serves must not leave the host"
	}
	return Listen{Network: "tcp", Address: s}, ""
}

// loopback reports whether host is certainly this machine.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// grants maps the file's grant names to the session's.
var grants = map[string]session.Grant{
	"refresh_token":                    session.GrantRefreshToken,
	"client_credentials":               session.GrantClientCredentials,
	"token_exchange":                   session.GrantTokenExchange,
	string(session.GrantTokenExchange): session.GrantTokenExchange,
}

// credentialParams are parameter names whose values are credentials or
// that the agent sets itself: params may not carry them.
var credentialParams = []string{"client_secret", "client_assertion", "client_assertion_type", "assertion", "subject_token",
	"subject_token_type", "actor_token", "actor_token_type", "requested_token_type", "password", "refresh_token",
	"access_token", "grant_type", "scope", "client_id"}

func (p *cparser) profile(n *yaml.Node, path string, pr *Profile) {
	var grant, style string
	var sessionNode *yaml.Node
	given := p.mapping(n, path, []ckey{
		{key: "token_url", set: p.text(&pr.TokenURL)},
		{key: "issuer", set: p.text(&pr.Issuer)},
		{key: "allow_http", set: p.boolean(&pr.AllowHTTP)},
		{key: "client_id", set: p.text(&pr.ClientID)},
		inline("client_secret", "client_secret_file or client_secret_env"),
		{key: "client_secret_file", set: p.path(&pr.ClientSecretFile)},
		{key: "client_secret_env", set: p.text(&pr.ClientSecretEnv)},
		{key: "auth_style", set: p.text(&style)},
		{key: "private_key_jwt", set: func(n *yaml.Node, key string) {
			pr.PrivateKeyJWT = &PrivateKeyJWT{}
			p.mapping(n, key, []ckey{
				{key: "key_file", set: p.path(&pr.PrivateKeyJWT.KeyFile)},
				{key: "key_id", set: p.text(&pr.PrivateKeyJWT.KeyID)},
				{key: "audience", set: p.text(&pr.PrivateKeyJWT.Audience)},
				inline("key", "key_file"),
			})
			if p.err == nil && pr.PrivateKeyJWT.KeyFile == "" {
				p.fail(n, key+".key_file", "required")
			}
		}},
		inline("private_key", "private_key_jwt: {key_file: FILE}"),
		{key: "assertion_file", set: p.path(&pr.AssertionFile)},
		{key: "assertion_type", set: p.text(&pr.AssertionType)},
		inline("client_assertion", "assertion_file"),
		inline("assertion", "assertion_file"),
		{key: "grant", set: p.text(&grant)},
		inline("refresh_token", "refresh_token_file or refresh_token_env"),
		{key: "refresh_token_file", set: p.path(&pr.RefreshTokenFile)},
		{key: "refresh_token_env", set: p.text(&pr.RefreshTokenEnv)},
		inline("subject_token", "subject_token_file"),
		{key: "subject_token_file", set: p.path(&pr.SubjectTokenFile)},
		{key: "subject_token_type", set: p.text(&pr.SubjectTokenType)},
		{key: "requested_token_type", set: p.text(&pr.RequestedTokenType)},
		inline("access_token", "a grant and a store; the agent obtains its tokens itself"),
		inline("password", "a grant that needs no password in the file"),
		{key: "scopes", set: p.strings(&pr.Scopes)},
		{key: "params", set: func(n *yaml.Node, key string) { pr.Params = p.params(n, key) }},
		{key: "session", set: func(n *yaml.Node, key string) { sessionNode = n }},
		{key: "store", set: func(n *yaml.Node, key string) {
			pr.Store = &Store{}
			p.mapping(n, key, []ckey{
				{key: "path", set: p.path(&pr.Store.Path)},
				{key: "coordinator", set: p.text(&pr.Store.Coordinator)},
			})
			switch {
			case p.err != nil:
			case pr.Store.Path == "":
				p.fail(n, key+".path", "required")
			case pr.Store.Coordinator == "none":
				pr.Store.Coordinator = ""
			case pr.Store.Coordinator != "" && pr.Store.Coordinator != "file":
				p.fail(n, key+".coordinator", "want file or none (a Redis coordinator is for programs that embed the session package)")
			}
		}},
		{key: "proxy", set: func(n *yaml.Node, key string) { pr.Proxy = p.proxy(n, key) }},
	})
	if p.err != nil {
		return
	}
	s, err := sim.ParseSession(p.file, sessionNode, path+".session")
	if err != nil {
		var se *sim.Error
		if errors.As(err, &se) {
			// The simulator's messages quote values; this file's never do.
			p.err = &ConfigError{File: p.file, Line: se.Line, Key: se.Key, Msg: quoted.ReplaceAllString(se.Msg, "the value")}
		} else {
			p.fail(sessionNode, path+".session", "%v", err)
		}
		return
	}
	pr.Session = s
	at := func(key string) *yaml.Node {
		if k := given[key]; k != nil {
			return k
		}
		return n
	}
	if grant == "" {
		grant = "refresh_token"
	}
	g, ok := grants[grant]
	if !ok {
		p.fail(at("grant"), path+".grant", "want refresh_token, client_credentials or token_exchange")
		return
	}
	pr.Grant = g
	switch style {
	case "", "basic":
		pr.AuthStyle = session.AuthBasic
	case "body":
		pr.AuthStyle = session.AuthBody
	default:
		p.fail(at("auth_style"), path+".auth_style", "want basic or body")
		return
	}
	count := func(keys ...string) (n int, names []string) {
		for _, k := range keys {
			if given[k] != nil {
				n++
				names = append(names, k)
			}
		}
		return n, names
	}
	auth, authKeys := count("client_secret_file", "client_secret_env", "private_key_jwt", "assertion_file")
	switch {
	case (pr.TokenURL == "") == (pr.Issuer == ""):
		p.fail(n, path+".token_url", "give token_url or issuer (discovered), one of them")
	case auth > 1:
		p.fail(at(authKeys[1]), path+"."+authKeys[1], "%s authenticates the client already; give one of client_secret_file, client_secret_env, private_key_jwt, assertion_file", authKeys[0])
	case given["assertion_type"] != nil && given["assertion_file"] == nil:
		p.fail(at("assertion_type"), path+".assertion_type", "applies with assertion_file only")
	case auth > 0 && pr.ClientID == "":
		p.fail(n, path+".client_id", "required with %s", authKeys[0])
	case pr.Grant == session.GrantClientCredentials && pr.ClientID == "":
		p.fail(n, path+".client_id", "required by the client_credentials grant")
	case pr.Grant == session.GrantRefreshToken && pr.Store == nil:
		p.fail(n, path+".store", "required by the refresh_token grant: a rotated refresh token must outlive the agent")
	case pr.Grant != session.GrantRefreshToken && (pr.RefreshTokenFile != "" || pr.RefreshTokenEnv != ""):
		p.fail(n, path+".refresh_token_file", "refresh_token_file and refresh_token_env apply to the refresh_token grant only")
	case pr.RefreshTokenFile != "" && pr.RefreshTokenEnv != "":
		p.fail(at("refresh_token_env"), path+".refresh_token_env", "give refresh_token_file or refresh_token_env, not both")
	case pr.Grant == session.GrantTokenExchange && pr.SubjectTokenFile == "":
		p.fail(n, path+".subject_token_file", "required by the token_exchange grant")
	case pr.Grant != session.GrantTokenExchange && (pr.SubjectTokenFile != "" || pr.SubjectTokenType != "" || pr.RequestedTokenType != ""):
		p.fail(n, path+".subject_token_file", "subject_token_file, subject_token_type and requested_token_type apply to the token_exchange grant only")
	case pr.Session.Fallback && auth == 0:
		p.fail(n, path+".session.fallback", "the client_credentials fallback needs the client's authentication (client_secret_file, client_secret_env, private_key_jwt or assertion_file)")
	case pr.Session.Fallback && pr.ClientID == "":
		p.fail(n, path+".client_id", "required by the client_credentials fallback")
	}
	if pr.Grant == session.GrantTokenExchange && pr.SubjectTokenType == "" {
		pr.SubjectTokenType = session.TokenTypeJWT
	}
	for _, u := range []struct{ key, raw string }{{"token_url", pr.TokenURL}, {"issuer", pr.Issuer}} {
		if u.raw != "" && p.err == nil {
			p.checkURL(at(u.key), path+"."+u.key, u.raw, pr.AllowHTTP)
		}
	}
}

// checkURL checks a URL without quoting it: it may carry a secret.
func (p *cparser) checkURL(n *yaml.Node, key, raw string, allowHTTP bool) *url.URL {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		p.fail(n, key, "not an absolute URL")
	case u.User != nil:
		p.fail(n, key, "a URL with user information is refused: credentials belong in files")
	case u.Scheme == "https":
		return u
	case u.Scheme == "http" && (allowHTTP || loopback(u.Hostname())):
		return u
	case u.Scheme == "http":
		p.fail(n, key, "plain HTTP to another host would send tokens in clear; use https (or allow_http: true)")
	default:
		p.fail(n, key, "the scheme must be https")
	}
	return nil
}

func (p *cparser) params(n *yaml.Node, key string) url.Values {
	v := url.Values{}
	if n.Kind != yaml.MappingNode {
		p.fail(n, key, "want a mapping of names to values, got %s", describe(n))
		return v
	}
	for i := 0; i+1 < len(n.Content) && p.err == nil; i += 2 {
		k, val := n.Content[i], resolve(n.Content[i+1])
		name := join(key, k.Value)
		if slices.Contains(credentialParams, k.Value) {
			p.fail(k, name, "refused: the agent sets it from the profile's other keys, and credentials belong in files")
			return v
		}
		if v.Has(k.Value) {
			p.fail(k, name, "key given twice")
			return v
		}
		if val.Kind == yaml.SequenceNode {
			var list []string
			p.strings(&list)(val, name)
			v[k.Value] = list
			continue
		}
		var s string
		p.text(&s)(val, name)
		v.Set(k.Value, s)
	}
	return v
}

func (p *cparser) proxy(n *yaml.Node, key string) *Proxy {
	px := &Proxy{MaxReplayBody: DefaultMaxReplayBody}
	var upstream string
	var allowHTTP bool
	var maxBody int
	given := p.mapping(n, key, []ckey{
		{key: "listen", set: func(n *yaml.Node, k string) {
			if l := p.listen(n, k); l != nil {
				px.Listen = *l
			}
		}},
		{key: "upstream", set: p.text(&upstream)},
		{key: "allow_http", set: p.boolean(&allowHTTP)},
		{key: "allowed_hosts", set: p.strings(&px.AllowedHosts)},
		{key: "max_replay_body", set: func(n *yaml.Node, k string) {
			s, ok := p.scalar(n, k)
			if !ok {
				return
			}
			v, err := strconv.Atoi(s)
			if err != nil || v < 0 || v > 64<<20 {
				p.fail(n, k, "want a number of bytes from 0 to %d", 64<<20)
				return
			}
			maxBody = v
		}},
	})
	switch {
	case p.err != nil:
		return nil
	case given["listen"] == nil:
		p.fail(n, key+".listen", "required")
	case upstream == "":
		p.fail(n, key+".upstream", "required")
	}
	if p.err != nil {
		return nil
	}
	if given["max_replay_body"] != nil {
		px.MaxReplayBody = int64(maxBody)
	}
	u := p.checkURL(given["upstream"], key+".upstream", upstream, allowHTTP)
	if u != nil && (u.RawQuery != "" || u.Fragment != "") {
		p.fail(given["upstream"], key+".upstream", "a query or fragment does not apply to a proxy's upstream")
	}
	px.Upstream = u
	return px
}
