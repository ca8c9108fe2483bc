package sim

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/authfsm/authfsm/policy"
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
	share := false
	p.mapping(n, "", []field{
		{key: "name", required: true, set: p.name(&sc.Name)},
		{key: "description", set: p.text(&sc.Description)},
		{key: "seed", set: p.seed(&sc.Seed)},
		{key: "duration", required: true, set: p.duration(&sc.Duration, time.Nanosecond, maxDuration)},
		{key: "token", required: true, set: func(n *yaml.Node, key string) { p.token(n, key, &sc.Token) }},
		{key: "clock_skew", set: p.duration(&sc.ClockSkew, -maxDuration, maxDuration)},
		{key: "session", set: func(n *yaml.Node, key string) { p.session(n, key, &sc.Session) }},
		{key: "server", set: func(n *yaml.Node, key string) { p.server(n, key, &sc.Server) }},
		{key: "workload", set: func(n *yaml.Node, key string) { p.workload(n, key, sc) }},
		{key: "fleet", set: func(n *yaml.Node, key string) { p.fleet(n, key, &sc.Fleet) }},
		{key: "share", set: func(n *yaml.Node, key string) { share = true; p.share(n, key, &sc.Share) }},
		{key: "expect", set: func(n *yaml.Node, key string) { p.expect(n, key, &sc.Expect) }},
	})
	if p.err == nil {
		p.checkTimes(n, sc)
	}
	if p.err == nil {
		p.checkFamilies(n, sc, share)
	}
}

func (p *parser) seed(dst *uint64) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		s, ok := p.scalar(n, key)
		if !ok {
			return
		}
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			p.fail(n, key, ErrInvalid, "%q is not a non-negative integer", s)
			return
		}
		*dst = v
	}
}

func (p *parser) token(n *yaml.Node, path string, t *Token) {
	p.mapping(n, path, []field{
		// Down to a microsecond: a server issuing absurdly short tokens is
		// one of the faults the runtime must ride out (states.MinLifetime).
		{key: "ttl", required: true, set: p.duration(&t.TTL, time.Microsecond, maxDuration)},
		{key: "refresh_ttl", set: p.duration(&t.RefreshTTL, 0, maxDuration)},
		{key: "rotate", set: p.boolean(&t.Rotate)},
		{key: "reuse_grace", set: p.duration(&t.ReuseGrace, 0, maxDuration)},
		{key: "omit_expires_in", set: p.boolean(&t.OmitExpiresIn)},
		{key: "reuse_detection", set: p.boolean(&t.ReuseDetection)},
	})
}

func (p *parser) session(n *yaml.Node, path string, s *Session) {
	p.mapping(n, path, []field{
		{key: "refresh_ahead", set: p.duration(&s.RefreshAhead, 0, maxDuration)},
		{key: "request_timeout", set: p.duration(&s.RequestTimeout, time.Millisecond, time.Hour)},
		{key: "wait_for_refresh", set: p.duration(&s.WaitForRefresh, 0, time.Hour)},
		{key: "policy", set: func(n *yaml.Node, key string) { p.policy(n, key, &s.Policy) }},
		{key: "fallback", set: p.boolean(&s.Fallback)},
		{key: "throttle", set: func(n *yaml.Node, key string) { p.throttle(n, key, &s.Throttle) }},
	})
}

// throttle reads session.throttle: {kind, k, window, probe}. Settings left
// out take policy's defaults; a setting that kind none does not use is an
// error, as policy.ThrottleSpec.Build says.
func (p *parser) throttle(n *yaml.Node, path string, s *policy.ThrottleSpec) {
	var got policy.ThrottleSpec
	p.mapping(n, path, []field{
		{key: "kind", set: p.text(&got.Kind)},
		{key: "k", set: p.float(&got.K, 1, 1000)},
		{key: "window", set: p.duration(&got.Window, time.Second, 24*time.Hour)},
		{key: "probe", set: p.duration(&got.Probe, time.Millisecond, 24*time.Hour)},
	})
	if p.err != nil {
		return
	}
	t, err := got.Build()
	if err != nil {
		at, key := n, path
		if e, ok := err.(*policy.ThrottleSpecError); ok {
			at, key = keyNode(n, e.Key), path+"."+e.Key
			err = errors.New(e.Reason)
		}
		p.fail(at, key, ErrInvalid, "%v", err)
		return
	}
	if spec := t.Spec(); spec.Kind == policy.ThrottleAdaptive {
		*s = spec // kind none stays the zero value, as when the key is left out
	}
}

