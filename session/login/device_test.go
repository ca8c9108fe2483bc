package login

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/internal/fakeidp"
	"github.com/authfsm/authfsm/session/oauth"
)

const (
	testDeviceURL  = "https://auth.example/oauth/device"
	testDeviceCode = "DEVICE-CODE-SECRET"
)

// deviceServer plays an authorization server's device flow: the device
// authorization endpoint, and a token endpoint answering successive polls
// from a script. Time is time.Now, virtual inside a synctest bubble.
type deviceServer struct {
	// authorize is the device authorization answer's body; "" means a
	// standard one with interval 5 and expires_in 600.
	authorize       string
	authorizeStatus int
	// script answers the polls in turn, the last one for ever after:
	// "pending", "slow_down", "access_denied", "expired_token", "ok",
	// "503" (a proxy's page), "refused" (no server), "invalid_grant",
	// "invalid_request", "echo" (an error describing the device code).
	script []string

	mu         sync.Mutex
	start      time.Time
	polls      []time.Duration // when each poll came, from start
	forms      []url.Values    // every request's form, in order
	authForms  []url.Values
	authorized bool
}

func (d *deviceServer) RoundTrip(req *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(req.Body)
	req.Body.Close()
	form, _ := url.ParseQuery(string(b))
	d.mu.Lock()
	defer d.mu.Unlock()
	if req.URL.String() == testDeviceURL {
		d.authForms = append(d.authForms, form)
		d.start = time.Now()
		if d.authorizeStatus != 0 {
			return fakeidp.Respond(req, d.authorizeStatus, "application/json", `{"error":"unauthorized_client","error_description":"no device flow for you"}`, ""), nil
		}
		body := d.authorize
		if body == "" {
			body = `{"device_code":"` + testDeviceCode + `","user_code":"WDJB-MJHT","verification_uri":"https://auth.example/device",` +
				`"verification_uri_complete":"https://auth.example/device?user_code=WDJB-MJHT","expires_in":600,"interval":5}`
		}
		return fakeidp.Respond(req, 200, "application/json", body, ""), nil
	}
	d.forms = append(d.forms, form)
	d.polls = append(d.polls, time.Since(d.start))
	step := d.script[min(len(d.polls), len(d.script))-1]
	switch step {
	case "refused":
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	case "503":
		return fakeidp.Respond(req, 503, "text/html", fakeidp.BadGatewayPage, ""), nil
	case "ok":
		if form.Get("grant_type") != string(oauth.GrantDeviceCode) || form.Get("device_code") != testDeviceCode {
			return fakeidp.Respond(req, 400, "application/json", `{"error":"invalid_grant"}`, ""), nil
		}
		return fakeidp.Respond(req, 200, "application/json",
			`{"access_token":"at-1","refresh_token":"rt-1","expires_in":3600,"token_type":"Bearer","id_token":"id-1"}`, ""), nil
	case "echo":
		return fakeidp.Respond(req, 400, "application/json", `{"error":"invalid_grant","error_description":"bad code `+testDeviceCode+`"}`, ""), nil
	case "pending":
		step = "authorization_pending"
	}
	return fakeidp.Respond(req, 400, "application/json", `{"error":"`+step+`"}`, ""), nil
}

func (d *deviceServer) pollTimes() []time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]time.Duration(nil), d.polls...)
}

