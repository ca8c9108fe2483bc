package conform

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/hooks"
	"github.com/authfsm/authfsm/session/login"
	"github.com/authfsm/authfsm/session/oauth"
	"github.com/authfsm/authfsm/session/throttle"
	"github.com/authfsm/authfsm/sim"
	"github.com/authfsm/authfsm/sim/simserver"
	"github.com/authfsm/authfsm/states"
)

// The URLs the runtime's sessions and calls use; Transport delivers them
// to the scenario's server in process, whatever the host.
const (
	tokenURL    = "https://token.scenario.invalid" + simserver.TokenPath
	resourceURL = "https://api.scenario.invalid" + simserver.ResourcePath
)

// runtime is one run of a scenario through real sessions: one process per
// session of the fleet, each with its session.Session (a new one after a
// crash), its token-endpoint Client and its application, all on one
// Clock, against the scenario's server model.
type runtime struct {
	sc   *sim.Scenario
	clk  *Clock
	view View
	srv  *simserver.Server
	base http.RoundTripper
	// declared are the session block's options (session.Declared).
	declared []session.Option
	thr      *throttle.Throttle
	stores   []*store
	procs    []*process

	mu    sync.Mutex
	trans [][]Transition
	ended bool
	// denied lists the families a session of which was denied (revoked by
	// a refusal), for the family outcomes.
	denied map[int]bool
}

// process is one process of the fleet: the current incarnation of its
// session, and its application.
type process struct {
	r     *runtime
	i     int
	seed  uint64
	start time.Duration
	s     *session.Session
	// tok is the pair the process was given at its start (none without a
	// token), which it is given again when it starts after a crash.
	tok  session.Token
	inc  int  // the incarnation; a crash ends it, a restart opens the next
	down bool // crashed, not restarted yet: its application's calls fail
	hc   *http.Client
	// own is the process's own token store, without a shared one, when
	// the scenario crashes processes.
	own *session.MemoryStore
	// crashed holds the sessions of crashed incarnations, closed at the end.
	crashed []*session.Session
}

// crashes reports whether sc crashes processes (crash_holder).
func crashes(sc *sim.Scenario) bool {
	for _, f := range sc.Server.Faults {
		if f.Kind == sim.FaultCrashHolder {
			return true
		}
	}
	return false
}

// runRuntime runs sc through the runtime and returns each session's
// transitions and the families lost.
func runRuntime(sc *sim.Scenario) (trans [][]Transition, lost int, err error) {
	clk := NewClock(sim.Epoch())
	r := &runtime{sc: sc, clk: clk, view: View{Clock: clk, Offset: sc.ClockSkew},
		trans: make([][]Transition, sc.Fleet.Sessions), denied: map[int]bool{}}
	if r.srv, err = simserver.New(sc, clk); err != nil {
		return nil, 0, err
	}
	r.base = r.srv.Transport()
	// The session block as the runtime runs any declared session; a spec
	// edited after Parse into one that does not build gets the default
	// policy, as the simulator gives it.
	if r.declared, err = session.Declared(sc.Session); err != nil {
		d := sc.Session
		d.Policy = policy.DefaultSpec()
		if r.declared, err = session.Declared(d); err != nil {
			return nil, 0, err
		}
	}
	if sc.Session.Throttle.Kind == policy.ThrottleAdaptive {
		if r.thr, err = throttle.New(sc.Session.Throttle, sc.Seed); err != nil {
			return nil, 0, err
		}
	}
	if sc.Fleet.Families > 0 && sc.Share.Kind == sim.ShareStore {
		down := func(at time.Duration) bool { return window(sc, sim.FaultStoreDown, at) != nil }
		for range sc.Families() {
			r.stores = append(r.stores, newStore(clk, sc.Share.Latency, down))
		}
	}
	sim.EachSession(sc, func(i int, seed uint64, start time.Duration) {
		p := &process{r: r, i: i, seed: seed, start: start}
		if r.stores == nil && crashes(sc) {
			// A process restarts with its own copy of the pair: the one
			// its session saved last.
			p.own = &session.MemoryStore{}
		}
		r.procs = append(r.procs, p)
		clk.At(start, p.begin)
	})
	for _, w := range sc.Workload {
		if w.Kind == sim.WorkLogin {
			clk.At(w.At, r.login)
		}
	}
	runErr := clk.Run(sc.Duration)
	r.mu.Lock()
	r.ended = true
	r.mu.Unlock()
	clk.Stop()
	if runErr != nil {
		return nil, 0, runErr // a stalled run's sessions may never close
	}
	for _, p := range r.procs {
		r.mu.Lock()
		all := append(p.crashed, p.s)
		r.mu.Unlock()
		for _, s := range all {
			if s != nil {
				s.Close()
			}
		}
	}
	lostSet := map[int]bool{}
	for f := range r.denied {
		lostSet[f] = true
	}
	for _, f := range r.srv.Stats().RevokedFamilies {
		lostSet[f] = true
	}
	return r.trans, len(lostSet), nil
}