// policy reads a policy. Keys the file omits take the defaults of its
// kind (policy.Spec.WithKind); a key that the kind does not use is an error.
func (p *parser) policy(n *yaml.Node, path string, s *policy.Spec) {
	var got policy.Spec
	var jitter string
	given := map[string]bool{}
	mark := func(key string, set func(*yaml.Node, string)) field {
		return field{key: key, set: func(n *yaml.Node, k string) { given[key] = true; set(n, k) }}
	}
	p.mapping(n, path, []field{
		mark("kind", p.text(&got.Kind)),
		mark("initial", p.duration(&got.Initial, time.Millisecond, 24*time.Hour)),
		mark("multiplier", p.float(&got.Multiplier, 1, 100)),
		mark("max", p.duration(&got.Max, 0, 24*time.Hour)),
		mark("jitter", p.text(&jitter)),
		mark("max_attempts", p.integer(&got.MaxAttempts, 0, math.MaxInt32)),
		mark("max_elapsed", p.duration(&got.MaxElapsed, 0, maxDuration)),
	})
	if p.err != nil {
		return
	}
	if jitter != "" {
		j, err := policy.ParseJitter(jitter)
		if err != nil {
			p.fail(n, path+".jitter", ErrInvalid, "%q: want none, full, equal or decorrelated", jitter)
			return
		}
		got.Jitter = j
	}
	kind := s.Kind
	if given["kind"] {
		kind = got.Kind
	}
	spec := s.WithKind(kind)
	for key, v := range map[string]func(){
		"initial": func() { spec.Initial = got.Initial }, "multiplier": func() { spec.Multiplier = got.Multiplier },
		"max": func() { spec.Max = got.Max }, "jitter": func() { spec.Jitter = got.Jitter },
		"max_attempts": func() { spec.MaxAttempts = got.MaxAttempts }, "max_elapsed": func() { spec.MaxElapsed = got.MaxElapsed },
	} {
		if given[key] {
			v()
		}
	}
	if _, err := spec.Build(); err != nil {
		// The key names the policy already: "session.policy: max does not
		// apply…", not "session.policy: policy: max…".
		p.fail(n, path, ErrInvalid, "%s", strings.TrimPrefix(err.Error(), "policy: "))
		return
	}
	*s = spec
}

// failureStatus reads a status fault's status, minStatus to maxStatus: a
// failure, since a 2xx would be an answer (html200 and malformed send the
// broken ones).
func (p *parser) failureStatus(dst *int) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		const unset = math.MinInt
		v := unset
		p.integer(&v, unset+1, math.MaxInt)(n, key)
		switch {
		case v == unset:
			// Not an integer: reported.
		case v < minStatus || v > maxStatus:
			p.fail(n, key, ErrInvalid, "%d is out of range [%d, %d]: not a failure status (use html200 or malformed for a broken 200)", v, minStatus, maxStatus)
		default:
			*dst = v
		}
	}
}

func (p *parser) float(dst *float64, lo, hi float64) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		s, ok := p.scalar(n, key)
		if !ok {
			return
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) || v < lo || v > hi {
			p.fail(n, key, ErrInvalid, "%q is not a number in [%v, %v]", s, lo, hi)
			return
		}
		*dst = v
	}
}