func deviceClient(t *testing.T, d *deviceServer, e oauth.Endpoint) *oauth.Client {
	t.Helper()
	e.TokenURL, e.DeviceAuthURL = testURL, testDeviceURL
	if e.ClientID == "" {
		e.ClientID = "cli"
	}
	e.HTTPClient = &http.Client{Transport: d}
	c, err := oauth.NewClient(e)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func secs(s ...float64) []time.Duration {
	var d []time.Duration
	for _, x := range s {
		d = append(d, time.Duration(x*float64(time.Second)))
	}
	return d
}

// TestDevice plays RFC 8628's polling against scripted answers, in
// virtual time: the interval, slow_down adding 5 s for good, pending
// waited for, the two ends that are not a token, the code's expiry, and
// transient failures ridden out.
func TestDevice(t *testing.T) {
	noJitter := policy.Exponential{Initial: time.Second, Multiplier: 2, Max: time.Minute}
	tests := []struct {
		name      string
		authorize string
		script    []string
		policy    policy.Policy
		polls     []time.Duration
		is        error  // the error matched, nil for a token
		errText   string // in the error's text
	}{
		{"pending then approved", "", []string{"pending", "pending", "ok"}, nil, secs(5, 10, 15), nil, ""},
		{"slow_down adds 5 s for this and every later poll", "", []string{"pending", "slow_down", "pending", "slow_down", "pending", "ok"}, nil,
			secs(5, 10, 20, 30, 45, 60), nil, ""},
		{"access_denied", "", []string{"pending", "access_denied"}, nil, secs(5, 10), ErrAccessDenied, "access denied (access_denied)"},
		{"expired_token", "", []string{"expired_token"}, nil, secs(5), ErrExpiredToken, "the code expired"},
		{"expires_in passes while pending",
			`{"device_code":"` + testDeviceCode + `","user_code":"U","verification_uri":"https://auth.example/device","expires_in":12,"interval":5}`,
			[]string{"pending"}, nil, secs(5, 10), ErrExpiredToken, "expires_in passed"},
		{"no interval means 5 s",
			`{"device_code":"` + testDeviceCode + `","user_code":"U","verification_uri":"https://auth.example/device","expires_in":600}`,
			[]string{"pending", "ok"}, nil, secs(5, 10), nil, ""},
		{"a server restart and a proxy's 503 are ridden out at the policy's pace", "",
			[]string{"pending", "refused", "refused", "refused", "503", "503", "pending", "ok"}, noJitter,
			// after each failure: max(interval 5 s, the policy's 1, 2, 4, 8, 16 s)
			secs(5, 10, 15, 20, 25, 33, 49, 54), nil, ""},
		{"a refused grant ends the login", "", []string{"pending", "invalid_grant"}, nil, secs(5, 10), nil, "refused (invalid_grant)"},
		{"invalid_request ends it when it repeats", "", []string{"pending", "invalid_request"}, noJitter, secs(5, 10, 15, 20), nil, "invalid_request"},
		{"the device code never reaches an error", "", []string{"echo"}, nil, secs(5), nil, "bad code [redacted]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d := &deviceServer{authorize: tc.authorize, script: tc.script}
				c := deviceClient(t, d, oauth.Endpoint{})
				var shown []oauth.DeviceCode
				tok, err := Device(context.Background(), c, DeviceOptions{Policy: tc.policy,
					Prompt: func(dc oauth.DeviceCode) error { shown = append(shown, dc); return nil }})
				if diff := cmp.Diff(tc.polls, d.pollTimes()); diff != "" {
					t.Errorf("polls (-want +got):\n%s", diff)
				}
				if len(shown) != 1 || shown[0].UserCode == "" {
					t.Errorf("Prompt saw %v, want one device code", shown)
				}
				if tc.is == nil && tc.errText == "" {
					if err != nil {
						t.Fatalf("LoginDevice: %v", err)
					}
					if tok.Access != "at-1" || tok.Refresh != "rt-1" || tok.Extra("id_token") != "id-1" || !tok.Valid(time.Now()) {
						t.Errorf("token %v, id_token %v", tok, tok.Extra("id_token"))
					}
					return
				}
				var le *Error
				if !errors.As(err, &le) || le.Flow != "device" {
					t.Fatalf("LoginDevice = %v, want a *Error", err)
				}
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Errorf("LoginDevice = %v, want it to match %v", err, tc.is)
				}
				if !strings.Contains(err.Error(), tc.errText) || strings.Contains(err.Error(), testDeviceCode) {
					t.Errorf("LoginDevice = %q, want %q in it and no device code", err, tc.errText)
				}
				for _, other := range []error{ErrAccessDenied, ErrExpiredToken, ErrTimeout} {
					if other != tc.is && errors.Is(err, other) {
						t.Errorf("LoginDevice = %v matches %v too", err, other)
					}
				}
			})
		})
	}
}

