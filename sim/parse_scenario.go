package sim

import (
	"errors"
	"math"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/authfsm/authfsm/declare"
	"github.com/authfsm/authfsm/internal/yamlwalk"
	"github.com/authfsm/authfsm/states"
)

// Limits of the format: generous, but they keep a typo from asking for a
// century-long run or a billion sessions.
const (
	maxDuration = 366 * 24 * time.Hour
	maxSessions = 10_000_000
	maxCount    = 10_000_000
	minStatus   = 300 // a status fault is a failure: 2xx would be an answer (html200, malformed)
	maxStatus   = 599
)

func (p *parser) scenario(n *yaml.Node, sc *Scenario) {
	share, shareLease := false, time.Duration(-1)
	p.Mapping(n, "", []field{
		{Key: "name", Required: true, Set: p.Name(&sc.Name)},
		{Key: "description", Set: p.Text(&sc.Description)},
		{Key: "seed", Set: p.seed(&sc.Seed)},
		{Key: "duration", Required: true, Set: p.Duration(&sc.Duration, time.Nanosecond, maxDuration)},
		{Key: "token", Required: true, Set: func(n *yaml.Node, key string) { p.token(n, key, &sc.Token) }},
		{Key: "clock_skew", Set: p.Duration(&sc.ClockSkew, -maxDuration, maxDuration)},
		{Key: "session", Set: func(n *yaml.Node, key string) { p.session(n, key, &sc.Session) }},
		{Key: "server", Set: func(n *yaml.Node, key string) { p.server(n, key, &sc.Server) }},
		{Key: "workload", Set: func(n *yaml.Node, key string) { p.workload(n, key, sc) }},
		{Key: "fleet", Set: func(n *yaml.Node, key string) { p.fleet(n, key, &sc.Fleet) }},
		{Key: "share", Set: func(n *yaml.Node, key string) { share = true; p.share(n, key, &sc.Share, &shareLease) }},
		{Key: "expect", Set: func(n *yaml.Node, key string) { p.expect(n, key, &sc.Expect) }},
	})
	if p.Err == nil {
		p.familySettings(n, sc, shareLease)
	}
	if p.Err == nil {
		p.checkTimes(n, sc)
	}
	if p.Err == nil {
		p.checkFamilies(n, sc, share)
	}
}

func (p *parser) seed(dst *uint64) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		s, ok := p.Scalar(n, key)
		if !ok {
			return
		}
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			p.Fail(n, key, ErrInvalid, "%q is not a non-negative integer", s)
			return
		}
		*dst = v
	}
}

func (p *parser) token(n *yaml.Node, path string, t *Token) {
	p.Mapping(n, path, []field{
		// Down to a microsecond: a server issuing absurdly short tokens is
		// one of the faults the runtime must ride out (states.MinLifetime).
		{Key: "ttl", Required: true, Set: p.Duration(&t.TTL, time.Microsecond, maxDuration)},
		{Key: "refresh_ttl", Set: p.Duration(&t.RefreshTTL, 0, maxDuration)},
		{Key: "rotate", Set: p.Boolean(&t.Rotate)},
		{Key: "reuse_grace", Set: p.Duration(&t.ReuseGrace, 0, maxDuration)},
		{Key: "omit_expires_in", Set: p.Boolean(&t.OmitExpiresIn)},
		{Key: "reuse_detection", Set: p.Boolean(&t.ReuseDetection)},
	})
}

// session reads the session block (package declare), as a profile's is
// read.
func (p *parser) session(n *yaml.Node, path string, s *declare.Session) {
	got, err := declare.ParseNode(p.file, n, path)
	var e *declare.Error
	switch {
	case errors.As(err, &e):
		if p.Err == nil {
			p.Err = &yamlwalk.Problem{Line: e.Line, Key: e.Key, Msg: e.Msg, Kind: e.Kind}
		}
	case err != nil:
		p.Fail(n, path, ErrInvalid, "%v", err)
	default:
		*s = got
	}
}

// failureStatus reads a status fault's status, minStatus to maxStatus: a
// failure, since a 2xx would be an answer (html200 and malformed send the
// broken ones).
func (p *parser) failureStatus(dst *int) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		const unset = math.MinInt
		v := unset
		p.Integer(&v, unset+1, math.MaxInt)(n, key)
		switch {
		case v == unset:
			// Not an integer: reported.
		case v < minStatus || v > maxStatus:
			p.Fail(n, key, ErrInvalid, "%d is out of range [%d, %d]: not a failure status (use html200 or malformed for a broken 200)", v, minStatus, maxStatus)
		default:
			*dst = v
		}
	}
}

