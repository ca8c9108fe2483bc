package policy

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Throttle is a client-side throttle shared by all the sessions of one
// process that refresh at one token endpoint. Before each attempt a session
// asks Allow; after each attempt it sent it calls Record with whether the
// server accepted it (see Accepted).
//
// # The problem
//
// When the authorization server goes down, every session retries on its own
// backoff schedule. Each schedule is sensible, but two thousand of them are
// not: with exponential backoff from 1 s, ×2, at most 60 s, full jitter, a
// model of 2,000 sessions through a 15-minute outage (TestThrottleModel)
// sends about 41,000 token requests to a server that cannot answer any of
// them, and meets it with that load the moment it comes back.
//
// # Why the known designs fail here
//
// Google SRE's client-side adaptive throttling ("Handling Overload", Site
// Reliability Engineering, ch. 21) counts, over the last two minutes, the
// requests the client wanted to send and those the server accepted, and
// rejects a request locally with probability
//
//	max(0, (requests − K·accepts) / (requests + 1))
//
// with K = 2. In the model it sends 14 requests over the outage instead of
// 41,000. But the locally rejected attempts count as requests, and they keep
// coming after the server is back: with no accept in the window the
// probability is n/(n+1), almost 1, the few attempts that get through barely
// move it (1 − p about doubles per window), and the last session recovers 12
// minutes after the outage (10 to 23 minutes over 30 seeds) instead of one.
//
// The retry token buckets of gRPC (retryThrottling) and the AWS SDKs (the
// retry quota) take a token per failed attempt and allow retries only while
// tokens remain; only a success puts tokens back. For a refresher whose
// every attempt after the first is a retry, an outage empties the bucket and
// blocks all retries until a success refills it — and there is no success
// without an attempt.
//
// # What this throttle changes
//
// It is Google SRE's throttle with two changes:
//
//   - A probe: Allow lets one attempt through whenever none was let through
//     for a Probe interval (30 s by default), whatever the ratio, so the
//     server's return is noticed within one probe interval, not when the
//     ratio happens to decay. During an outage this adds one request per
//     Probe to the whole process.
//   - Forgetting the outage: the first accept after an outage resets the
//     counts. The server answers again, so the requests it could not answer
//     say nothing about the requests it can; the attempts that follow go
//     through at once, and if the server is still overloaded, its failures
//     raise the ratio again within the window. An outage, as opposed to an
//     overload, is a run of failures with no accept between them that lasted
//     at least one Probe interval, or that left no accept in the window. In
//     an overload the server keeps accepting some attempts, the runs of
//     failures are short and the counts stay.
//
// In the same model the two changes send 38 requests over the outage (a
// probe every 30 s and a few more) and the last session recovers 61 seconds
// after it (59 to 88 s over 30 seeds). The bound is Probe plus the longest
// wait of the sessions' schedules: the server's return is seen by a probe at
// most Probe after it, and a session throttled just before that probe
// comes back at the end of its own wait.
//
// # Use
//
// A throttled attempt (Allow reports false) is not sent and not Recorded; for
// the session it is a transient failure like any other, so the session waits
// its policy's next delay and asks again. A Retry-After from the server is
// honoured by the session's policy, separately from the throttle.
//
// Throttle is pure: the caller passes the time and a uniformly distributed
// random number, so the same inputs give the same decisions, in the runtime
// as in the simulator. Memory is fixed (the window is a ring of 60 buckets of
// Window/60 each) and every call is O(1). A Throttle is not safe for
// concurrent use: the sessions sharing it call Allow and Record under one
// mutex. Time should not go backwards; if it does, counts go to the newest
// bucket and a probe is due at once.
//
// A nil *Throttle, like one of kind none, allows every attempt.
type Throttle struct {
	spec ThrottleSpec // resolved: kind adaptive, every setting given
	w    window

	sent     bool      // an attempt was let through,
	lastSent time.Time // at this time

	failing      bool      // every attempt recorded since the last accept failed,
	failingSince time.Time // since the first of them
}

// ThrottledCause is the cause of an attempt a Throttle kept from being sent,
// as the session runtime and the simulator record it.
const ThrottledCause = "throttled locally: the token endpoint has been failing for this process's sessions"

// Throttle kinds, as scenario files name them.
const (
	// ThrottleNone sends every attempt; it is the default.
	ThrottleNone = "none"
	// ThrottleAdaptive is Throttle's adaptive throttling with probes.
	ThrottleAdaptive = "adaptive"
)

// ThrottleKinds lists the throttle kinds.
var ThrottleKinds = []string{ThrottleNone, ThrottleAdaptive}

// The settings an adaptive throttle takes when its spec leaves them zero.
const (
	DefaultThrottleK      = 2.0
	DefaultThrottleWindow = 2 * time.Minute
	DefaultThrottleProbe  = 30 * time.Second
)

