package declare

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/authfsm/authfsm/internal/yamlwalk"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// Session is a declared session: the keys of the session block.
type Session struct {
	// RefreshAhead (refresh_ahead) starts a refresh this long before the
	// access token expires; 0 refreshes at expiry or on a rejection only.
	// Default states.DefaultRefreshAhead (5 minutes).
	RefreshAhead time.Duration
	// RequestTimeout (request_timeout) is the deadline of one refresh
	// request. Default states.DefaultRequestTimeout (10 seconds).
	RequestTimeout time.Duration
	// WaitForRefresh (wait_for_refresh) is how long a call that finds no
	// usable token waits for one; 0, the default, fails it at once.
	WaitForRefresh time.Duration
	// Policy (policy) is the retry policy; default policy.DefaultSpec().
	Policy policy.Spec
	// Fallback (fallback): a refresh token refused for good is followed,
	// within the same attempt, by a client_credentials grant. Default
	// false.
	Fallback bool
	// Throttle (throttle) is one client-side throttle shared by the
	// sessions on one token endpoint; kind none, the zero value and the
	// default, sends every attempt.
	Throttle policy.ThrottleSpec

	// The keys below matter to processes sharing one token family (a
	// coordinator or a shared store); a session of its own ignores them.

	// Lease (lease) is how long a process of a token family holds the
	// family's refresh lease while it refreshes (session.WithLease). It
	// must outlast one refresh request: a lease at or below request_timeout
	// is an error here, and the runtime lengthens any shorter lease to the
	// request timeout plus states.LeaseMargin (5 seconds). Default
	// states.DefaultLease (30 seconds).
	Lease time.Duration
	// ReuseGrace (reuse_grace) is how long the authorization server still
	// accepts a refresh token after rotating it (Ory Hydra's
	// oauth2.grant.refresh_token.rotation_grace_period, at most 5 minutes
	// there; Auth0's reuse interval; Okta's grace period): inside it, a
	// process taking over from a holder that vanished mid-refresh presents
	// the refresh token again (session.WithReuseGrace). Default 0: the
	// server accepts none. A scenario whose session block leaves it out
	// takes its token.reuse_grace, the simulated server's.
	ReuseGrace time.Duration
	// SoloWhenStoreDown (solo_when_store_down) lets a process whose shared
	// store is unreachable refresh on its own once its token is unusable
	// (session.WithSoloWhenStoreDown). With a rotating server the new
	// refresh token cannot be published, so the other processes' copies die
	// with it. Default false: the process keeps serving its valid token and
	// retries the store on its policy's schedule.
	SoloWhenStoreDown bool
}

// Default returns the session every key left out declares: the runtime's
// defaults.
func Default() Session {
	return Session{RefreshAhead: states.DefaultRefreshAhead, RequestTimeout: states.DefaultRequestTimeout, Policy: policy.DefaultSpec(),
		Lease: states.DefaultLease}
}

// longest bounds a duration the block accepts without a tighter range: a
// typo must not ask for a century.
const longest = 366 * 24 * time.Hour

// MaxFileSize is the size of the largest file Load and Parse accept: a
// session block is a dozen lines.
const MaxFileSize = 1 << 20

// Load reads the file at path, a session block as its only YAML document
// (the keys of the session block at the top level), and parses it (Parse).
// It reads no more than MaxFileSize bytes and one byte beyond.
func Load(path string) (Session, error) {
	data, p := yamlwalk.ReadFile(path, MaxFileSize)
	if p != nil {
		return Session{}, fromProblem(path, p)
	}
	return Parse(path, data)
}

// Parse parses data, a session block as its only YAML document; file names
// it in errors. An empty document declares the defaults. Every problem is
// an *Error naming the file, the line and the key; a file larger than
// MaxFileSize, or holding a second YAML document, is one too.
func Parse(file string, data []byte) (Session, error) {
	root, p := yamlwalk.Document(data, MaxFileSize, "session")
	switch {
	case p != nil:
		return Session{}, fromProblem(file, p)
	case root == nil:
		return Default(), nil
	}
	return ParseNode(file, root, "")
}

// ParseNode reads n, a YAML mapping found at path in file (such as
// "profiles.api.session"), as a session block; keys left out take their
// defaults, and a nil n declares them all. A problem is an *Error naming
// the file, the line and the key under path.
func ParseNode(file string, n *yaml.Node, path string) (Session, error) {
	s := Default()
	if n == nil {
		return s, nil
	}
	var w yamlwalk.Walker
	read(&w, n, path, &s)
	if w.Err != nil {
		return Session{}, fromProblem(file, w.Err)
	}
	return s, nil
}

// read reads the session block n at path into s with w; keys left out
// keep s's values.
func read(w *yamlwalk.Walker, n *yaml.Node, path string, s *Session) {
	given := w.Mapping(n, path, []yamlwalk.Field{
		{Key: "refresh_ahead", Set: w.Duration(&s.RefreshAhead, 0, longest)},
		{Key: "request_timeout", Set: w.Duration(&s.RequestTimeout, time.Millisecond, time.Hour)},
		{Key: "wait_for_refresh", Set: w.Duration(&s.WaitForRefresh, 0, time.Hour)},
		{Key: "policy", Set: func(n *yaml.Node, key string) { readPolicy(w, n, key, &s.Policy) }},
		{Key: "fallback", Set: w.Boolean(&s.Fallback)},
		{Key: "throttle", Set: func(n *yaml.Node, key string) { readThrottle(w, n, key, &s.Throttle) }},
		{Key: "lease", Set: w.Duration(&s.Lease, time.Second, 24*time.Hour)},
		{Key: "reuse_grace", Set: w.Duration(&s.ReuseGrace, 0, 24*time.Hour)},
		{Key: "solo_when_store_down", Set: w.Boolean(&s.SoloWhenStoreDown)},
	})
	// A lease left out is lengthened as the runtime lengthens any
	// (states.LeaseTTL); one given must outlast the request it covers.
	if k := given["lease"]; k != nil && w.Err == nil && s.Lease <= s.RequestTimeout {
		w.Fail(k, yamlwalk.Join(path, "lease"), ErrInvalid, "%v does not outlast one refresh request (request_timeout %v)", s.Lease, s.RequestTimeout)
	}
}