func (p *parser) server(n *yaml.Node, path string, s *Server) {
	p.Mapping(n, path, []field{
		{Key: "latency", Set: p.Duration(&s.Latency, 0, time.Hour)},
		{Key: "faults", Set: func(n *yaml.Node, key string) {
			p.List(n, key, func(_ int, item *yaml.Node, key string) {
				f := Fault{Line: item.Line}
				p.fault(item, key, &f)
				s.Faults = append(s.Faults, f)
			})
		}},
	})
}

func (p *parser) fault(n *yaml.Node, path string, f *Fault) {
	var kind string
	from, to, at := time.Duration(-1), time.Duration(-1), time.Duration(-1)
	p.Mapping(n, path, []field{
		{Key: "kind", Required: true, Set: p.Text(&kind)},
		{Key: "from", Set: p.Duration(&from, 0, maxDuration)},
		{Key: "to", Set: p.Duration(&to, 0, maxDuration)},
		{Key: "at", Set: p.Duration(&at, 0, maxDuration)},
		{Key: "status", Set: p.failureStatus(&f.Status)},
		{Key: "error", Set: p.Text(&f.Error)},
		{Key: "description", Set: p.Text(&f.Description)},
		{Key: "retry_after", Set: p.Duration(&f.RetryAfter, time.Second, 24*time.Hour)},
		{Key: "restart", Set: p.Duration(&f.Restart, time.Millisecond, 24*time.Hour)},
	})
	if p.Err != nil {
		return
	}
	k := kindByName(kind)
	switch {
	case k == numFaultKinds:
		p.Fail(n, path+".kind", ErrInvalid, "unknown fault kind %q (want %s)", kind, faultKindList())
	case k == FaultStatus && f.Status == 0:
		p.Fail(n, path+".status", ErrMissing, "a status fault needs a status")
	case k == FaultStatus && f.Description != "" && f.Error == "" && f.Status != 400 && f.Status != 401 && f.Status != 403:
		// docs/SCENARIOS.md: without error, only 400/401/403 answer with an
		// OAuth2 JSON body; any other status is a proxy's page.
		p.Fail(yamlwalk.KeyNode(n, "description"), path+".description", ErrInvalid,
			"needs an OAuth2 error body: give error:, or status 400, 401 or 403 (status %d without error answers with a proxy's page)", f.Status)
	case k != FaultStatus && (f.Status != 0 || f.Error != "" || f.Description != "" || f.RetryAfter != 0):
		p.Fail(n, path, ErrInvalid, "status, error, description and retry_after apply to kind status only")
	case k == FaultCrashHolder && f.Restart == 0:
		p.Fail(n, path+".restart", ErrMissing, "a crash_holder fault needs restart: (how long the crashed process takes to come back)")
	case k != FaultCrashHolder && f.Restart != 0:
		p.Fail(yamlwalk.KeyNode(n, "restart"), path+".restart", ErrInvalid, "applies to kind crash_holder only")
	case at >= 0 && (from >= 0 || to >= 0):
		p.Fail(n, path, ErrInvalid, "give either at: or from:/to:, not both")
	case at < 0 && k == FaultRevoke:
		p.Fail(n, path, ErrMissing, "a %s fault happens at an instant: give at:", k)
	case at < 0 && (from < 0 || to < 0):
		p.Fail(n, path, ErrMissing, "give from: and to: (a window) or at: (an instant)")
	case at < 0 && to <= from:
		p.Fail(n, path, ErrInvalid, "window ends (%v) before it starts (%v)", to, from)
	case f.Error != "" && !validErrorCode(f.Error):
		p.Fail(n, path+".error", ErrInvalid, "%q is not an OAuth2 error code (lower-case letters and '_')", f.Error)
	case !validDescription(f.Description):
		p.Fail(yamlwalk.KeyNode(n, "description"), path+".description", ErrInvalid,
			"at most %d characters, none of them a control character", maxFaultDescription)
	}
	f.Kind = k
	if at >= 0 {
		f.Instant, f.From, f.To = true, at, maxDuration
	} else {
		f.From, f.To = from, to
	}
}

