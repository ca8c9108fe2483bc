package agent

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/coordinator/rediscore"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/hooks"
	"github.com/authfsm/authfsm/session/login"
	"github.com/authfsm/authfsm/session/oauth"
	"github.com/authfsm/authfsm/session/throttle"
)

// Options are what New takes besides the configuration; the zero value
// is what `authfsm agent` uses.
type Options struct {
	// Logger receives the agent's and the sessions' log lines (never a
	// secret); nil discards them.
	Logger *slog.Logger
	// Getenv reads the environment for client_secret_env and
	// refresh_token_env; nil means os.Getenv.
	Getenv func(string) string
	// HTTPClient sends the token requests; nil means the session package's
	// default (no redirects followed).
	HTTPClient *http.Client
	// Upstream sends the proxies' requests; nil means a transport of each
	// proxy's own, with http.DefaultTransport's settings but keeping the
	// proxy's max_idle_conns idle connections to its upstream.
	Upstream http.RoundTripper
	// Clock is the sessions' clock and the one /v1/token's handover waits
	// on; nil means the real one (clock.New). Tests set a mock.
	Clock clock.Clock
}

// Agent keeps one session per profile and serves them. Create it with New,
// run it with Serve, stop it with Shutdown (or by ending Serve's context).
type Agent struct {
	cfg      *Config
	opts     Options
	log      *slog.Logger
	profiles []*profile
	chain    *audit.ChainWriter
	servers  []*server
	redis    map[string]*rediscore.Client // by profile, for a Redis store

	shutdownOnce sync.Once
	shutdownErr  error
}

// profile is a running profile.
type profile struct {
	cfg     *Profile
	s       *session.Session
	wait    time.Duration // wait_for_refresh
	clock   clock.Clock
	changes changes // the session's transitions, for serve's handover
	n       counters
	// upstream is the transport the proxy sends through, when the agent
	// made it (Options.Upstream nil): its idle connections are closed at
	// shutdown.
	upstream *http.Transport
}

// counters are a profile's metrics (metrics.go writes them).
type counters struct {
	tokenServed, tokenUnavailable, tokenRefused         atomic.Int64
	proxyForwarded, proxyUnavailable, proxyUpstreamFail atomic.Int64
	proxyRefused, throttled                             atomic.Int64
	rejected, rejectedStale                             atomic.Int64                     // POST /v1/token/reject
	handovers                                           atomic.Int64                     // /v1/token waits for a replacement
	refresh                                             [policy.Suspect + 1]atomic.Int64 // by policy.Class

	mu          sync.Mutex
	durations   []uint64 // refresh requests by bucket of ops.DefaultDurationBuckets, the last +Inf
	durationSum float64  // seconds
	storeErrors map[string]uint64
}

// server is one listener and what it serves.
type server struct {
	name string // "" for the API, or the profile whose proxy it is
	l    Listen
	ln   net.Listener
	srv  *http.Server
}

// New starts the agent's sessions and opens its listeners; Serve serves
// them. It reads the profiles' secrets (and checks their key and assertion
// files, and a Redis store's password and CA file), opens and verifies the
// audit log, binds every listener before any session sends a request, then
// starts one session per profile, each loading its pair from its store, a
// file or a Redis family (or seeding it from refresh_token_file). On an
// error nothing is left open.
func New(ctx context.Context, cfg *Config, opts Options) (a *Agent, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.Clock == nil {
		opts.Clock = clock.New()
	}
	ag := &Agent{cfg: cfg, opts: opts, log: opts.Logger}
	a = ag
	defer func() {
		if err != nil {
			ag.closeAll(context.Background())
			a = nil
		}
	}()
	endpoints := make([]oauth.Endpoint, len(cfg.Profiles))
	a.redis = map[string]*rediscore.Client{}
	for i, pr := range cfg.Profiles {
		e, err := pr.endpoint(cfg.File, &a.opts)
		if err != nil {
			return nil, profileError(pr.Name, err)
		}
		endpoints[i] = e
		rc, err := pr.redisClient(cfg.File, &a.opts)
		if err != nil {
			return nil, profileError(pr.Name, err)
		}
		if rc != nil {
			a.redis[pr.Name] = rc
		}
	}
	if cfg.Listen != nil {
		if err := a.bind("", *cfg.Listen); err != nil {
			return nil, err
		}
	}
	for _, pr := range cfg.Profiles {
		if pr.Proxy != nil {
			if err := a.bind(pr.Name, pr.Proxy.Listen); err != nil {
				return nil, err
			}
		}
	}
	if au := cfg.Audit; au != nil {
		var aopts []audit.Option
		if au.KeyFile != "" {
			key, err := readAuditKey(cfg.File, au.KeyFile)
			if err != nil {
				return nil, err
			}
			aopts = append(aopts, audit.WithKey(key))
		}
		c, err := audit.OpenChainFile(au.Path, aopts...)
		if err != nil {
			return nil, fmt.Errorf("agent: %w", err)
		}
		a.chain = c
	}
	throttles := map[string]*throttle.Throttle{}
	for i, pr := range cfg.Profiles {
		p, err := a.start(ctx, pr, endpoints[i], throttles)
		if err != nil {
			return nil, profileError(pr.Name, err)
		}
		a.profiles = append(a.profiles, p)
	}
	for _, s := range a.servers {
		if s.name == "" {
			s.srv.Handler = a.apiHandler(s.l.Network == "tcp")
		} else {
			s.srv.Handler = a.proxyHandler(a.profile(s.name), s.l.Network == "tcp")
		}
	}
	return a, nil
}