func (p *parser) server(n *yaml.Node, path string, s *Server) {
	p.mapping(n, path, []field{
		{key: "latency", set: p.duration(&s.Latency, 0, time.Hour)},
		{key: "faults", set: func(n *yaml.Node, key string) {
			p.list(n, key, func(_ int, item *yaml.Node, key string) {
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
	p.mapping(n, path, []field{
		{key: "kind", required: true, set: p.text(&kind)},
		{key: "from", set: p.duration(&from, 0, maxDuration)},
		{key: "to", set: p.duration(&to, 0, maxDuration)},
		{key: "at", set: p.duration(&at, 0, maxDuration)},
		{key: "status", set: p.failureStatus(&f.Status)},
		{key: "error", set: p.text(&f.Error)},
		{key: "description", set: p.text(&f.Description)},
		{key: "retry_after", set: p.duration(&f.RetryAfter, time.Second, 24*time.Hour)},
		{key: "restart", set: p.duration(&f.Restart, time.Millisecond, 24*time.Hour)},
	})
	if p.err != nil {
		return
	}
	k := kindByName(kind)
	switch {
	case k == numFaultKinds:
		p.fail(n, path+".kind", ErrInvalid, "unknown fault kind %q (want %s)", kind, faultKindList())
	case k == FaultStatus && f.Status == 0:
		p.fail(n, path+".status", ErrMissing, "a status fault needs a status")
	case k == FaultStatus && f.Description != "" && f.Error == "" && f.Status != 400 && f.Status != 401 && f.Status != 403:
		// docs/SCENARIOS.md: without error, only 400/401/403 answer with an
		// OAuth2 JSON body; any other status is a proxy's page.
		p.fail(keyNode(n, "description"), path+".description", ErrInvalid,
			"needs an OAuth2 error body: give error:, or status 400, 401 or 403 (status %d without error answers with a proxy's page)", f.Status)
	case k != FaultStatus && (f.Status != 0 || f.Error != "" || f.Description != "" || f.RetryAfter != 0):
		p.fail(n, path, ErrInvalid, "status, error, description and retry_after apply to kind status only")
	case k == FaultCrashHolder && f.Restart == 0:
		p.fail(n, path+".restart", ErrMissing, "a crash_holder fault needs restart: (how long the crashed process takes to come back)")
	case k != FaultCrashHolder && f.Restart != 0:
		p.fail(keyNode(n, "restart"), path+".restart", ErrInvalid, "applies to kind crash_holder only")
	case at >= 0 && (from >= 0 || to >= 0):
		p.fail(n, path, ErrInvalid, "give either at: or from:/to:, not both")
	case at < 0 && k == FaultRevoke:
		p.fail(n, path, ErrMissing, "a %s fault happens at an instant: give at:", k)
	case at < 0 && (from < 0 || to < 0):
		p.fail(n, path, ErrMissing, "give from: and to: (a window) or at: (an instant)")
	case at < 0 && to <= from:
		p.fail(n, path, ErrInvalid, "window ends (%v) before it starts (%v)", to, from)
	case f.Error != "" && !validErrorCode(f.Error):
		p.fail(n, path+".error", ErrInvalid, "%q is not an OAuth2 error code (lower-case letters and '_')", f.Error)
	case !validDescription(f.Description):
		p.fail(keyNode(n, "description"), path+".description", ErrInvalid,
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
	p.list(n, path, func(_ int, item *yaml.Node, key string) {
		var kind string
		w := Work{From: -1, To: -1, At: -1, Line: item.Line}
		p.mapping(item, key, []field{
			{key: "kind", required: true, set: p.text(&kind)},
			{key: "every", set: p.duration(&w.Every, time.Millisecond, maxDuration)},
			{key: "from", set: p.duration(&w.From, 0, maxDuration)},
			{key: "to", set: p.duration(&w.To, 0, maxDuration)},
			{key: "at", set: p.duration(&w.At, 0, maxDuration)},
			{key: "count", set: p.integer(&w.Count, 1, maxCount)},
		})
		if p.err != nil {
			return
		}
		switch kind {
		case "requests":
			w.Kind = WorkRequests
			switch {
			case w.Every == 0:
				p.fail(item, key+".every", ErrMissing, "a requests workload needs every:")
			case w.At >= 0 || w.Count != 0:
				p.fail(item, key, ErrInvalid, "at: and count: apply to kind burst only")
			case w.From >= 0 && w.To >= 0 && w.To <= w.From:
				p.fail(item, key, ErrInvalid, "to (%v) is not after from (%v)", w.To, w.From)
			}
			w.From = max(w.From, 0)
		case "burst":
			w.Kind = WorkBurst
			switch {
			case w.At < 0 || w.Count == 0:
				p.fail(item, key, ErrMissing, "a burst needs at: and count:")
			case w.Every != 0 || w.From >= 0 || w.To >= 0:
				p.fail(item, key, ErrInvalid, "every:, from: and to: apply to kind requests only")
			}
		case "login":
			w.Kind = WorkLogin
			switch {
			case w.At < 0:
				p.fail(item, key+".at", ErrMissing, "a login needs at:")
			case w.Every != 0 || w.From >= 0 || w.To >= 0 || w.Count != 0:
				p.fail(item, key, ErrInvalid, "a login takes at: only")
			}
		default:
			p.fail(item, key+".kind", ErrInvalid, "unknown workload kind %q (want requests, burst or login)", kind)
		}
		sc.Workload = append(sc.Workload, w)
	})
}

func (p *parser) fleet(n *yaml.Node, path string, f *Fleet) {
	p.mapping(n, path, []field{
		{key: "sessions", set: p.integer(&f.Sessions, 1, maxSessions)},
		{key: "server_capacity", set: p.integer(&f.ServerCapacity, 0, math.MaxInt32)},
		{key: "start_spread", set: p.duration(&f.StartSpread, 0, maxDuration)},
		{key: "families", set: p.integer(&f.Families, 0, maxSessions)},
		{key: "without_token", set: p.integer(&f.WithoutToken, 0, maxSessions)},
		{key: "login", set: func(n *yaml.Node, key string) {
			var mode string
			p.text(&mode)(n, key)
			switch mode {
			case "none":
				f.Login = states.LoginNone
			case "outside":
				f.Login = states.LoginOutside
			default:
				if p.err == nil {
					p.fail(n, key, ErrInvalid, "want none or outside")
				}
			}
		}},
	})
}

func (p *parser) share(n *yaml.Node, path string, s *Share) {
	var kind string
	lease, latency := time.Duration(-1), time.Duration(-1)
	p.mapping(n, path, []field{
		{key: "kind", required: true, set: p.text(&kind)},
		{key: "lease", set: p.duration(&lease, 0, 24*time.Hour)},
		{key: "latency", set: p.duration(&latency, 0, time.Hour)},
	})
	if p.err != nil {
		return
	}
	switch kind {
	case "none":
		s.Kind = ShareNone
		if lease >= 0 || latency >= 0 {
			p.fail(n, path, ErrInvalid, "lease and latency apply to kind store only")
		}
	case "store":
		s.Kind = ShareStore
	default:
		p.fail(keyNode(n, "kind"), path+".kind", ErrInvalid, "unknown share kind %q (want none or store)", kind)
	}
	if lease == 0 {
		p.fail(keyNode(n, "lease"), path+".lease", ErrInvalid, "0s is not positive: a lease must outlast one refresh")
	}
	if lease > 0 {
		s.Lease = lease
	}
	if latency >= 0 {
		s.Latency = latency
	}
}

func (p *parser) expect(n *yaml.Node, path string, e *Expect) {
	var final string
	var failed, refresh, families int
	var recovery time.Duration
	p.mapping(n, path, []field{
		{key: "final_state", set: func(n *yaml.Node, key string) {
			if s, ok := p.scalar(n, key); ok {
				if _, err := states.ParseState(s); err != nil && s != "mixed" {
					p.fail(n, key, ErrInvalid, "%q is not a state (want %s or mixed)", s, stateList())
				}
				final = s
				e.FinalState = &final
			}
		}},
		{key: "never_states", set: func(n *yaml.Node, key string) {
			e.NeverStates = []states.State{}
			p.list(n, key, func(_ int, item *yaml.Node, key string) {
				if s, ok := p.scalar(item, key); ok {
					st, err := states.ParseState(s)
					if err != nil {
						p.fail(item, key, ErrInvalid, "%q is not a state (want %s)", s, stateList())
					}
					e.NeverStates = append(e.NeverStates, st)
				}
			})
		}},
		{key: "max_failed_requests", set: p.optInt(&failed, &e.MaxFailedRequests)},
		{key: "max_refresh_requests", set: p.optInt(&refresh, &e.MaxRefreshRequests)},
		{key: "max_recovery", set: func(n *yaml.Node, key string) {
			p.duration(&recovery, 0, maxDuration)(n, key)
			e.MaxRecovery = &recovery
		}},
		{key: "max_family_revocations", set: p.optInt(&families, &e.MaxFamilyRevocations)},
	})
}

func (p *parser) optInt(v *int, dst **int) func(*yaml.Node, string) {
	return func(n *yaml.Node, key string) {
		p.integer(v, 0, math.MaxInt32)(n, key)
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
			p.fail(&yaml.Node{Line: f.Line}, "server.faults["+strconv.Itoa(i)+"]", ErrInvalid, "starts at %v, not before the end of the run (%v)", f.From, d)
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
			p.fail(&yaml.Node{Line: w.Line}, "workload["+strconv.Itoa(i)+"]", ErrInvalid, "starts at or after the end of the run (%v)", d)
			return
		}
	}
	if sc.Fleet.StartSpread >= d && sc.Fleet.StartSpread > 0 {
		p.fail(keyNode(n, "fleet", "start_spread"), "fleet.start_spread", ErrInvalid, "%v is not shorter than the run (%v)", sc.Fleet.StartSpread, d)
	}
	if sc.Token.ReuseGrace > 0 && !sc.Token.Rotate {
		p.fail(keyNode(n, "token", "reuse_grace"), "token.reuse_grace", ErrInvalid, "applies only with rotate: true")
	}
	if sc.Token.ReuseDetection && !sc.Token.Rotate {
		p.fail(keyNode(n, "token", "reuse_detection"), "token.reuse_detection", ErrInvalid, "applies only with rotate: true (without rotation no token is ever retired)")
	}
}

// checkFamilies validates what token families need: share only with
// families, a lease that outlasts one refresh, and a store for store_down.
func (p *parser) checkFamilies(n *yaml.Node, sc *Scenario, share bool) {
	f, sh := &sc.Fleet, &sc.Share
	switch {
	case f.Families > f.Sessions:
		p.fail(keyNode(n, "fleet", "families"), "fleet.families", ErrInvalid, "%d families for %d sessions: every family needs a session", f.Families, f.Sessions)
	case share && f.Families == 0:
		p.fail(keyNode(n, "share"), "share", ErrInvalid, "applies only with fleet.families (processes sharing a token family)")
	case f.WithoutToken > 0 && f.Families == 0:
		p.fail(keyNode(n, "fleet", "without_token"), "fleet.without_token", ErrInvalid, "applies only with fleet.families (processes of a token family)")
	case f.WithoutToken > 0 && f.WithoutToken >= f.Sessions/f.Families:
		p.fail(keyNode(n, "fleet", "without_token"), "fleet.without_token", ErrInvalid,
			"%d processes without a token in families of %d: every family needs one that holds it", f.WithoutToken, f.Sessions/f.Families)
	case sh.Kind == ShareStore && sh.Lease <= sc.Session.RequestTimeout+2*sh.Latency:
		// session.Coordinator: a lease must outlast one refresh request. The
		// holder marks its refresh two round trips after acquiring, then
		// waits up to request_timeout for the answer; a shorter lease lets a
		// second process take over while the request is in flight.
		at := keyNode(n, "share", "lease")
		if at == n {
			at = keyNode(n, "share") // the default lease
		}
		p.fail(at, "share.lease", ErrInvalid,
			"%v does not outlast one refresh (request_timeout %v plus two store round trips of %v)", sh.Lease, sc.Session.RequestTimeout, sh.Latency)
	}
	for i, w := range sc.Workload {
		if p.err == nil && w.Kind == WorkLogin && f.Families > 0 && sh.Kind != ShareStore {
			// A login is a new grant: processes that share nothing would
			// each need one, and the model's family is one grant.
			p.fail(&yaml.Node{Line: w.Line}, "workload["+strconv.Itoa(i)+"]", ErrInvalid,
				"a login of a token family needs share: {kind: store}, where it is published (without fleet.families each session logs in)")
		}
	}
	for i := range sc.Server.Faults {
		if p.err == nil && sc.Server.Faults[i].Kind == FaultStoreDown && sh.Kind != ShareStore {
			p.fail(&yaml.Node{Line: sc.Server.Faults[i].Line}, "server.faults["+strconv.Itoa(i)+"]", ErrInvalid, "a store_down fault needs share: {kind: store}")
		}
	}
}
