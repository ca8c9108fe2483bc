// Package fakeidp is the token endpoint of the session packages' tests: an
// http.RoundTripper in memory that issues rotating token pairs and plays
// the faults of docs/SCENARIOS.md. Time is time.Now, which is virtual
// inside a testing/synctest bubble. Only tests import it.
package fakeidp

import (
	"bytes"
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

// Fault is a fault kind of docs/SCENARIOS.md, as the fake token endpoint plays it.
type Fault struct {
	Kind       string // "", status, hang, refused, html200, malformed, lost_response, revoke
	Status     int
	Code       string // OAuth2 error code: a JSON error body, with any status (400/401/403 default to invalid_request)
	Desc       string // its error_description; "refused by the fake" when empty
	RetryAfter string
}

// Endpoint is an in-memory token endpoint: an http.RoundTripper that
// issues rotating token pairs and plays faults. Set its fields before its
// first request; Mu guards Refresh, FamilyRevoked, Forms and Auths after
// that.
type Endpoint struct {
	TTL     time.Duration
	Rotate  bool
	Latency time.Duration
	Prefix  string // marks issued tokens, for the canary test
	// CCNoRefresh makes client_credentials answers carry no refresh token,
	// as RFC 6749 §4.4.3 advises servers.
	CCNoRefresh bool
	// IDToken adds an OpenID Connect id_token to every answer.
	IDToken bool
	// OutageFrom and OutageTo bound an outage (502 pages), on time.Now.
	OutageFrom, OutageTo time.Time
	// ReuseDetection revokes the whole family when a retired refresh
	// token is presented outside ReuseGrace, as Auth0, Okta and fosite do.
	ReuseDetection bool
	ReuseGrace     time.Duration
	retired        map[string]time.Time // refresh token -> when it was rotated away
	FamilyRevoked  int                  // revocations by reuse detection

	Mu          sync.Mutex
	fault       Fault
	faultUntil  int // the fault covers requests while requests <= faultUntil; 0 = while set
	revoked     bool
	Refresh     string // the family's current refresh token
	n           int
	requests    int
	successes   int
	inFlight    int
	maxInFlight int
	Forms       []url.Values // the requests' forms
	Auths       []string     // the requests' Authorization headers
}

// New returns an endpoint issuing tokens that live ttl, rotating the
// refresh token, whose current refresh token is "tok-refresh-0".
func New(ttl time.Duration) *Endpoint {
	return &Endpoint{TTL: ttl, Rotate: true, Prefix: "tok", Refresh: "tok-refresh-0"}
}

// SetFault makes the next n requests (all of them when n is 0) meet fl.
func (f *Endpoint) SetFault(fl Fault, n int) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.fault = fl
	f.faultUntil = 0
	if n > 0 {
		f.faultUntil = f.requests + n
	}
}

// Stats returns the requests received, those that got a pair, and the most
// in flight at once.
func (f *Endpoint) Stats() (requests, successes, maxInFlight int) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return f.requests, f.successes, f.maxInFlight
}

// BadGatewayPage is nginx's 502 page.
const BadGatewayPage = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"