// readThrottle reads throttle: {kind, k, window, probe}. Settings left
// out take policy's defaults; a setting that kind none does not use is an
// error, as policy.ThrottleSpec.Build says.
func readThrottle(w *yamlwalk.Walker, n *yaml.Node, path string, s *policy.ThrottleSpec) {
	var got policy.ThrottleSpec
	w.Mapping(n, path, []yamlwalk.Field{
		{Key: "kind", Set: w.Text(&got.Kind)},
		{Key: "k", Set: w.Float(&got.K, 1, 1000)},
		{Key: "window", Set: w.Duration(&got.Window, time.Second, 24*time.Hour)},
		{Key: "probe", Set: w.Duration(&got.Probe, time.Millisecond, 24*time.Hour)},
	})
	if w.Err != nil {
		return
	}
	t, err := got.Build()
	if err != nil {
		at, key := n, path
		if e, ok := err.(*policy.ThrottleSpecError); ok {
			at, key = yamlwalk.KeyNode(n, e.Key), path+"."+e.Key
			err = errors.New(e.Reason)
		}
		w.Fail(at, key, ErrInvalid, "%v", err)
		return
	}
	if spec := t.Spec(); spec.Kind == policy.ThrottleAdaptive {
		*s = spec // kind none stays the zero value, as when the key is left out
	}
}

// readPolicy reads a policy. Keys the file omits take the defaults of its
// kind (policy.Spec.WithKind); a key that the kind does not use is an
// error.
func readPolicy(w *yamlwalk.Walker, n *yaml.Node, path string, s *policy.Spec) {
	var got policy.Spec
	var jitter string
	given := map[string]bool{}
	mark := func(key string, set func(*yaml.Node, string)) yamlwalk.Field {
		return yamlwalk.Field{Key: key, Set: func(n *yaml.Node, k string) { given[key] = true; set(n, k) }}
	}
	w.Mapping(n, path, []yamlwalk.Field{
		mark("kind", w.Text(&got.Kind)),
		mark("initial", w.Duration(&got.Initial, time.Millisecond, 24*time.Hour)),
		mark("multiplier", w.Float(&got.Multiplier, 1, 100)),
		mark("max", w.Duration(&got.Max, 0, 24*time.Hour)),
		mark("jitter", w.Text(&jitter)),
		mark("max_attempts", w.Integer(&got.MaxAttempts, 0, math.MaxInt32)),
		mark("max_elapsed", w.Duration(&got.MaxElapsed, 0, longest)),
	})
	if w.Err != nil {
		return
	}
	if jitter != "" {
		j, err := policy.ParseJitter(jitter)
		if err != nil {
			w.Fail(n, path+".jitter", ErrInvalid, "%s: want none, full, equal or decorrelated", w.Value(jitter))
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
		w.Fail(n, path, ErrInvalid, "%s", strings.TrimPrefix(err.Error(), "policy: "))
		return
	}
	*s = spec
}

// YAML writes s as a session block that ParseNode reads back into s, every
// key given but a lease that does not outlast the request timeout (the
// default, lengthened), each line led by indent; the policy and the
// throttle on one line each.
func (s Session) YAML(indent string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%srefresh_ahead: %v\n%srequest_timeout: %v\n%swait_for_refresh: %v\n%sfallback: %t\n",
		indent, s.RefreshAhead, indent, s.RequestTimeout, indent, s.WaitForRefresh, indent, s.Fallback)
	// Only the keys the kind uses: any other is an error on parsing.
	switch p := s.Policy; p.Kind {
	case "none":
		fmt.Fprintf(&b, "%spolicy: {kind: %s}\n", indent, p.Kind)
	case "constant":
		fmt.Fprintf(&b, "%spolicy: {kind: %s, initial: %v, jitter: %v, max_attempts: %d, max_elapsed: %v}\n",
			indent, p.Kind, p.Initial, p.Jitter, p.MaxAttempts, p.MaxElapsed)
	default:
		fmt.Fprintf(&b, "%spolicy: {kind: %s, initial: %v, multiplier: %s, max: %v, jitter: %v, max_attempts: %d, max_elapsed: %v}\n",
			indent, p.Kind, p.Initial, strconv.FormatFloat(p.Multiplier, 'g', -1, 64), p.Max, p.Jitter, p.MaxAttempts, p.MaxElapsed)
	}
	// A throttle of kind none, the default, is left out: it has no other key.
	if th := s.Throttle; th.Kind == policy.ThrottleAdaptive {
		fmt.Fprintf(&b, "%sthrottle: {kind: %s, k: %s, window: %v, probe: %v}\n",
			indent, th.Kind, strconv.FormatFloat(th.K, 'g', -1, 64), th.Window, th.Probe)
	}
	// A lease that does not outlast the request is the default lengthened
	// (ParseNode refuses it given): left out, it reads back the same.
	if s.Lease > s.RequestTimeout {
		fmt.Fprintf(&b, "%slease: %v\n", indent, s.Lease)
	}
	fmt.Fprintf(&b, "%sreuse_grace: %v\n%ssolo_when_store_down: %t\n", indent, s.ReuseGrace, indent, s.SoloWhenStoreDown)
	return b.String()
}