func kindByName(s string) FaultKind {
	for k, name := range faultKindNames {
		if name == s {
			return FaultKind(k)
		}
	}
	return numFaultKinds
}

func faultKindList() string {
	s := ""
	for i, name := range faultKindNames {
		if i > 0 {
			s += ", "
		}
		s += name
	}
	return s
}

// maxFaultDescription bounds a status fault's description, in characters:
// what the runtime keeps of an error_description (session's limit).
const maxFaultDescription = 400

// validDescription reports whether s may be a fault's error_description:
// at most maxFaultDescription characters, no control character.
func validDescription(s string) bool {
	n := 0
	for _, c := range s {
		if c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) {
			return false
		}
		n++
	}
	return n <= maxFaultDescription
}

func validErrorCode(s string) bool {
	for _, c := range s {
		if (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return len(s) <= 64
}

func (p *parser) workload(n *yaml.Node, path string, sc *Scenario) {
	p.List(n, path, func(_ int, item *yaml.Node, key string) {
		var kind string
		w := Work{From: -1, To: -1, At: -1, Line: item.Line}
		p.Mapping(item, key, []field{
			{Key: "kind", Required: true, Set: p.Text(&kind)},
			{Key: "every", Set: p.Duration(&w.Every, time.Millisecond, maxDuration)},
			{Key: "from", Set: p.Duration(&w.From, 0, maxDuration)},
			{Key: "to", Set: p.Duration(&w.To, 0, maxDuration)},
			{Key: "at", Set: p.Duration(&w.At, 0, maxDuration)},
			{Key: "count", Set: p.Integer(&w.Count, 1, maxCount)},
		})
		if p.Err != nil {
			return
		}
		switch kind {
		case "requests":
			w.Kind = WorkRequests
			switch {
			case w.Every == 0:
				p.Fail(item, key+".every", ErrMissing, "a requests workload needs every:")
			case w.At >= 0 || w.Count != 0:
				p.Fail(item, key, ErrInvalid, "at: and count: apply to kind burst only")
			case w.From >= 0 && w.To >= 0 && w.To <= w.From:
				p.Fail(item, key, ErrInvalid, "to (%v) is not after from (%v)", w.To, w.From)
			}
			w.From = max(w.From, 0)
		case "burst":
			w.Kind = WorkBurst
			switch {
			case w.At < 0 || w.Count == 0:
				p.Fail(item, key, ErrMissing, "a burst needs at: and count:")
			case w.Every != 0 || w.From >= 0 || w.To >= 0:
				p.Fail(item, key, ErrInvalid, "every:, from: and to: apply to kind requests only")
			}
		case "login":
			w.Kind = WorkLogin
			switch {
			case w.At < 0:
				p.Fail(item, key+".at", ErrMissing, "a login needs at:")
			case w.Every != 0 || w.From >= 0 || w.To >= 0 || w.Count != 0:
				p.Fail(item, key, ErrInvalid, "a login takes at: only")
			}
		default:
			p.Fail(item, key+".kind", ErrInvalid, "unknown workload kind %q (want requests, burst or login)", kind)
		}
		sc.Workload = append(sc.Workload, w)
	})
}

func (p *parser) fleet(n *yaml.Node, path string, f *Fleet) {
	p.Mapping(n, path, []field{
		{Key: "sessions", Set: p.Integer(&f.Sessions, 1, maxSessions)},
		{Key: "server_capacity", Set: p.Integer(&f.ServerCapacity, 0, math.MaxInt32)},
		{Key: "start_spread", Set: p.Duration(&f.StartSpread, 0, maxDuration)},
		{Key: "families", Set: p.Integer(&f.Families, 0, maxSessions)},
		{Key: "without_token", Set: p.Integer(&f.WithoutToken, 0, maxSessions)},
		{Key: "login", Set: func(n *yaml.Node, key string) {
			var mode string
			p.Text(&mode)(n, key)
			switch mode {
			case "none":
				f.Login = states.LoginNone
			case "outside":
				f.Login = states.LoginOutside
			default:
				if p.Err == nil {
					p.Fail(n, key, ErrInvalid, "want none or outside")
				}
			}
		}},
	})
}

// share reads the share block into s, and its lease, the session's
// (declare.Session.Lease) written where scenarios gave it before the
// session block had it, into *lease (left at -1 when not given).
func (p *parser) share(n *yaml.Node, path string, s *Share, lease *time.Duration) {
	var kind string
	latency := time.Duration(-1)
	p.Mapping(n, path, []field{
		{Key: "kind", Required: true, Set: p.Text(&kind)},
		{Key: "lease", Set: p.Duration(lease, 0, 24*time.Hour)},
		{Key: "latency", Set: p.Duration(&latency, 0, time.Hour)},
	})
	if p.Err != nil {
		return
	}
	switch kind {
	case "none":
		s.Kind = ShareNone
		if *lease >= 0 || latency >= 0 {
			p.Fail(n, path, ErrInvalid, "lease and latency apply to kind store only")
		}
	case "store":
		s.Kind = ShareStore
	default:
		p.Fail(yamlwalk.KeyNode(n, "kind"), path+".kind", ErrInvalid, "unknown share kind %q (want none or store)", kind)
	}
	if *lease == 0 {
		p.Fail(yamlwalk.KeyNode(n, "lease"), path+".lease", ErrInvalid, "0s is not positive: a lease must outlast one refresh")
	}
	if latency >= 0 {
		s.Latency = latency
	}
}

func (p *parser) expect(n *yaml.Node, path string, e *Expect) {
	var final string
	var failed, refresh, families int
	var recovery time.Duration
	p.Mapping(n, path, []field{
		{Key: "final_state", Set: func(n *yaml.Node, key string) {
			if s, ok := p.Scalar(n, key); ok {
				if _, err := states.ParseState(s); err != nil && s != "mixed" {
					p.Fail(n, key, ErrInvalid, "%q is not a state (want %s or mixed)", s, stateList())
				}
				final = s
				e.FinalState = &final
			}
		}},
		{Key: "never_states", Set: func(n *yaml.Node, key string) {
			e.NeverStates = []states.State{}
			p.List(n, key, func(_ int, item *yaml.Node, key string) {
				if s, ok := p.Scalar(item, key); ok {
					st, err := states.ParseState(s)
					if err != nil {
						p.Fail(item, key, ErrInvalid, "%q is not a state (want %s)", s, stateList())
					}
					e.NeverStates = append(e.NeverStates, st)
				}
			})
		}},
		{Key: "max_failed_requests", Set: p.optInt(&failed, &e.MaxFailedRequests)},
		{Key: "max_refresh_requests", Set: p.optInt(&refresh, &e.MaxRefreshRequests)},
		{Key: "max_recovery", Set: func(n *yaml.Node, key string) {
			p.Duration(&recovery, 0, maxDuration)(n, key)
			e.MaxRecovery = &recovery
		}},
		{Key: "max_family_revocations", Set: p.optInt(&families, &e.MaxFamilyRevocations)},
	})
}

func (p *parser) optInt(v *int, dst **int) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		p.Integer(v, 0, math.MaxInt32)(n, key)
		*dst = v
	}
}

