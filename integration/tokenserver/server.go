// Package tokenserver is a test OAuth2 authorization server built on
// github.com/ory/fosite, the production-grade implementation authfsm is tested
// against. It issues short-lived access tokens and refresh tokens that rotate
// on every use; presenting a retired refresh token is answered 400
// invalid_grant and revokes the whole token family, as fosite does. A
// protected resource answers 401 invalid_token for expired or revoked access
// tokens.
//
// The authorization server (the token endpoint) can be stopped and restarted
// on the same port while the token storage survives — a backend pod restart
// behind a proxy — and it can be told to answer late or never (see Fault).
// The protected resource is a separate listener that stays up meanwhile, as
// a resource server is a separate service. Counters and a request log let
// tests check what reached the server.
//
// Besides the one client with a secret, clients that authenticate with
// private_key_jwt can be registered (Config.KeyClients), and SetIssuer gives
// the server the public identity its clients discover it by: RFC 8414 and
// OpenID Connect metadata under nginx's URL.
package tokenserver

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/storage"
	"golang.org/x/crypto/bcrypt"
)

// Paths served by the Server.
const (
	TokenPath    = "/oauth2/token"
	ResourcePath = "/resource"
)

// Config parameterises a Server. Zero fields take the defaults below.
type Config struct {
	// AccessTokenLifespan defaults to 3s. fosite rounds expiry instants to
	// whole seconds and expires_in is truncated, so clients see 2 or 3.
	AccessTokenLifespan time.Duration
	// RefreshTokenLifespan defaults to one hour.
	RefreshTokenLifespan time.Duration
	// ClientID and ClientSecret identify the one registered client
	// (defaults "authfsm-it" and "it-client-secret").
	ClientID, ClientSecret string
	// Username and Password are the resource owner's credentials for the
	// password grant that Login uses (defaults "alice" and "it-password").
	Username, Password string
	// ReuseGrace is how long a rotated refresh token is still accepted
	// (graceful rotation, as Hydra's refresh-token rotation grace period,
	// Auth0's reuse interval or Okta's grace period): presenting it again
	// within ReuseGrace of its rotation is answered with a new pair, which
	// retires the pair its first use issued. Outside the grace, or once the
	// family was revoked, it is reuse as before. Zero (the default) accepts
	// no rotated token, which is fosite's own behaviour.
	ReuseGrace time.Duration
	// KeyClients are further clients, which authenticate with
	// private_key_jwt instead of a secret.
	KeyClients []KeyClient
}

func (c *Config) defaults() {
	if c.AccessTokenLifespan <= 0 {
		c.AccessTokenLifespan = 3 * time.Second
	}
	if c.RefreshTokenLifespan <= 0 {
		c.RefreshTokenLifespan = time.Hour
	}
	if c.ClientID == "" {
		c.ClientID = "authfsm-it"
	}
	if c.ClientSecret == "" {
		c.ClientSecret = "it-client-secret"
	}
	if c.Username == "" {
		c.Username = "alice"
	}
	if c.Password == "" {
		c.Password = "it-password"
	}
}

// Server is the authorization server plus the protected resource. It is
// safe for concurrent use.
type Server struct {
	cfg      Config
	provider fosite.OAuth2Provider
	store    *countingStore
	// fositeMu serialises token endpoint processing: fosite's MemoryStore
	// marks refresh tokens inactive without holding the lock its readers
	// take, which the race detector rightly reports under concurrent
	// refreshes. Real servers use a transactional store; serialising gives
	// the same semantics here.
	fositeMu sync.Mutex

	mu   sync.Mutex // guards the fields below
	addr string     // fixed after the first Start, so restarts keep the port
	hs   *http.Server
	stop chan struct{} // closed by Stop; releases delayed and hanging handlers
	done chan struct{} // closed when Serve returned
	// resource is the protected resource's server, started with the first
	// Start and closed only by Close.
	resource     *http.Server
	resourceAddr string
	resourceDone chan struct{}

	faultMu sync.Mutex
	fault   Fault

	pubMu sync.Mutex
	pub   public // see SetIssuer

	stats stats
}

