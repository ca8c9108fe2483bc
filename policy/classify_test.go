package policy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestClassify(t *testing.T) {
	malformed := errors.New("token response: unexpected end of JSON input")
	html := errors.New("token response is text/html, not JSON")
	tests := []struct {
		name string
		in   Outcome
		want Verdict
	}{
		{"success", Outcome{Status: 200}, Verdict{Class: OK}},
		{"proxy 502 page", Outcome{Status: 502, Sent: true}, Verdict{Class: Transient, Cause: "502 Bad Gateway", MaybeProcessed: true}},
		{"503 with Retry-After", Outcome{Status: 503, RetryAfter: "7"}, Verdict{Class: Transient, RetryAfter: 7 * time.Second, Cause: "503 Service Unavailable", MaybeProcessed: true}},
		{"504", Outcome{Status: 504}, Verdict{Class: Transient, Cause: "504 Gateway Timeout", MaybeProcessed: true}},
		{"408", Outcome{Status: 408}, Verdict{Class: Transient, Cause: "408 Request Timeout", MaybeProcessed: true}},
		{"429 delay-seconds", Outcome{Status: 429, RetryAfter: "30"}, Verdict{Class: RateLimited, RetryAfter: 30 * time.Second, Cause: "429 Too Many Requests", MaybeProcessed: true}},
		{"429 http-date", Outcome{Status: 429, RetryAfter: "Thu, 01 Jan 2026 00:01:00 GMT", At: t0}, Verdict{Class: RateLimited, RetryAfter: time.Minute, Cause: "429 Too Many Requests", MaybeProcessed: true}},
		{"429 without Retry-After", Outcome{Status: 429}, Verdict{Class: RateLimited, Cause: "429 Too Many Requests", MaybeProcessed: true}},
		{"proxy 404 page during rollout", Outcome{Status: 404}, Verdict{Class: Transient, Cause: "404 Not Found", MaybeProcessed: true}},
		{"400 without OAuth2 body", Outcome{Status: 400}, Verdict{Class: Transient, Cause: "400 Bad Request", MaybeProcessed: true}},
		{"401 without a body", Outcome{Status: 401}, Verdict{Class: Transient, Cause: "401 Unauthorized without an OAuth2 error: not an explicit refusal", MaybeProcessed: true}},
		{"WAF's 403 block page", Outcome{Status: 403}, Verdict{Class: Transient, Cause: "403 Forbidden without an OAuth2 error: not an explicit refusal", MaybeProcessed: true}},
		{"bare 401 with a challenge", Outcome{Status: 401, Challenge: "Basic"}, Verdict{Class: Transient,
			Cause: "401 Unauthorized without an OAuth2 error (WWW-Authenticate: Basic): the client's credentials or a proxy's challenge", MaybeProcessed: true}},
		{"a challenge's parameters are never quoted", Outcome{Status: 401, Challenge: ` Bearer realm="x", error="invalid_token"`}, Verdict{Class: Transient,
			Cause: "401 Unauthorized without an OAuth2 error (WWW-Authenticate: Bearer): the client's credentials or a proxy's challenge", MaybeProcessed: true}},
		{"a challenge without a scheme", Outcome{Status: 401, Challenge: `"quoted"`}, Verdict{Class: Transient, Cause: "401 Unauthorized without an OAuth2 error: not an explicit refusal", MaybeProcessed: true}},
		{"a challenge on a 403 is not named", Outcome{Status: 403, Challenge: "Basic"}, Verdict{Class: Transient, Cause: "403 Forbidden without an OAuth2 error: not an explicit refusal", MaybeProcessed: true}},
		{"401 with a transient code", Outcome{Status: 401, ErrorCode: "temporarily_unavailable"}, Verdict{Class: Transient, Cause: "401 temporarily_unavailable"}},
		{"401 invalid_client", Outcome{Status: 401, ErrorCode: "invalid_client", Challenge: "Basic"}, Verdict{Class: Permanent, Cause: "401 invalid_client: client misconfigured", Misconfigured: true}},
		{"403 invalid_grant", Outcome{Status: 403, ErrorCode: "invalid_grant"}, Verdict{Class: Permanent, Cause: "403 invalid_grant"}},
		{"invalid_grant", Outcome{Status: 400, ErrorCode: "invalid_grant"}, Verdict{Class: Permanent, Cause: "400 invalid_grant"}},
		{"unauthorized_client", Outcome{Status: 400, ErrorCode: "unauthorized_client"}, Verdict{Class: Permanent, Cause: "400 unauthorized_client: client misconfigured", Misconfigured: true}},
		{"unsupported_grant_type", Outcome{Status: 400, ErrorCode: "unsupported_grant_type"}, Verdict{Class: Permanent, Cause: "400 unsupported_grant_type"}},
		{"invalid_scope", Outcome{Status: 400, ErrorCode: "invalid_scope"}, Verdict{Class: Permanent, Cause: "400 invalid_scope"}},
		{"invalid_request is suspect", Outcome{Status: 400, ErrorCode: "invalid_request", Description: "The request is missing a required parameter"}, Verdict{Class: Suspect, Cause: "400 invalid_request"}},
		{"Hydra's storage conflict", Outcome{Status: 400, ErrorCode: "invalid_request", Description: "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed. Failed to refresh token because of multiple concurrent requests using the same token. Please retry the request."},
			Verdict{Class: Transient, Cause: "400 invalid_request: the server asks for a retry"}},
		{"fosite's older storage conflict", Outcome{Status: 400, ErrorCode: "invalid_request", Description: "Failed to refresh token because of multiple concurrent requests using the same token which is not allowed."},
			Verdict{Class: Transient, Cause: "400 invalid_request: the server asks for a retry"}},
		{"fosite's rotated token row", Outcome{Status: 400, ErrorCode: "invalid_request", Description: "Failed to refresh token. Please RETRY the request."},
			Verdict{Class: Transient, Cause: "400 invalid_request: the server asks for a retry"}},
		{"a retry text on invalid_grant is still a refusal", Outcome{Status: 400, ErrorCode: "invalid_grant", Description: "Please retry the request."}, Verdict{Class: Permanent, Cause: "400 invalid_grant"}},
		{"temporarily_unavailable", Outcome{Status: 400, ErrorCode: "temporarily_unavailable"}, Verdict{Class: Transient, Cause: "400 temporarily_unavailable"}},
		{"server_error", Outcome{Status: 400, ErrorCode: "server_error"}, Verdict{Class: Transient, Cause: "400 server_error"}},
		{"Hydra's JSON 500 server_error is an answer", Outcome{Status: 500, ErrorCode: "server_error", Sent: true}, Verdict{Class: Transient, Cause: "500 server_error"}},
		{"a proxy's 500 page may hide a refresh", Outcome{Status: 500, Sent: true}, Verdict{Class: Transient, Cause: "500 Internal Server Error", MaybeProcessed: true}},
		{"slow_down", Outcome{Status: 400, ErrorCode: "slow_down"}, Verdict{Class: Transient, Cause: "400 slow_down"}},
		{"unknown OAuth2 code", Outcome{Status: 400, ErrorCode: "no_such_code"}, Verdict{Class: Transient, Cause: "400 no_such_code"}},
		{"429 with a transient code", Outcome{Status: 429, ErrorCode: "slow_down", RetryAfter: "5"}, Verdict{Class: RateLimited, RetryAfter: 5 * time.Second, Cause: "429 slow_down"}},
		{"5xx with invalid_grant body is a refusal", Outcome{Status: 500, ErrorCode: "invalid_grant"}, Verdict{Class: Permanent, Cause: "500 invalid_grant"}},
		{"200 with invalid_grant is a refusal", Outcome{Status: 200, ErrorCode: "invalid_grant", Err: errors.New("not a token response")}, Verdict{Class: Permanent, Cause: "200 invalid_grant"}},
		{"200 with invalid_client and no Err", Outcome{Status: 200, ErrorCode: "invalid_client"}, Verdict{Class: Permanent, Cause: "200 invalid_client: client misconfigured", Misconfigured: true}},
		{"200 with a transient code", Outcome{Status: 200, ErrorCode: "temporarily_unavailable"}, Verdict{Class: Transient, Cause: "200 temporarily_unavailable"}},
		{"html 200", Outcome{Status: 200, Err: html}, Verdict{Class: Transient, Cause: "200 OK: token response is text/html, not JSON", MaybeProcessed: true}},
		{"malformed 200", Outcome{Status: 200, Err: malformed}, Verdict{Class: Transient, Cause: "200 OK: token response: unexpected end of JSON input", MaybeProcessed: true}},
		{"connection refused", Outcome{Err: errors.New("dial tcp 127.0.0.1:443: connect: connection refused")}, Verdict{Class: Transient, Cause: "dial tcp 127.0.0.1:443: connect: connection refused"}},
		{"timeout after sending", Outcome{Err: context.DeadlineExceeded, Sent: true}, Verdict{Class: Transient, Cause: "context deadline exceeded", MaybeProcessed: true}},
		{"no response, no error", Outcome{}, Verdict{Class: Transient, Cause: "no response"}},
		{"unknown status", Outcome{Status: 599}, Verdict{Class: Transient, Cause: "599", MaybeProcessed: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Classify(tt.in)); diff != "" {
				t.Errorf("Classify(%+v) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// TestOnlyAnOAuth2RefusalRevokes checks invariant 1 over every status code:
// an answer is a refusal (permanent, or suspect for invalid_request)
// exactly when it carries a permanent OAuth2 error code, whatever its
// status, challenge or Retry-After; misconfigured exactly for the codes
// that blame the client; maybe processed exactly when it is no OAuth2
// error.
func TestOnlyAnOAuth2RefusalRevokes(t *testing.T) {
	codes := []string{"", "invalid_grant", "invalid_client", "unauthorized_client", "unsupported_grant_type", "invalid_scope",
		"invalid_request", "temporarily_unavailable", "server_error", "slow_down", "access_denied", "invalid_token", "INVALID_GRANT"}
	for s := 100; s < 600; s++ {
		for _, code := range codes {
			for _, challenge := range []string{"", "Basic", "Bearer realm=\"api\""} {
				o := Outcome{Status: s, ErrorCode: code, Challenge: challenge, RetryAfter: "3", Sent: true, At: t0}
				v := Classify(o)
				if want := IsPermanentCode(code); (v.Class == Permanent || v.Class == Suspect) != want {
					t.Errorf("%+v: class %v, want a refusal %v", o, v.Class, want)
				}
				if want := code == "invalid_request"; (v.Class == Suspect) != want {
					t.Errorf("%+v: class %v, want suspect %v", o, v.Class, want)
				}
				if want := code == "" && (s < 200 || s > 299); v.MaybeProcessed != want {
					t.Errorf("%+v: MaybeProcessed %v, want %v", o, v.MaybeProcessed, want)
				}
				if want := code == "invalid_client" || code == "unauthorized_client"; v.Misconfigured != want {
					t.Errorf("%+v: Misconfigured %v, want %v", o, v.Misconfigured, want)
				}
				if v.Class == Permanent && v.MaybeProcessed {
					t.Errorf("%+v: a refusal marked MaybeProcessed", o)
				}
				if strings.Contains(v.Cause, "realm") {
					t.Errorf("%+v: cause %q quotes the challenge's parameters", o, v.Cause)
				}
			}
		}
	}
}

func TestClassifierFunc(t *testing.T) {
	var c Classifier = ClassifierFunc(func(o Outcome) Verdict {
		if o.Status == 404 {
			return Verdict{Class: Permanent, Cause: "gone"}
		}
		return Classify(o)
	})
	if got := c.Classify(Outcome{Status: 404}).Class; got != Permanent {
		t.Errorf("custom classifier: got %v", got)
	}
	if got := DefaultClassifier.Classify(Outcome{Status: 404}).Class; got != Transient {
		t.Errorf("default classifier: got %v", got)
	}
}

func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"120", 2 * time.Minute, true},
		{" 5 ", 5 * time.Second, true},
		{"99999999999999999999999", 24 * time.Hour, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"5s", 0, false},
		{"Thu, 01 Jan 2026 00:00:30 GMT", 30 * time.Second, true},
		{"Thursday, 01-Jan-26 00:00:30 GMT", 30 * time.Second, true},
		{"Thu Jan  1 00:00:30 2026", 30 * time.Second, true},
		{"Wed, 31 Dec 2025 23:00:00 GMT", 0, true},
		{"Fri, 01 Jan 2027 00:00:00 GMT", 24 * time.Hour, true},
		{"tomorrow", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseRetryAfter(tt.in, t0)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "120", "Thu, 01 Jan 2026 00:00:30 GMT", "Thursday, 01-Jan-26 00:00:30 GMT", "Thu Jan  1 00:00:30 2026", "-5", "9999999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := ParseRetryAfter(s, t0)
		if d < 0 || d > 24*time.Hour {
			t.Fatalf("ParseRetryAfter(%q) = %v out of [0, 24h]", s, d)
		}
		if !ok && d != 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v with ok=false", s, d)
		}
		if v := strings.TrimSpace(s); v != "" && strings.Trim(v, "0123456789") == "" && !ok {
			t.Fatalf("ParseRetryAfter(%q) rejected delay-seconds", s)
		}
	})
}

func TestStatusText(t *testing.T) {
	for code, want := range map[int]string{502: "502 Bad Gateway", 429: "429 Too Many Requests", 299: "299"} {
		if got := StatusText(code); got != want {
			t.Errorf("StatusText(%d) = %q, want %q", code, got, want)
		}
	}
}