// window returns the first fault of kind k in effect at t, or nil.
func window(sc *sim.Scenario, k sim.FaultKind, t time.Duration) *sim.Fault {
	for i := range sc.Server.Faults {
		if f := &sc.Server.Faults[i]; f.Kind == k && f.From <= t && t < f.To {
			return f
		}
	}
	return nil
}

// begin starts the process at its start, with a fresh pair from the
// server (none for a process without a token), and, once its session
// started, its application's workload.
func (p *process) begin() {
	if !p.r.sc.StartsWithoutToken(p.i) {
		pair, err := p.r.srv.Login(p.i)
		if err != nil {
			p.r.clk.misuse(err)
			return
		}
		p.tok = session.Token{Access: session.Secret(pair.Access), Refresh: session.Secret(pair.Refresh), Type: "Bearer"}
		if p.r.sc.Token.OmitExpiresIn {
			// The client learns the expiry from the JWT's exp claim, which
			// the server wrote on its own clock.
			p.tok.Issued, p.tok.Expiry = pair.Issued, pair.Expiry
		} else {
			now := p.r.view.Now()
			p.tok.Issued, p.tok.Expiry = now, now.Add(pair.ExpiresIn)
		}
		if p.own != nil {
			p.own.Save(context.Background(), p.tok) // its own copy, should it crash
		}
	}
	p.launch()
}

// launch starts the process's session: with the pair it was given (with
// no token, the pair of its family's shared store), or, when it starts
// again after a crash without a shared store, with the pair its own store
// kept. The first session is seeded with the process's seed, one after a
// crash as the simulator seeds it (sim.RestartSeed, from the instant it
// starts). A session that cannot start (a process without a token whose
// family's store is down) is started again sim.StartRetry later, as a
// supervisor restarts a process that failed. docs/SCENARIOS.md says what a
// restart is; the simulator's begin does the same.
func (p *process) launch() {
	r := p.r
	tok, seed := p.tok, p.seed
	r.mu.Lock()
	restarted := p.inc > 0
	r.mu.Unlock()
	if restarted {
		seed = sim.RestartSeed(r.sc, p.i, r.clk.Elapsed())
		if p.own != nil {
			tok = session.Token{} // what its own store holds
		}
	}
	if err := p.open(tok, seed); err != nil {
		if errors.Is(err, errStoreDown) {
			r.clk.At(r.clk.Elapsed()+sim.StartRetry, p.launch)
			return
		}
		r.clk.misuse(err)
		return
	}
	r.mu.Lock()
	p.down = false
	r.mu.Unlock()
	if !restarted {
		// Its application runs from the instant its session started (a
		// process without a token reads its family first), as the
		// simulator's does.
		p.start = r.clk.Elapsed()
		p.schedule()
	}
}