// New returns a stopped Server for cfg.
func New(cfg Config) (*Server, error) {
	cfg.defaults()
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("tokenserver: %w", err)
	}
	// bcrypt at its minimum cost keeps each token request around a
	// millisecond; fosite's default cost (12) would dominate the timings.
	hash, err := bcrypt.GenerateFromPassword([]byte(cfg.ClientSecret), bcrypt.MinCost)
	if err != nil {
		return nil, fmt.Errorf("tokenserver: hashing client secret: %w", err)
	}
	fcfg := &fosite.Config{
		AccessTokenLifespan:  cfg.AccessTokenLifespan,
		RefreshTokenLifespan: cfg.RefreshTokenLifespan,
		GlobalSecret:         secret,
		HashCost:             bcrypt.MinCost,
		// The authorization code grant (see AuthPath): a public client
		// must use PKCE, and with S256.
		EnforcePKCEForPublicClients: true,
	}
	store := &countingStore{MemoryStore: storage.NewMemoryStore(), grace: cfg.ReuseGrace, rotated: map[string]time.Time{},
		revoked: map[string]bool{}}
	store.Clients[cfg.ClientID] = &fosite.DefaultClient{
		ID:         cfg.ClientID,
		Secret:     hash,
		GrantTypes: []string{"password", "refresh_token", "client_credentials"},
		Scopes:     []string{"offline", "api"},
	}
	for _, kc := range cfg.KeyClients {
		if _, dup := store.Clients[kc.ID]; dup {
			return nil, fmt.Errorf("tokenserver: client %s registered twice", kc.ID)
		}
		if err := kc.register(store.Clients); err != nil {
			return nil, err
		}
	}
	if err := registerLoginClients(store.Clients); err != nil {
		return nil, err
	}
	store.Users[cfg.Username] = storage.MemoryUserRelation{Username: cfg.Username, Password: cfg.Password}
	provider := compose.Compose(fcfg, store, compose.NewOAuth2HMACStrategy(fcfg),
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2PKCEFactory,
		compose.OAuth2ResourceOwnerPasswordCredentialsFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
	)
	s := &Server{cfg: cfg, provider: provider, store: store}
	// Client assertions name the token endpoint's URL as their audience,
	// which is nginx's once SetIssuer says so: fosite reads its token URLs
	// from the provider's Configurator, so that one answers from the
	// Server's public identity.
	provider.(*fosite.Fosite).Config = fositeConfig{Config: fcfg, s: s}
	return s, nil
}

// ClientID returns the registered client's id.
func (s *Server) ClientID() string { return s.cfg.ClientID }

// ClientSecret returns the registered client's secret.
func (s *Server) ClientSecret() string { return s.cfg.ClientSecret }

// Start listens on 127.0.0.1 — on a free port the first time, on the same
// port afterwards — and serves the token endpoint until Stop. The first
// Start also starts the protected resource on a port of its own.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hs != nil {
		return errors.New("tokenserver: already running")
	}
	if s.resource == nil {
		mux := http.NewServeMux()
		mux.HandleFunc("GET "+ResourcePath, s.serveResource)
		hs, addr, done, err := serve("127.0.0.1:0", mux)
		if err != nil {
			return err
		}
		s.resource, s.resourceAddr, s.resourceDone = hs, addr, done
	}
	addr := s.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	stop := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+TokenPath, func(w http.ResponseWriter, r *http.Request) { s.serveToken(w, r, stop) })
	mux.HandleFunc("POST "+RevokePath, s.serveRevoke)
	mux.HandleFunc("GET "+AuthPath, s.serveAuthorize)
	mux.HandleFunc("POST "+AuthPath, s.serveAuthorize)
	mux.HandleFunc("POST /", s.servePost(stop)) // the token endpoint under the issuer's path
	mux.HandleFunc("GET /", s.serveGet)         // the metadata documents
	hs, addr, done, err := serve(addr, mux)
	if err != nil {
		return err
	}
	s.addr, s.hs, s.stop, s.done = addr, hs, stop, done
	return nil
}

func serve(addr string, h http.Handler) (*http.Server, string, chan struct{}, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", nil, fmt.Errorf("tokenserver: listen on %s: %w", addr, err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hs.Serve(ln) // returns http.ErrServerClosed after Close
	}()
	return hs, ln.Addr().String(), done, nil
}

// Stop closes the token endpoint's listener and every connection, as a
// crashing backend would; requests in progress get no answer. Token storage
// is kept, so a later Start resumes the same sessions, and the protected
// resource keeps serving. Stop on a stopped Server is a no-op.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hs == nil {
		return nil
	}
	close(s.stop)
	err := s.hs.Close()
	<-s.done
	s.hs = nil
	return err
}

// Close stops the token endpoint and the protected resource.
func (s *Server) Close() error {
	err := s.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.resource != nil {
		err = errors.Join(err, s.resource.Close())
		<-s.resourceDone
		s.resource = nil
	}
	return err
}

// Running reports whether the server is serving.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hs != nil
}

// Addr returns host:port, known after the first Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// URL returns the base URL of the token endpoint's server (no trailing
// slash).
func (s *Server) URL() string { return "http://" + s.Addr() }

// ResourceAddr returns the protected resource's host:port, known after the
// first Start.
func (s *Server) ResourceAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resourceAddr
}

// ResourceURL returns the protected resource's URL.
func (s *Server) ResourceURL() string { return "http://" + s.ResourceAddr() + ResourcePath }

// Login performs a password grant with the offline scope directly against
// the server and returns the first token pair of a new token family.
func (s *Server) Login(ctx context.Context) (TokenResponse, error) {
	form := url.Values{
		"grant_type": {"password"},
		"username":   {s.cfg.Username},
		"password":   {s.cfg.Password},
		"scope":      {"offline api"},
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	return RequestToken(ctx, hc, s.URL()+TokenPath, s.cfg.ClientID, s.cfg.ClientSecret, form)
}