// TestDeviceRequests: what the requests carry, and what the user is
// shown.
func TestDeviceRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &deviceServer{script: []string{"pending", "ok"}}
		var got []session.Token
		c := deviceClient(t, d, oauth.Endpoint{Scopes: []string{"api"}, Params: url.Values{"audience": {"api.example"}},
			OnToken: func(tok session.Token) { got = append(got, tok) }})
		var shown oauth.DeviceCode
		_, err := Device(context.Background(), c, DeviceOptions{Scopes: []string{"openid", "offline_access"},
			Params: url.Values{"resource": {"https://api.example"}}, Prompt: func(dc oauth.DeviceCode) error { shown = dc; return nil }})
		if err != nil {
			t.Fatal(err)
		}
		want := oauth.DeviceCode{UserCode: "WDJB-MJHT", VerificationURI: "https://auth.example/device",
			VerificationURIComplete: "https://auth.example/device?user_code=WDJB-MJHT", Expiry: shown.Expiry, Interval: 5 * time.Second}
		if diff := cmp.Diff(want, shown, cmpopts.IgnoreUnexported(oauth.DeviceCode{})); diff != "" || shown.Expiry.Sub(d.start) != 10*time.Minute {
			t.Errorf("Prompt saw (-want +got):\n%s (expiry %v after the request)", diff, shown.Expiry.Sub(d.start))
		}
		wantAuth := url.Values{"client_id": {"cli"}, "scope": {"openid offline_access"}, "audience": {"api.example"}, "resource": {"https://api.example"}}
		if diff := cmp.Diff([]url.Values{wantAuth}, d.authForms); diff != "" {
			t.Errorf("device authorization request (-want +got):\n%s", diff)
		}
		wantPoll := url.Values{"client_id": {"cli"}, "grant_type": {string(oauth.GrantDeviceCode)}, "device_code": {testDeviceCode}, "audience": {"api.example"}}
		if diff := cmp.Diff([]url.Values{wantPoll, wantPoll}, d.forms); diff != "" {
			t.Errorf("polls (-want +got):\n%s", diff)
		}
		if len(got) != 1 || got[0].Access != "at-1" {
			t.Errorf("OnToken saw %v", got)
		}
	})
}