// ThrottleSpec describes a throttle the way a scenario file does:
//
//	throttle: {kind: adaptive, k: 2, window: 2m, probe: 30s}
//
// The zero value is kind none. For kind adaptive a zero setting takes its
// default (DefaultThrottleK, DefaultThrottleWindow, DefaultThrottleProbe).
type ThrottleSpec struct {
	Kind string // none (or "") | adaptive
	// K is how many requests per accept the throttle lets pass before it
	// starts to reject: 2 rejects nothing while at least half the attempts
	// are accepted. At least 1.
	K float64
	// Window is how far back requests and accepts count, 1 s to 24 h.
	Window time.Duration
	// Probe is the longest time Allow goes without letting an attempt
	// through, 1 ms to 24 h.
	Probe time.Duration
}

// A ThrottleSpecError reports a throttle setting that ThrottleSpec.Build
// refuses.
type ThrottleSpecError struct {
	Key    string // kind, k, window or probe, as a scenario file names it
	Reason string
}

func (e *ThrottleSpecError) Error() string {
	return "policy: throttle " + e.Key + ": " + e.Reason
}

// Bounds of the adaptive throttle's settings.
const (
	minThrottleWindow = time.Second
	minThrottleProbe  = time.Millisecond
	maxThrottleSpan   = 24 * time.Hour
)

// Build validates s and returns the throttle it describes, with fresh counts.
// A setting that kind none does not use is an error, as with Spec.Build; the
// errors are *ThrottleSpecError.
func (s ThrottleSpec) Build() (*Throttle, error) {
	switch s.Kind {
	case "", ThrottleNone:
		if s.K != 0 || s.Window != 0 || s.Probe != 0 {
			return nil, &ThrottleSpecError{Key: s.firstSet(), Reason: "does not apply to kind none (every attempt is sent)"}
		}
		return &Throttle{spec: ThrottleSpec{Kind: ThrottleNone}}, nil
	case ThrottleAdaptive:
	default:
		return nil, &ThrottleSpecError{Key: "kind", Reason: fmt.Sprintf("unknown kind %q (want none or adaptive)", s.Kind)}
	}
	if s.K == 0 {
		s.K = DefaultThrottleK
	}
	if s.Window == 0 {
		s.Window = DefaultThrottleWindow
	}
	if s.Probe == 0 {
		s.Probe = DefaultThrottleProbe
	}
	switch {
	case math.IsNaN(s.K) || math.IsInf(s.K, 0) || s.K < 1:
		// Below 1 the throttle would reject attempts to a server that
		// accepts every one of them.
		return nil, &ThrottleSpecError{Key: "k", Reason: fmt.Sprintf("%v is not a finite number of at least 1", s.K)}
	case s.Window < minThrottleWindow || s.Window > maxThrottleSpan:
		return nil, &ThrottleSpecError{Key: "window", Reason: fmt.Sprintf("%v is outside [%v, %v]", s.Window, minThrottleWindow, maxThrottleSpan)}
	case s.Probe < minThrottleProbe || s.Probe > maxThrottleSpan:
		return nil, &ThrottleSpecError{Key: "probe", Reason: fmt.Sprintf("%v is outside [%v, %v]", s.Probe, minThrottleProbe, maxThrottleSpan)}
	}
	t := &Throttle{spec: s}
	t.w.width = int64(s.Window / throttleBuckets)
	return t, nil
}

// firstSet names the first setting of s that is set, for errors.
func (s ThrottleSpec) firstSet() string {
	switch {
	case s.K != 0:
		return "k"
	case s.Window != 0:
		return "window"
	}
	return "probe"
}

// ThrottleRand returns the source, seeded with seed, of the random numbers
// that a throttle shared by the sessions of a run draws for Allow:
// throttle.New's and the simulator's shared throttle's, which draw
// the same stream so that the simulator's verdict is the runtime's.
func ThrottleRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^throttleMix)) }

// throttleMix makes the second word of ThrottleRand's generator.
const throttleMix = 0x7e57

// Spec returns the settings t runs with, defaults filled in.
func (t *Throttle) Spec() ThrottleSpec {
	if t == nil {
		return ThrottleSpec{Kind: ThrottleNone}
	}
	return t.spec
}