// RoundTrip answers a token request.
func (f *Endpoint) RoundTrip(req *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(req.Body)
	req.Body.Close()
	form, _ := url.ParseQuery(string(body))

	f.Mu.Lock()
	f.requests++
	f.inFlight++
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
	f.Forms = append(f.Forms, form)
	f.Auths = append(f.Auths, req.Header.Get("Authorization"))
	fl := f.fault
	if f.faultUntil > 0 && f.requests > f.faultUntil {
		fl = Fault{}
	}
	if now := time.Now(); !now.Before(f.OutageFrom) && now.Before(f.OutageTo) {
		fl = Fault{Kind: "status", Status: 502}
	}
	f.Mu.Unlock()
	defer func() {
		f.Mu.Lock()
		f.inFlight--
		f.Mu.Unlock()
	}()

	if fl.Kind == "refused" {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	}
	if tr := httptrace.ContextClientTrace(req.Context()); tr != nil && tr.WroteRequest != nil {
		tr.WroteRequest(httptrace.WroteRequestInfo{})
	}
	if err := f.wait(req.Context(), fl.Kind == "hang"); err != nil {
		return nil, err
	}
	switch fl.Kind {
	case "status":
		if fl.Code != "" || fl.Status == 400 || fl.Status == 401 || fl.Status == 403 {
			code, desc := fl.Code, fl.Desc
			if code == "" {
				code = "invalid_request"
			}
			if desc == "" {
				desc = "refused by the fake"
			}
			b, _ := json.Marshal(map[string]string{"error": code, "error_description": desc})
			return Respond(req, fl.Status, "application/json", string(b), fl.RetryAfter), nil
		}
		return Respond(req, fl.Status, "text/html", BadGatewayPage, fl.RetryAfter), nil
	case "html200":
		return Respond(req, 200, "text/html", "<html><body>Please log in to the Wi-Fi</body></html>", ""), nil
	case "malformed":
		return Respond(req, 200, "application/json", `{"access_token":"`+f.Prefix+`-broken`, ""), nil
	case "lost_response":
		f.grant(form) // the server performs the refresh; the answer is lost
		return Respond(req, 502, "text/html", BadGatewayPage, ""), nil
	case "revoke":
		f.Mu.Lock()
		f.revoked = true
		f.Mu.Unlock()
	}
	ok, payload := f.grant(form)
	if !ok {
		return Respond(req, 400, "application/json", `{"error":"invalid_grant","error_description":"refresh token is not valid"}`, ""), nil
	}
	return Respond(req, 200, "application/json", payload, ""), nil
}

// wait plays the endpoint's latency, or hangs until the request's deadline.
func (f *Endpoint) wait(ctx context.Context, hang bool) error {
	if !hang && f.Latency == 0 {
		return nil
	}
	var c <-chan time.Time
	if !hang {
		t := time.NewTimer(f.Latency)
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
func (f *Endpoint) grant(form url.Values) (bool, string) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	switch form.Get("grant_type") {
	case "refresh_token":
		rt := form.Get("refresh_token")
		at, retired := f.retired[rt]
		graced := retired && time.Since(at) < f.ReuseGrace
		if f.revoked || (rt != f.Refresh && !graced) {
			if retired && f.ReuseDetection && !f.revoked {
				f.revoked = true // the whole family, the newest token included
				f.FamilyRevoked++
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
		"access_token": fmt.Sprintf("%s-access-%d", f.Prefix, f.n),
		"token_type":   "Bearer",
		"expires_in":   f.TTL.Seconds(), // 0.001 for a millisecond, as a hostile server may send
	}
	if f.IDToken {
		resp["id_token"] = fmt.Sprintf("%s-id-%d", f.Prefix, f.n)
	}
	cc := form.Get("grant_type") == "client_credentials"
	if (f.Rotate && !cc) || (cc && !f.CCNoRefresh) {
		if f.retired == nil {
			f.retired = map[string]time.Time{}
		}
		f.retired[f.Refresh] = time.Now()
		f.Refresh = fmt.Sprintf("%s-refresh-%d", f.Prefix, f.n)
		f.revoked = false
		resp["refresh_token"] = f.Refresh
	}
	b, _ := json.Marshal(resp)
	return true, string(b)
}

// Respond builds an answer to req.
func Respond(req *http.Request, status int, ctype, body, retryAfter string) *http.Response {
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

// Current returns the family's current refresh token, for sessions that
// share one family without coordinating (as processes behind a throttle
// test do not, the family being beside the point there).
func (f *Endpoint) Current() string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return f.Refresh
}

// LockedBuffer is a bytes.Buffer shared by the goroutines of a session
// under test, which write its logs and audit records.
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Grants returns the grant_type of every request so far.
func (f *Endpoint) Grants() []string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	var grants []string
	for _, form := range f.Forms {
		grants = append(grants, form.Get("grant_type"))
	}
	return grants
}

// HydraConflict is fosite's (Ory Hydra v2.3.0's) description of a refresh
// that lost a storage conflict: the transaction rolled back, the refresh
// token was not consumed, and the same request succeeds when sent again.
const HydraConflict = "The request is missing a required parameter, includes an invalid parameter value, " +
	"includes a parameter more than once, or is otherwise malformed. Failed to refresh token because of " +
	"multiple concurrent requests using the same token. Please retry the request."