func stateList() string {
	s := ""
	for i, st := range states.States() {
		if i > 0 {
			s += ", "
		}
		s += st.String()
	}
	return s
}

// checkTimes validates what needs the whole file: instants within the run.
func (p *parser) checkTimes(n *yaml.Node, sc *Scenario) {
	d := sc.Duration
	for i := range sc.Server.Faults {
		f := &sc.Server.Faults[i]
		if f.From >= d {
			p.Fail(&yaml.Node{Line: f.Line}, "server.faults["+strconv.Itoa(i)+"]", ErrInvalid, "starts at %v, not before the end of the run (%v)", f.From, d)
			return
		}
		if f.Instant || f.To > d {
			f.To = d
		}
	}
	for i := range sc.Workload {
		w := &sc.Workload[i]
		if w.To < 0 || w.To > d {
			w.To = d
		}
		if w.From >= d || w.At >= d {
			p.Fail(&yaml.Node{Line: w.Line}, "workload["+strconv.Itoa(i)+"]", ErrInvalid, "starts at or after the end of the run (%v)", d)
			return
		}
	}
	if sc.Fleet.StartSpread >= d && sc.Fleet.StartSpread > 0 {
		p.Fail(yamlwalk.KeyNode(n, "fleet", "start_spread"), "fleet.start_spread", ErrInvalid, "%v is not shorter than the run (%v)", sc.Fleet.StartSpread, d)
	}
	if sc.Token.ReuseGrace > 0 && !sc.Token.Rotate {
		p.Fail(yamlwalk.KeyNode(n, "token", "reuse_grace"), "token.reuse_grace", ErrInvalid, "applies only with rotate: true")
	}
	if sc.Token.ReuseDetection && !sc.Token.Rotate {
		p.Fail(yamlwalk.KeyNode(n, "token", "reuse_detection"), "token.reuse_detection", ErrInvalid, "applies only with rotate: true (without rotation no token is ever retired)")
	}
}