// open starts an incarnation of the process's session with tok (the zero
// Token: the pair in the family's shared store, or in the process's own),
// seeded with seed.
func (p *process) open(tok session.Token, seed uint64) error {
	r, sc := p.r, p.r.sc
	live := p.liveness()
	ht := &http.Client{Transport: procTransport{p: p, live: live}, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	client, err := oauth.NewClient(oauth.Endpoint{TokenURL: tokenURL, ClientID: "conform", HTTPClient: ht, Clock: r.view})
	if err != nil {
		return err
	}
	r.mu.Lock()
	inc := p.inc
	r.mu.Unlock()
	opts := append(slices.Clone(r.declared),
		session.WithClock(r.view), session.WithSeed(seed),
		session.WithID(strconv.Itoa(p.i)),
		session.WithHooks(hooks.Hooks{Transition: func(rec audit.Record) { r.record(p, inc, rec) }}),
	)
	if sc.Session.Fallback {
		fb, err := oauth.NewClient(oauth.Endpoint{TokenURL: tokenURL, ClientID: "conform", HTTPClient: ht, Clock: r.view,
			Grant: oauth.GrantClientCredentials})
		if err != nil {
			return err
		}
		opts = append(opts, session.WithFallback(fb))
	}
	if r.thr != nil {
		opts = append(opts, session.WithThrottle(r.thr))
	}
	if p.own != nil {
		opts = append(opts, session.WithStore(p.own))
	}
	if r.stores != nil {
		st := r.stores[sc.FamilyOf(p.i)]
		opts = append(opts, session.WithCoordinator(handle{st: st, live: live, proc: p.i}))
	}
	if sc.Fleet.Login == states.LoginOutside {
		opts = append(opts, session.WithLogin(login.Elsewhere("a login of the scenario's workload")))
	}
	s, err := session.New(context.Background(), client, tok, opts...)
	if err != nil {
		return err
	}
	r.mu.Lock()
	p.s = s
	p.hc = &http.Client{Transport: &session.Transport{Session: s, Base: r.base}}
	r.mu.Unlock()
	return nil
}

// liveness returns a function that reports whether the current
// incarnation is still the one that is up.
func (p *process) liveness() func() bool {
	inc := p.inc
	return func() bool {
		p.r.mu.Lock()
		defer p.r.mu.Unlock()
		return p.inc == inc
	}
}

// record keeps the transition of incarnation inc of process p, unless the
// process crashed since or the run is over.
func (r *runtime) record(p *process, inc int, rec audit.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended || p.inc != inc {
		return
	}
	// The session does not know that its process restarted; the
	// harness does: each incarnation after the first is a restart.
	rec.Restarts = inc
	r.trans[p.i] = append(r.trans[p.i], fromRecord(p.i, rec, r.sc.ClockSkew))
	if rec.Event == states.Deny || rec.Event == states.NeedLogin && (rec.Reason == states.ReasonRefused || rec.Reason == states.ReasonCrashedHolder) {
		r.denied[r.sc.FamilyOf(p.i)] = true
	}
}

// procTransport is a process's connection to the token endpoint: a
// request sent within a crash_holder window crashes the process.
type procTransport struct {
	p    *process
	live func() bool
}

// errReset is what a crashed process's request sees.
var errConnReset = errors.New("connection reset by peer")

func (t procTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.live() {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errConnReset
	}
	resp, err := t.p.r.base.RoundTrip(req)
	if err != nil || resp.Header.Get(simserver.CrashHeader) == "" {
		return resp, err
	}
	restart, perr := time.ParseDuration(resp.Header.Get(simserver.CrashHeader))
	resp.Body.Close()
	if perr != nil {
		return nil, perr
	}
	t.p.crash(restart)
	return nil, errConnReset
}

// crash ends the process's current incarnation right after it sent a
// request: its session stops (Revoke, unrecorded: the process is gone)
// and, after restart, the process starts again (launch) as a new Session.
func (p *process) crash(restart time.Duration) {
	r := p.r
	r.mu.Lock()
	p.down = true
	p.inc++ // the crashed incarnation's doings are no longer recorded
	old := p.s
	p.crashed = append(p.crashed, old)
	r.mu.Unlock()
	old.Revoke()
	r.clk.At(r.clk.Elapsed()+restart, p.launch)
}

// schedule queues the process's application calls: each periodic entry on
// the process's own phase (its start), and the bursts after its start.
func (p *process) schedule() {
	for k := range p.r.sc.Workload {
		w := &p.r.sc.Workload[k]
		switch w.Kind {
		case sim.WorkRequests:
			if t := p.start + w.From; t < w.To {
				p.r.clk.At(t, func() { p.periodic(w, t) })
			}
		case sim.WorkBurst:
			if w.At >= p.start {
				for range w.Count {
					p.r.clk.At(w.At, p.call)
				}
			}
		}
	}
}

// periodic makes the call of entry w due at t and queues the next.
func (p *process) periodic(w *sim.Work, t time.Duration) {
	if next := t + w.Every; next < w.To {
		p.r.clk.At(next, func() { p.periodic(w, next) })
	}
	p.call()
}

// call is one application call: a request to the resource server through
// the session's Transport, which waits for a usable token up to
// wait_for_refresh (through backoff) or fails at once. Its body cannot be
// replayed, so a 401 reaches the application, which counts the call as
// failed, as the simulator's does, instead of being replayed.
func (p *process) call() {
	r := p.r
	r.mu.Lock()
	down, hc := p.down, p.hc
	r.mu.Unlock()
	if down || hc == nil {
		return // a crashed process's calls fail
	}
	ctx, cancel := context.WithCancel(context.Background())
	if wait := r.sc.Session.WaitForRefresh; wait > 0 {
		ctx, cancel = r.clk.WithTimeout(session.ContextWithWait(context.Background(), true), wait)
	} else {
		cancel() // no wait: a call without a usable token fails at once
	}
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, resourceURL, nil)
	if err != nil {
		r.clk.misuse(err)
		return
	}
	req.Body, req.GetBody = io.NopCloser(strings.NewReader("{}")), nil
	resp, err := hc.Do(req)
	if err == nil {
		resp.Body.Close()
	}
}

