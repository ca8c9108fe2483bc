package session

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// fault is a fault kind of docs/SCENARIOS.md, as the fake token endpoint plays it.
type fault struct {
	kind       string // "", status, hang, refused, html200, malformed, lost_response, revoke
	status     int
	code       string // OAuth2 error code: a JSON error body, with any status (400/401/403 default to invalid_request)
	desc       string // its error_description; "refused by the fake" when empty
	retryAfter string
}

// fakeEndpoint is an in-memory token endpoint: an http.RoundTripper that
// issues rotating token pairs and plays faults. Time is time.Now, which is
// virtual inside a testing/synctest bubble.
type fakeEndpoint struct {
	ttl     time.Duration
	rotate  bool
	latency time.Duration
	prefix  string // marks issued tokens, for the canary test
	// ccNoRefresh makes client_credentials answers carry no refresh token,
	// as RFC 6749 §4.4.3 advises servers.
	ccNoRefresh bool
	// idToken adds an OpenID Connect id_token to every answer.
	idToken bool
	// outageFrom and outageTo bound an outage (502 pages), on time.Now.
	outageFrom, outageTo time.Time
	// reuseDetection revokes the whole family when a retired refresh
	// token is presented outside reuseGrace, as Auth0, Okta and fosite do.
	reuseDetection bool
	reuseGrace     time.Duration
	retired        map[string]time.Time // refresh token -> when it was rotated away
	familyRevoked  int                  // revocations by reuse detection

	mu          sync.Mutex
	fault       fault
	faultUntil  int // the fault covers requests while requests <= faultUntil; 0 = while set
	revoked     bool
	refresh     string
	n           int
	requests    int
	successes   int
	inFlight    int
	maxInFlight int
	forms       []url.Values
	auths       []string
}

func newFakeEndpoint(ttl time.Duration) *fakeEndpoint {
	return &fakeEndpoint{ttl: ttl, rotate: true, prefix: "tok", refresh: "tok-refresh-0"}
}

// setFault makes the next n requests (all of them when n is 0) meet f.
func (f *fakeEndpoint) setFault(fl fault, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = fl
	f.faultUntil = 0
	if n > 0 {
		f.faultUntil = f.requests + n
	}
}

func (f *fakeEndpoint) stats() (requests, successes, maxInFlight int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests, f.successes, f.maxInFlight
}

const badGatewayPage = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"

func (f *fakeEndpoint) RoundTrip(req *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(req.Body)
	req.Body.Close()
	form, _ := url.ParseQuery(string(body))

	f.mu.Lock()
	f.requests++
	f.inFlight++
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
	f.forms = append(f.forms, form)
	f.auths = append(f.auths, req.Header.Get("Authorization"))
	fl := f.fault
	if f.faultUntil > 0 && f.requests > f.faultUntil {
		fl = fault{}
	}
	if now := time.Now(); !now.Before(f.outageFrom) && now.Before(f.outageTo) {
		fl = fault{kind: "status", status: 502}
	}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()

	if fl.kind == "refused" {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	}
	if tr := httptrace.ContextClientTrace(req.Context()); tr != nil && tr.WroteRequest != nil {
		tr.WroteRequest(httptrace.WroteRequestInfo{})
	}
	if err := f.wait(req.Context(), fl.kind == "hang"); err != nil {
		return nil, err
	}
	switch fl.kind {
	case "status":
		if fl.code != "" || fl.status == 400 || fl.status == 401 || fl.status == 403 {
			code, desc := fl.code, fl.desc
			if code == "" {
				code = "invalid_request"
			}
			if desc == "" {
				desc = "refused by the fake"
			}
			b, _ := json.Marshal(map[string]string{"error": code, "error_description": desc})
			return respond(req, fl.status, "application/json", string(b), fl.retryAfter), nil
		}
		return respond(req, fl.status, "text/html", badGatewayPage, fl.retryAfter), nil
	case "html200":
		return respond(req, 200, "text/html", "<html><body>Please log in to the Wi-Fi</body></html>", ""), nil
	case "malformed":
		return respond(req, 200, "application/json", `{"access_token":"`+f.prefix+`-broken`, ""), nil
	case "lost_response":
		f.grant(form) // the server performs the refresh; the answer is lost
		return respond(req, 502, "text/html", badGatewayPage, ""), nil
	case "revoke":
		f.mu.Lock()
		f.revoked = true
		f.mu.Unlock()
	}
	ok, payload := f.grant(form)
	if !ok {
		return respond(req, 400, "application/json", `{"error":"invalid_grant","error_description":"refresh token is not valid"}`, ""), nil
	}
	return respond(req, 200, "application/json", payload, ""), nil
}

// wait plays the endpoint's latency, or hangs until the request's deadline.
func (f *fakeEndpoint) wait(ctx context.Context, hang bool) error {
	if !hang && f.latency == 0 {
		return nil
	}
	var c <-chan time.Time
	if !hang {
		t := time.NewTimer(f.latency)
		defer t.Stop()
		c = t.C
	}
	select {
	case <-c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// grant checks the grant and issues a pair.
func (f *fakeEndpoint) grant(form url.Values) (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch form.Get("grant_type") {
	case "refresh_token":
		rt := form.Get("refresh_token")
		at, retired := f.retired[rt]
		graced := retired && time.Since(at) < f.reuseGrace
		if f.revoked || (rt != f.refresh && !graced) {
			if retired && f.reuseDetection && !f.revoked {
				f.revoked = true // the whole family, the newest token included
				f.familyRevoked++
			}
			return false, ""
		}
	case "client_credentials":
	default:
		return false, ""
	}
	f.n++
	f.successes++
	resp := map[string]any{
		"access_token": fmt.Sprintf("%s-access-%d", f.prefix, f.n),
		"token_type":   "Bearer",
		"expires_in":   f.ttl.Seconds(), // 0.001 for a millisecond, as a hostile server may send
	}
	if f.idToken {
		resp["id_token"] = fmt.Sprintf("%s-id-%d", f.prefix, f.n)
	}
	cc := form.Get("grant_type") == "client_credentials"
	if (f.rotate && !cc) || (cc && !f.ccNoRefresh) {
		if f.retired == nil {
			f.retired = map[string]time.Time{}
		}
		f.retired[f.refresh] = time.Now()
		f.refresh = fmt.Sprintf("%s-refresh-%d", f.prefix, f.n)
		f.revoked = false
		resp["refresh_token"] = f.refresh
	}
	b, _ := json.Marshal(resp)
	return true, string(b)
}

func respond(req *http.Request, status int, ctype, body, retryAfter string) *http.Response {
	h := http.Header{"Content-Type": {ctype}}
	if retryAfter != "" {
		h.Set("Retry-After", retryAfter)
	}
	return &http.Response{
		StatusCode: status, Status: strconv.Itoa(status) + " " + http.StatusText(status),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req,
	}
}

// current returns the family's current refresh token, for sessions that
// share one family without coordinating (as processes behind a throttle
// test do not, the family being beside the point there).
func (f *fakeEndpoint) current() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refresh
}