// profileError places err in the profile it concerns; a *ConfigError
// names the profile's key already.
func profileError(name string, err error) error {
	if target := (*ConfigError)(nil); errors.As(err, &target) {
		return err
	}
	return fmt.Errorf("agent: profile %s: %w", name, err)
}

// bind opens a listener for name.
func (a *Agent) bind(name string, l Listen) error {
	ln, err := listen(l)
	if err != nil {
		what := "the API"
		if name != "" {
			what = "profile " + name + "'s proxy"
		}
		return fmt.Errorf("agent: listening for %s on %s: %w", what, l, err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, ErrorLog: a.serverLog()}
	a.servers = append(a.servers, &server{name: name, l: l, ln: ln, srv: srv})
	return nil
}

// start creates the session of a profile.
func (a *Agent) start(ctx context.Context, pr *Profile, e oauth.Endpoint, throttles map[string]*throttle.Throttle) (*profile, error) {
	p := &profile{cfg: pr, wait: pr.Session.WaitForRefresh, clock: a.opts.Clock}
	client, err := oauth.NewClient(pr.loginEndpoint(e))
	if err != nil {
		return nil, err
	}
	opts, err := session.Declared(pr.Session)
	if err != nil {
		return nil, err
	}
	opts = append(opts, session.WithID(pr.Name), session.WithLogger(a.log.With("profile", pr.Name)),
		session.WithClock(a.opts.Clock),
		session.WithHooks(hooks.Hooks{
			Transition:  func(audit.Record) { p.changes.notify() },
			RequestDone: p.n.requestDone,
			StoreError:  p.n.storeError,
			Throttled:   func(hooks.Throttled) { p.n.throttled.Add(1) },
		}))
	if a.chain != nil {
		opts = append(opts, session.WithAudit(a.chain))
	}
	if pr.Login != nil {
		// authfsm login publishes the pair to the profile's store, which
		// the session watches.
		opts = append(opts, session.WithLogin(login.Elsewhere(loginHint(a.cfg.File, pr.Name))))
	}
	if pr.Session.Fallback {
		fe := e
		fe.Grant, fe.SubjectToken, fe.ActorToken, fe.RequestedTokenType = oauth.GrantClientCredentials, nil, nil, ""
		fb, err := oauth.NewClient(fe)
		if err != nil {
			return nil, fmt.Errorf("the fallback grant: %w", err)
		}
		opts = append(opts, session.WithFallback(fb))
	}
	if th := pr.Session.Throttle; th.Kind != "" && th.Kind != policy.ThrottleNone {
		// One throttle per token endpoint and settings, shared by the
		// profiles that use both.
		key := fmt.Sprintf("%s|%s|%+v", pr.TokenURL, pr.Issuer, th)
		t := throttles[key]
		if t == nil {
			if t, err = throttle.New(th, uint64(time.Now().UnixNano())); err != nil {
				return nil, err
			}
			throttles[key] = t
		}
		opts = append(opts, session.WithThrottle(t))
	}
	sopts, initial, err := a.storeOptions(ctx, pr, a.redis[pr.Name])
	if err != nil {
		return nil, err
	}
	opts = append(opts, sopts...)
	s, err := session.New(ctx, client, initial, opts...)
	if err != nil {
		return nil, err
	}
	p.s = s
	// A session without a usable token waits for the first demand; the
	// agent's first client should not have to.
	go s.Token(context.WithoutCancel(ctx))
	return p, nil
}

// seed returns the pair that starts a refresh_token profile whose store
// holds none: its refresh_token_file's or refresh_token_env's.
func (a *Agent) seed(pr *Profile) (session.Token, error) {
	rt, err := pr.seedOf(a.cfg.File, &a.opts)
	if err != nil {
		return session.Token{}, err
	}
	if rt == "" {
		a.log.Warn("the token store holds no pair: the profile needs a login", "profile", pr.Name, "store", pr.Store.String(),
			"login", loginHint(a.cfg.File, pr.Name))
		return session.Token{}, nil
	}
	a.log.Info("seeding the token store from the profile's refresh token", "profile", pr.Name, "store", pr.Store.String())
	return session.Token{Refresh: rt}, nil
}

// serverLog is the log of net/http's own complaints.
func (a *Agent) serverLog() *log.Logger { return slog.NewLogLogger(a.log.Handler(), slog.LevelWarn) }

func (a *Agent) profile(name string) *profile {
	for _, p := range a.profiles {
		if p.cfg.Name == name {
			return p
		}
	}
	return nil
}

// Addr returns the address the API (name "") or a profile's proxy (its
// name) listens on, or nil.
func (a *Agent) Addr(name string) net.Addr {
	for _, s := range a.servers {
		if s.name == name {
			return s.ln.Addr()
		}
	}
	return nil
}

// Session returns a profile's session, or nil.
func (a *Agent) Session(name string) *session.Session {
	if p := a.profile(name); p != nil {
		return p.s
	}
	return nil
}

// Serve serves every listener until ctx ends (a SIGINT or SIGTERM, for
// `authfsm agent`) or a listener fails, then shuts the agent down within
// the configuration's shutdown_timeout and returns Shutdown's error, or
// the listener's.
func (a *Agent) Serve(ctx context.Context) error {
	failed := make(chan error, len(a.servers))
	for _, s := range a.servers {
		what := "api"
		if s.name != "" {
			what = "proxy of " + s.name
		}
		a.log.Info("listening", "for", what, "on", s.l.String())
		go func() {
			if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
				failed <- fmt.Errorf("agent: serving the %s on %s: %w", what, s.l, err)
			}
		}()
	}
	var serr error
	select {
	case <-ctx.Done():
		a.log.Info("shutting down", "cause", context.Cause(ctx))
	case serr = <-failed:
		a.log.Error("a listener failed; shutting down", "err", serr)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ShutdownTimeout)
	defer cancel()
	return errors.Join(serr, a.Shutdown(sctx))
}