// login is a login of the workload (kind login), as the simulator makes
// it: a new grant of each family from the server, published to the
// family's store at this instant (the processes that watch it read it a
// round trip later), or, without one, given to each process (SetToken).
func (r *runtime) login() {
	if r.stores != nil {
		done := map[int]bool{}
		for i := range r.sc.Fleet.Sessions {
			f := r.sc.FamilyOf(i)
			if done[f] {
				continue
			}
			done[f] = true
			pair, err := r.srv.Relogin(i)
			if err != nil {
				r.clk.misuse(err)
				return
			}
			r.stores[f].publishNow(r.pair(pair))
		}
		return
	}
	for _, p := range r.procs {
		r.mu.Lock()
		s, down := p.s, p.down
		r.mu.Unlock()
		if s == nil || down {
			continue
		}
		pair, err := r.srv.Relogin(p.i)
		if err != nil {
			r.clk.misuse(err)
			return
		}
		if err := s.SetToken(context.Background(), r.pair(pair)); err != nil {
			r.clk.misuse(err)
		}
	}
}

// pair is a pair the server issued as the runtime's session takes it.
func (r *runtime) pair(p simserver.Pair) session.Token {
	tok := session.Token{Access: session.Secret(p.Access), Refresh: session.Secret(p.Refresh), Type: "Bearer"}
	if r.sc.Token.OmitExpiresIn {
		tok.Issued, tok.Expiry = p.Issued, p.Expiry
	} else {
		now := r.view.Now()
		tok.Issued, tok.Expiry = now, now.Add(p.ExpiresIn)
	}
	return tok
}