// familySettings completes the session block's family settings from the
// rest of the scenario: the lease that share.lease gives (the key
// scenarios used before the session block had one; giving both is an
// error), and the reuse grace that the session block leaves out, which is
// then the simulated server's (token.reuse_grace): the client knows the
// server it talks to unless the scenario says otherwise.
func (p *parser) familySettings(n *yaml.Node, sc *Scenario, shareLease time.Duration) {
	if shareLease > 0 {
		if k := yamlwalk.KeyNode(n, "session", "lease"); k != n {
			p.Fail(k, "session.lease", ErrInvalid, "given twice: share.lease gives the lease too (keep session.lease)")
			return
		}
		sc.Session.Lease = shareLease
	}
	if yamlwalk.KeyNode(n, "session", "reuse_grace") == n {
		sc.Session.ReuseGrace = sc.Token.ReuseGrace
	}
}

// checkFamilies validates what token families need: share only with
// families, a lease that outlasts one refresh, and a store for store_down.
func (p *parser) checkFamilies(n *yaml.Node, sc *Scenario, share bool) {
	f, sh := &sc.Fleet, &sc.Share
	switch {
	case f.Families > f.Sessions:
		p.Fail(yamlwalk.KeyNode(n, "fleet", "families"), "fleet.families", ErrInvalid, "%d families for %d sessions: every family needs a session", f.Families, f.Sessions)
	case share && f.Families == 0:
		p.Fail(yamlwalk.KeyNode(n, "share"), "share", ErrInvalid, "applies only with fleet.families (processes sharing a token family)")
	case f.WithoutToken > 0 && f.Families == 0:
		p.Fail(yamlwalk.KeyNode(n, "fleet", "without_token"), "fleet.without_token", ErrInvalid, "applies only with fleet.families (processes of a token family)")
	case f.WithoutToken > 0 && f.WithoutToken >= f.Sessions/f.Families:
		p.Fail(yamlwalk.KeyNode(n, "fleet", "without_token"), "fleet.without_token", ErrInvalid,
			"%d processes without a token in families of %d: every family needs one that holds it", f.WithoutToken, f.Sessions/f.Families)
	case sh.Kind == ShareStore && !sc.leaseOutlastsRefresh(sc.Session):
		// session.Coordinator: a lease must outlast one refresh request. The
		// holder marks its refresh two round trips after acquiring, then
		// waits up to request_timeout for the answer; a shorter lease lets a
		// second process take over while the request is in flight.
		at, key := yamlwalk.KeyNode(n, "session", "lease"), "session.lease"
		if at == n {
			at, key = yamlwalk.KeyNode(n, "share", "lease"), "share.lease"
		}
		if at == n {
			at = yamlwalk.KeyNode(n, "share") // the default lease
		}
		p.Fail(at, key, ErrInvalid,
			"%v does not outlast one refresh (request_timeout %v plus two store round trips of %v)", sc.Session.Lease, sc.Session.RequestTimeout, sh.Latency)
	}
	for i, w := range sc.Workload {
		if p.Err == nil && w.Kind == WorkLogin && f.Families > 0 && sh.Kind != ShareStore {
			// A login is a new grant: processes that share nothing would
			// each need one, and the model's family is one grant.
			p.Fail(&yaml.Node{Line: w.Line}, "workload["+strconv.Itoa(i)+"]", ErrInvalid,
				"a login of a token family needs share: {kind: store}, where it is published (without fleet.families each session logs in)")
		}
	}
	for i := range sc.Server.Faults {
		if p.Err == nil && sc.Server.Faults[i].Kind == FaultStoreDown && sh.Kind != ShareStore {
			p.Fail(&yaml.Node{Line: sc.Server.Faults[i].Line}, "server.faults["+strconv.Itoa(i)+"]", ErrInvalid, "a store_down fault needs share: {kind: store}")
		}
	}
}