// Allow reports whether an attempt at now may be sent. r is a uniformly
// distributed random number the caller draws from its seeded source. Allow
// lets the attempt through when none was let through in the last Probe
// interval; otherwise it rejects it with probability
// max(0, (requests − K·accepts) / (requests + 1)) over the window. The
// caller sends an attempt that is let through and Records its outcome; one
// that is not is a transient failure for its session.
//
// Every attempt counts as a request: a rejected one at once, one let
// through when Record reports its outcome. An attempt in flight does not
// count yet, since it is neither a failure nor an accept: counted at Allow,
// the attempts of sessions that refresh at the same instant (started by one
// deploy, they share their refresh-ahead point) would each find the others
// counted without an accept, and a healthy server's fleet would be throttled.
func (t *Throttle) Allow(now time.Time, r uint64) bool {
	if t == nil || t.spec.Kind != ThrottleAdaptive {
		return true
	}
	i := t.w.advance(now)
	p := t.w.rejectProbability(t.spec.K)
	since := now.Sub(t.lastSent)
	if t.sent && since >= 0 && since < t.spec.Probe && unit(r) < p {
		t.w.requests[i]++
		t.w.nRequests++
		return false
	}
	t.sent, t.lastSent = true, now
	return true
}

// Record records the outcome at now of an attempt that Allow let through:
// accepted when the server answered it (Accepted tells), not when the
// attempt failed transiently without an answer from the server. The first
// accept after an outage — a run of failures that lasted a Probe interval or
// left no accept in the window — resets the counts.
func (t *Throttle) Record(now time.Time, accepted bool) {
	if t == nil || t.spec.Kind != ThrottleAdaptive {
		return
	}
	i := t.w.advance(now)
	if !accepted {
		t.w.requests[i]++
		t.w.nRequests++
		if !t.failing {
			t.failing, t.failingSince = true, now
		}
		return
	}
	if t.failing && (now.Sub(t.failingSince) >= t.spec.Probe || t.w.nAccepts == 0) {
		t.w.reset()
	}
	t.failing = false
	t.w.requests[i]++ // the request this accept answers
	t.w.nRequests++
	t.w.accepts[i]++
	t.w.nAccepts++
}

// Accepted reports whether an outcome counts as an accept for a Throttle:
// whether the answer proves that the authorization server processes
// requests. It does when it is a token response, or an OAuth2 error that the
// server gives after evaluating the request: any permanent code
// (IsPermanentCode) with any status, or another code with a status other than
// 408, 429 and 5xx, except server_error, temporarily_unavailable and slow_down,
// which say the server did not process it. No answer (a timeout, a refused
// or reset connection), a 408, a 429, a 5xx, and anything a proxy can send
// (an HTML page, a 401, 403 or 404 without an OAuth2 error) is not an accept.
func Accepted(o Outcome) bool {
	switch {
	case o.Status == 0:
		return false
	case IsPermanentCode(o.ErrorCode):
		return true
	case o.Status == 408 || o.Status == 429 || o.Status >= 500:
		return false
	case o.ErrorCode == "server_error" || o.ErrorCode == "temporarily_unavailable" || o.ErrorCode == "slow_down":
		return false
	case o.ErrorCode != "":
		return true
	}
	return o.Status >= 200 && o.Status < 300 && o.Err == nil
}

// unit maps r onto [0, 1).
func unit(r uint64) float64 {
	return float64(r>>11) * 0x1p-53
}

// throttleBuckets is the number of buckets a throttle's window is kept in.
const throttleBuckets = 60

// window counts requests and accepts over the last throttleBuckets buckets
// of width nanoseconds each, with their totals, in fixed memory.
type window struct {
	width     int64     // nanoseconds per bucket
	origin    time.Time // start of bucket 0, the first time seen
	head      int64     // number of the newest bucket, from origin
	started   bool
	requests  [throttleBuckets]int64
	accepts   [throttleBuckets]int64
	nRequests int64 // sum of requests
	nAccepts  int64 // sum of accepts
}

// advance moves the window to now, dropping the buckets that fell out of it,
// and returns the index of now's bucket. A time before the newest bucket
// counts in the newest bucket.
func (w *window) advance(now time.Time) int {
	if !w.started {
		w.origin, w.started = now, true
	}
	if d := now.Sub(w.origin); d >= 0 {
		if n := int64(d) / w.width; n > w.head {
			for b := w.head + 1; b <= min(n, w.head+throttleBuckets); b++ {
				i := b % throttleBuckets
				w.nRequests -= w.requests[i]
				w.nAccepts -= w.accepts[i]
				w.requests[i], w.accepts[i] = 0, 0
			}
			w.head = n
		}
	}
	return int(w.head % throttleBuckets)
}

// reset forgets every count.
func (w *window) reset() {
	w.requests, w.accepts = [throttleBuckets]int64{}, [throttleBuckets]int64{}
	w.nRequests, w.nAccepts = 0, 0
}

// rejectProbability is Google SRE's max(0, (requests − k·accepts) / (requests + 1)).
func (w *window) rejectProbability(k float64) float64 {
	return max(0, (float64(w.nRequests)-k*float64(w.nAccepts))/(float64(w.nRequests)+1))
}