// TestDeviceFailsEarly: what ends a device login before any polling.
func TestDeviceFailsEarly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		refused := &deviceServer{authorizeStatus: 400}
		_, err := Device(context.Background(), deviceClient(t, refused, oauth.Endpoint{}), DeviceOptions{Prompt: func(oauth.DeviceCode) error { return nil }})
		var ee *session.EndpointError
		if !errors.As(err, &ee) || ee.Code != "unauthorized_client" || !strings.Contains(err.Error(), "login: device: refused (unauthorized_client: no device flow for you)") {
			t.Errorf("a refused device authorization request: %v", err)
		}
		for _, body := range []string{`<html>`, `{"user_code":"U","verification_uri":"https://a.example/d"}`,
			`{"device_code":"D","user_code":"U\u001b[2J","verification_uri":"https://a.example/d"}`,
			`{"device_code":"D","user_code":"U","verification_uri":"javascript:alert(1)"}`,
			`{"device_code":"D","user_code":"U","verification_uri":"https://a.example/d","interval":"soon"}`} {
			d := &deviceServer{authorize: body}
			_, err := Device(context.Background(), deviceClient(t, d, oauth.Endpoint{}), DeviceOptions{Prompt: func(oauth.DeviceCode) error { return nil }})
			if err == nil || !strings.Contains(err.Error(), "device authorization response") && !strings.Contains(err.Error(), "interval") {
				t.Errorf("answer %s: %v", body, err)
			}
		}
		d := &deviceServer{script: []string{"ok"}}
		_, err = Device(context.Background(), deviceClient(t, d, oauth.Endpoint{}), DeviceOptions{Prompt: func(oauth.DeviceCode) error { return errors.New("no terminal") }})
		if err == nil || !strings.Contains(err.Error(), "prompt: no terminal") || len(d.pollTimes()) != 0 {
			t.Errorf("a failing prompt: %v after %d polls", err, len(d.pollTimes()))
		}
		ctx, cancel := context.WithCancel(context.Background())
		d = &deviceServer{script: []string{"pending"}}
		go func() {
			time.Sleep(12 * time.Second)
			cancel()
		}()
		_, err = Device(ctx, deviceClient(t, d, oauth.Endpoint{}), DeviceOptions{Prompt: func(oauth.DeviceCode) error { return nil }})
		if !errors.Is(err, context.Canceled) || len(d.pollTimes()) != 2 {
			t.Errorf("a cancelled login: %v after %d polls", err, len(d.pollTimes()))
		}
		if _, err := Device(context.Background(), mustClient(t, oauth.Endpoint{TokenURL: testURL, ClientID: "cli"}), DeviceOptions{}); err == nil ||
			!strings.Contains(err.Error(), "no device authorization endpoint") {
			t.Errorf("without a device endpoint: %v", err)
		}
		if _, err := Device(context.Background(), mustClient(t, oauth.Endpoint{TokenURL: testURL, DeviceAuthURL: testDeviceURL}), DeviceOptions{}); err == nil ||
			!strings.Contains(err.Error(), "needs Endpoint.ClientID") {
			t.Errorf("without a client id: %v", err)
		}
	})
}

// TestDeviceDiscovery: the device authorization endpoint comes from
// the issuer's metadata.
func TestDeviceDiscovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &deviceServer{script: []string{"ok"}}
		rt := roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if strings.Contains(req.URL.Path, "/.well-known/") {
				return fakeidp.Respond(req, 200, "application/json", fmt.Sprintf(`{"issuer":"https://auth.example","token_endpoint":%q,"device_authorization_endpoint":%q}`,
					testURL, testDeviceURL), ""), nil
			}
			return d.RoundTrip(req)
		})
		c := mustClient(t, oauth.Endpoint{Issuer: "https://auth.example", ClientID: "cli", HTTPClient: &http.Client{Transport: rt}})
		tok, err := Device(context.Background(), c, DeviceOptions{Prompt: func(oauth.DeviceCode) error { return nil }})
		if err != nil || tok.Access != "at-1" {
			t.Fatalf("LoginDevice = %v, %v", tok, err)
		}
	})
}

// TestDevicePrompt: the default prompt shows the complete URI and the code
// to check, or the URI and the code to enter.
func TestDevicePrompt(t *testing.T) {
	var b bytes.Buffer
	writePrompt(&b, oauth.DeviceCode{UserCode: "WDJB-MJHT", VerificationURI: "https://a.example/d", VerificationURIComplete: "https://a.example/d?user_code=WDJB-MJHT"})
	writePrompt(&b, oauth.DeviceCode{UserCode: "WDJB-MJHT", VerificationURI: "https://a.example/d"})
	want := "To sign in, open https://a.example/d?user_code=WDJB-MJHT\nand check that it shows the code WDJB-MJHT.\n" +
		"To sign in, open https://a.example/d\nand enter the code WDJB-MJHT.\n"
	if b.String() != want {
		t.Errorf("prompt:\n%s\nwant:\n%s", b.String(), want)
	}
}

func mustClient(t *testing.T, e oauth.Endpoint) *oauth.Client {
	t.Helper()
	c, err := oauth.NewClient(e)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