// Shutdown stops the agent gracefully: the listeners stop accepting and
// the requests under way finish (within half of ctx's time), then each
// session shuts down, letting a refresh in flight finish and saving the
// newest token pair to its store, and the audit log is closed. Later calls
// return the first one's result.
func (a *Agent) Shutdown(ctx context.Context) error {
	a.shutdownOnce.Do(func() { a.shutdownErr = a.closeAll(ctx) })
	return a.shutdownErr
}

func (a *Agent) closeAll(ctx context.Context) error {
	var errs []error
	sctx, cancel := ctx, context.CancelFunc(func() {})
	if dl, ok := ctx.Deadline(); ok {
		sctx, cancel = context.WithDeadline(ctx, time.Now().Add(time.Until(dl)/2))
	}
	var wg sync.WaitGroup
	for _, s := range a.servers {
		wg.Go(func() {
			if err := s.srv.Shutdown(sctx); err != nil {
				s.srv.Close()
			}
			s.ln.Close() // when Serve never ran; a unix socket's file goes with it
		})
	}
	wg.Wait()
	cancel()
	for _, p := range a.profiles {
		if p.upstream != nil {
			p.upstream.CloseIdleConnections()
		}
	}
	var mu sync.Mutex
	for _, p := range a.profiles {
		wg.Go(func() {
			err := p.s.Shutdown(ctx)
			st := p.s.Status()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("agent: profile %s: %w", p.cfg.Name, err))
				a.log.Error("session shut down with an error", "profile", p.cfg.Name, "state", st.State.String(), "err", err)
				return
			}
			a.log.Info("session shut down", "profile", p.cfg.Name, "state", st.State.String(), "token", st.Token)
		})
	}
	wg.Wait()
	for _, rc := range a.redis {
		rc.Close()
	}
	if a.chain != nil {
		a.log.Info("audit log closed", "path", a.cfg.Audit.Path, "head", a.chain.Head().String())
		if err := a.chain.Close(); err != nil {
			errs = append(errs, fmt.Errorf("agent: closing the audit log: %w", err))
		}
	}
	return errors.Join(errs...)
}
