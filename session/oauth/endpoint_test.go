package oauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/google/go-cmp/cmp"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/internal/fakeidp"
	"github.com/authfsm/authfsm/session/internal/redact"
)

func TestNewClientRefusesInsecureURLs(t *testing.T) {
	tests := []struct {
		url       string
		allowHTTP bool
		wantErr   string
	}{
		{"https://auth.example/token", false, ""},
		{"http://localhost:8080/token", false, ""},
		{"http://127.0.0.1/token", false, ""},
		{"http://[::1]:9000/token", false, ""},
		{"http://auth.example/token", false, "oauth: token URL is not HTTPS: http://auth.example/token"},
		{"http://auth.example/token", true, ""},
		{"ftp://auth.example/token", false, "scheme must be https"},
		{"https:///token", false, "has no host"},
		{"://bad", false, "oauth: token URL"},
		// Only "localhost" itself and literal loopback addresses are
		// local: a .localhost name may go to ordinary DNS.
		{"http://127.5.6.7/token", false, ""},
		{"http://[::ffff:127.0.0.1]/token", false, ""},
		{"http://api.localhost/token", false, "is not HTTPS"},
		{"http://evil.localhost:8080/token", false, "is not HTTPS"},
		{"http://localhost.evil.example/token", false, "is not HTTPS"},
		{"http://localhost./token", false, "is not HTTPS"},
		{"http://128.0.0.1/token", false, "is not HTTPS"},
		{"http://[::2]/token", false, "is not HTTPS"},
		{"http://0.0.0.0/token", false, "is not HTTPS"},
		{"http://api.localhost/token", true, ""},
	}
	for _, tc := range tests {
		_, err := NewClient(Endpoint{TokenURL: tc.url, AllowHTTP: tc.allowHTTP})
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("NewClient(%q) = %v, want success", tc.url, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("NewClient(%q) = %v, want an error containing %q", tc.url, err, tc.wantErr)
		}
	}
	if _, err := NewClient(Endpoint{TokenURL: "http://auth.example/token"}); !errors.Is(err, ErrInsecureTokenURL) {
		t.Errorf("errors.Is(%v, ErrInsecureTokenURL) = false", err)
	}
}

// TestNewClientErrorsRedactThePassword checks that no error of NewClient
// quotes the password of the token URL's userinfo, whichever check fails.
func TestNewClientErrorsRedactThePassword(t *testing.T) {
	const pw = "S3CRETPW"
	for _, tc := range []struct {
		url, want string
	}{
		{"https://user:" + pw + "@exa mple.com/x", "oauth: token URL https://user:xxxxx@exa mple.com/x: invalid character"},
		{"https://user:" + pw + "@/x", "oauth: token URL https://user:xxxxx@/x has no host"},
		{"http://user:" + pw + "@auth.example/x", "oauth: token URL is not HTTPS: http://user:xxxxx@auth.example/x"},
		{"ftp://user:" + pw + "@auth.example/x", "oauth: token URL ftp://user:xxxxx@auth.example/x: scheme must be https"},
		{"https://user:" + pw + "@auth.example:abc/x", "oauth: token URL https://user:xxxxx@auth.example:abc/x: invalid port"},
		{"https://us%zz:" + pw + "@auth.example/x", "oauth: token URL https://us%zz:xxxxx@auth.example/x: "},
		{"https://user:" + pw + "@auth.example/x?a=%zz", ""},
	} {
		_, err := NewClient(Endpoint{TokenURL: tc.url})
		if tc.want == "" {
			if err != nil {
				t.Errorf("NewClient(%q) = %v, want success", tc.url, err)
			}
			continue
		}
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("NewClient(%q) = %v, want an error starting %q", tc.url, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("NewClient(%q) = %v: the error quotes the password", tc.url, err)
		}
	}
}

func TestNewClientValidates(t *testing.T) {
	for _, tc := range []struct {
		e    Endpoint
		want string
	}{
		{Endpoint{TokenURL: testURL, Grant: "password"}, `unsupported grant "password"`},
		{Endpoint{TokenURL: testURL, Grant: GrantClientCredentials}, "needs a ClientID"},
		{Endpoint{TokenURL: testURL, AuthStyle: 7}, "unknown AuthStyle 7"},
		{Endpoint{TokenURL: testURL, Params: url.Values{"grant_type": {"x"}}}, `may not set "grant_type"`},
	} {
		if _, err := NewClient(tc.e); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewClient(%+v) = %v, want %q", tc.e, err, tc.want)
		}
	}
}

func TestClientRequests(t *testing.T) {
	cur := session.Token{Refresh: "rt-0"}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("my+app:s%C3%A9cret%3A1"))
	tests := []struct {
		name     string
		e        Endpoint
		wantForm url.Values
		wantAuth string
	}{
		{"refresh with basic auth", Endpoint{ClientID: "my app", ClientSecret: "sécret:1"},
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt-0"}}, basic},
		{"refresh with body auth, scopes and extra params", Endpoint{ClientID: "app", ClientSecret: "s", AuthStyle: AuthBody,
			Scopes: []string{"read", "write"}, Params: url.Values{"audience": {"api"}}},
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt-0"}, "client_id": {"app"}, "client_secret": {"s"},
				"scope": {"read write"}, "audience": {"api"}}, ""},
		{"public client", Endpoint{ClientID: "spa"},
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt-0"}, "client_id": {"spa"}}, ""},
		{"client credentials", Endpoint{ClientID: "svc", ClientSecret: "pw", Grant: GrantClientCredentials},
			url.Values{"grant_type": {"client_credentials"}}, "Basic " + base64.StdEncoding.EncodeToString([]byte("svc:pw"))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var gotForm url.Values
			var gotAuth, gotCT string
			rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				b, _ := io.ReadAll(r.Body)
				gotForm, _ = url.ParseQuery(string(b))
				gotAuth, gotCT = r.Header.Get("Authorization"), r.Header.Get("Content-Type")
				return fakeidp.Respond(r, 200, "application/json", `{"access_token":"at","expires_in":60}`, ""), nil
			})
			tc.e.TokenURL, tc.e.HTTPClient = testURL, &http.Client{Transport: rt}
			c, err := NewClient(tc.e)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Refresh(context.Background(), cur); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantForm, gotForm); diff != "" {
				t.Errorf("form (-want +got):\n%s", diff)
			}
			if gotAuth != tc.wantAuth || gotCT != "application/x-www-form-urlencoded" {
				t.Errorf("Authorization %q, Content-Type %q; want %q", gotAuth, gotCT, tc.wantAuth)
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestClientResponses(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	jwt := "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":1767226200}`)) + ".sig" // 00:10:00
	tests := []struct {
		name    string
		status  int
		body    string
		want    session.Token
		wantErr string
	}{
		{"numeric expires_in", 200, `{"access_token":"at","token_type":"bearer","expires_in":3600,"refresh_token":"rt-1"}`,
			session.Token{Access: "at", Refresh: "rt-1", Type: "bearer", Issued: now, Expiry: now.Add(time.Hour)}, ""},
		{"string expires_in keeps the old refresh token", 200, `{"access_token":"at","expires_in":"120"}`,
			session.Token{Access: "at", Refresh: "rt-0", Issued: now, Expiry: now.Add(2 * time.Minute)}, ""},
		{"JWT exp when expires_in is absent", 200, `{"access_token":"` + jwt + `"}`,
			session.Token{Access: session.Secret(jwt), Refresh: "rt-0", Issued: now, Expiry: now.Add(10 * time.Minute)}, ""},
		{"default lifetime without either", 200, `{"access_token":"opaque","expires_in":0}`,
			session.Token{Access: "opaque", Refresh: "rt-0", Issued: now, Expiry: now.Add(DefaultTTL)}, ""},
		{"HTML 200", 200, "<html>portal</html>", session.Token{}, "answered 200 OK: not a token response: body is an HTML or XML page"},
		{"error body with 200", 200, `{"error":"invalid_grant"}`, session.Token{}, "answered 200 OK: invalid_grant: not a token response: an OAuth2 error answer with a success status"},
		{"negative expires_in", 200, `{"access_token":"at","expires_in":-5}`, session.Token{}, "expires_in is negative"},
		{"wrong type", 200, `{"access_token":5}`, session.Token{}, `member "access_token" has the wrong type`},
		{"body too large", 200, `{"access_token":"at","pad":"` + strings.Repeat("x", MaxResponseBody) + `"}`, session.Token{}, "reading the token response: body exceeds 1048576 bytes"},
		{"OAuth2 error", 400, `{"error":"invalid_grant","error_description":"expired\nFAKE LOG LINE"}`, session.Token{},
			"session: token endpoint https://auth.example/oauth/token answered 400 Bad Request: invalid_grant (expiredFAKE LOG LINE)"},
		{"proxy page", 502, fakeidp.BadGatewayPage, session.Token{}, "session: token endpoint https://auth.example/oauth/token answered 502 Bad Gateway"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				return fakeidp.Respond(r, tc.status, "application/json", tc.body, ""), nil
			})
			var hooked []session.Token
			c, err := NewClient(Endpoint{TokenURL: testURL, HTTPClient: &http.Client{Transport: rt}, Clock: fixedClock(now),
				OnToken: func(t session.Token) { hooked = append(hooked, t) }})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Refresh(context.Background(), session.Token{Refresh: "rt-0"})
			if tc.wantErr != "" {
				var ee *session.EndpointError
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.As(err, &ee) || ee.Status != tc.status {
					t.Fatalf("Refresh error = %v, want a session.EndpointError containing %q", err, tc.wantErr)
				}
				if len(hooked) != 0 {
					t.Errorf("OnToken fired on a failure")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("token (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]session.Token{got}, hooked); diff != "" {
				t.Errorf("OnToken calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClientSentAndTransportErrors(t *testing.T) {
	fe := fakeidp.New(time.Hour)
	c := testClient(t, fe, Endpoint{})
	ctx := context.Background()

	fe.SetFault(fakeidp.Fault{Kind: "refused"}, 0)
	_, err := c.Refresh(ctx, session.Token{Refresh: "tok-refresh-0"})
	var ee *session.EndpointError
	if !errors.As(err, &ee) || ee.Sent || ee.Status != 0 || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("refused: %v (sent %v), want unsent, no status", err, ee != nil && ee.Sent)
	}

	fe.SetFault(fakeidp.Fault{Kind: "hang"}, 0)
	tctx, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	_, err = c.Refresh(tctx, session.Token{Refresh: "tok-refresh-0"})
	if !errors.As(err, &ee) || !ee.Sent || !errors.Is(err, context.DeadlineExceeded) ||
		err.Error() != "session: token endpoint https://auth.example/oauth/token: no answer before the request deadline" {
		t.Errorf("hang: %v, want a sent request ended by its deadline", err)
	}

	if _, err := c.Refresh(ctx, session.Token{}); !errors.Is(err, session.ErrNoRefreshToken) {
		t.Errorf("no refresh token: %v", err)
	}
}

func fixedClock(t time.Time) *clock.Mock {
	m := clock.NewMock()
	m.Set(t)
	return m
}

// TestClientErrorBodies checks that the OAuth2 error is read from JSON and
// form bodies with any status, a 2xx included, and that the verdict follows
// the code, not the status.
func TestClientErrorBodies(t *testing.T) {
	const form, text, html, js = "application/x-www-form-urlencoded", "text/plain; charset=utf-8", "text/html", "application/json"
	tests := []struct {
		name                   string
		status                 int
		ctype, body            string
		code, description, uri string
		class                  policy.Class
		misconfigured          bool
		wantErr                string
	}{
		{"JSON refusal", 400, js, `{"error":"invalid_grant","error_description":"token expired","error_uri":"https://auth.example/e#grant"}`,
			"invalid_grant", "token expired", "https://auth.example/e#grant", policy.Permanent, false,
			"session: token endpoint https://auth.example/oauth/token answered 400 Bad Request: invalid_grant (token expired) (see https://auth.example/e#grant)"},
		{"form refusal", 400, form, "error=invalid_grant&error_description=token+expired", "invalid_grant", "token expired", "", policy.Permanent, false,
			"answered 400 Bad Request: invalid_grant (token expired)"},
		{"text/plain refusal", 401, text, "error=invalid_client&error_uri=https%3A%2F%2Fauth.example%2Fe", "invalid_client", "", "https://auth.example/e",
			policy.Permanent, true, "answered 401 Unauthorized: invalid_client (see https://auth.example/e)"},
		{"a form's malformed pair does not hide its code", 400, form, "error=invalid_grant&junk=%zz", "invalid_grant", "", "", policy.Permanent, false, ""},
		{"JSON sent as text/plain", 400, text, `{"error":"invalid_scope"}`, "invalid_scope", "", "", policy.Permanent, false, ""},
		{"200 carrying a JSON error", 200, js, `{"error":"invalid_grant","error_description":"revoked"}`, "invalid_grant", "revoked", "", policy.Permanent, false,
			"answered 200 OK: invalid_grant (revoked): not a token response: an OAuth2 error answer with a success status"},
		{"200 carrying an error and a token", 200, js, `{"access_token":"at","error":"invalid_grant"}`, "invalid_grant", "", "", policy.Permanent, false, ""},
		{"200 carrying a form error", 200, form, "error=unauthorized_client", "unauthorized_client", "", "", policy.Permanent, true, "answered 200 OK: unauthorized_client"},
		{"200 carrying a transient code", 200, js, `{"error":"temporarily_unavailable"}`, "temporarily_unavailable", "", "", policy.Transient, false, ""},
		{"5xx carrying a refusal", 500, js, `{"error":"invalid_grant"}`, "invalid_grant", "", "", policy.Permanent, false, ""},
		{"WAF's 403 block page", 403, html, "<html><body>Request blocked. error=invalid_grant</body></html>", "", "", "", policy.Transient, false,
			"answered 403 Forbidden"},
		{"403 in plain text", 403, text, "Forbidden", "", "", "", policy.Transient, false, ""},
		{"401 without a body", 401, "", "", "", "", "", policy.Transient, false, ""},
		{"an error that is not a string", 400, js, `{"error":{"code":"invalid_grant"},"error_description":5}`, "", "", "", policy.Transient, false, ""},
		{"a form body with a JSON content type", 400, js, "error=invalid_grant", "", "", "", policy.Transient, false, ""},
		{"log forging is cleaned", 400, js, `{"error":"invalid_request\n","error_description":"a\u2028b\u202ec\td\u00a0e","error_uri":"https://x/\r\nFAKE"}`,
			"invalid_request", "abcd e", "https://x/FAKE", policy.Suspect, false, ""},
		{"long text is cut", 400, js, `{"error":"invalid_request","error_description":"` + strings.Repeat("é", 500) + `"}`,
			"invalid_request", strings.Repeat("é", redact.MaxDescription) + "…", "", policy.Suspect, false, ""},
		{"fosite's whole description is kept", 400, js, `{"error":"invalid_request","error_description":"` + fakeidp.HydraConflict + `"}`,
			"invalid_request", fakeidp.HydraConflict, "", policy.Transient, false, "Please retry the request."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				return fakeidp.Respond(r, tc.status, tc.ctype, tc.body, ""), nil
			})
			c, err := NewClient(Endpoint{TokenURL: testURL, HTTPClient: &http.Client{Transport: rt}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Refresh(context.Background(), session.Token{Refresh: "rt-0"})
			var ee *session.EndpointError
			if !errors.As(err, &ee) {
				t.Fatalf("Refresh error = %v, want an *EndpointError", err)
			}
			got := []string{ee.Code, ee.Description, ee.ErrorURI}
			if diff := cmp.Diff([]string{tc.code, tc.description, tc.uri}, got); diff != "" {
				t.Errorf("code, description, uri (-want +got):\n%s", diff)
			}
			v := policy.Classify(ee.Outcome())
			if v.Class != tc.class || v.Misconfigured != tc.misconfigured {
				t.Errorf("verdict %+v, want class %v, misconfigured %v", v, tc.class, tc.misconfigured)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

// TestClientScrubsServerText has a server echo every secret the client
// knows, as it is, escaped, encoded and broken up by control characters, in
// every member and header the client keeps, and checks that none reaches
// the error in any form it can be printed in.
func TestClientScrubsServerText(t *testing.T) {
	secrets := map[string]string{
		"refresh token":    "rt-SECRET-refresh/+=",
		"access token":     "at-SECRET-access",
		"client secret":    "cs-SECRET-client",
		"client_assertion": "eyJ.SECRET-assertion.sig",
		"subject_token":    "SECRET-subject",
		"password":         "SECRET pass&word",
		"token URL's key":  "SECRET-url-key",
	}
	echoes := func(s string) []string {
		return []string{s, url.QueryEscape(s), url.PathEscape(s), base64.StdEncoding.EncodeToString([]byte(s)),
			base64.RawURLEncoding.EncodeToString([]byte(s)), s[:3] + "\x00\u200b" + s[3:]}
	}
	for _, style := range []AuthStyle{AuthBasic, AuthBody} {
		for what, secret := range secrets {
			for i, echo := range echoes(secret) {
				t.Run(fmt.Sprintf("%d/%s/%d", style, what, i), func(t *testing.T) {
					body, _ := json.Marshal(map[string]string{"error": "invalid_grant " + echo, "error_description": "bad " + echo + " given",
						"error_uri": "https://x/" + echo})
					rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
						return fakeidp.Respond(r, 400, "application/json", string(body), "1 "+echo), nil
					})
					c, err := NewClient(Endpoint{TokenURL: testURL + "?key=" + secrets["token URL's key"], HTTPClient: &http.Client{Transport: rt},
						ClientID: "app", AuthStyle: style,
						ClientSecret: session.Secret(secrets["client secret"]),
						Params: url.Values{"client_assertion": {secrets["client_assertion"]}, "subject_token": {secrets["subject_token"]},
							"password": {secrets["password"]}, "audience": {"api"}}})
					if err != nil {
						t.Fatal(err)
					}
					_, err = c.Refresh(context.Background(), session.Token{Access: session.Secret(secrets["access token"]), Refresh: session.Secret(secrets["refresh token"])})
					var ee *session.EndpointError
					if !errors.As(err, &ee) || !strings.Contains(ee.Description, "[redacted]") {
						t.Fatalf("Refresh error = %#v, want a session.EndpointError with a redacted description", err)
					}
					out := err.Error() + fmt.Sprintf(" %+v %#v", *ee, *ee)
					for _, s := range secrets {
						if strings.Contains(out, s) || strings.Contains(out, "SECRET") {
							t.Fatalf("the error shows a secret:\n%s", out)
						}
					}
				})
			}
		}
	}
}

// TestClientTokenAnswers covers token answers as providers send them: form
// bodies, a byte-order mark, Facebook's "expires"; and tokens no request
// could carry, which are refused without being quoted.
func TestClientTokenAnswers(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const form, text, js = "application/x-www-form-urlencoded", "text/plain; charset=utf-8", "application/json"
	tests := []struct {
		name        string
		ctype, body string
		want        session.Token
		wantErr     string
	}{
		{"form, as GitHub's legacy endpoint", form, "access_token=gho_16C7e42F292c6912E7710c838347Ae178B4a&scope=repo%2Cgist&token_type=bearer",
			session.Token{Access: "gho_16C7e42F292c6912E7710c838347Ae178B4a", Refresh: "rt-0", Type: "bearer", Scope: "repo,gist", Issued: now, Expiry: now.Add(DefaultTTL)}, ""},
		{"text/plain form with a rotated refresh token", text, "access_token=at&expires_in=28800&refresh_token=ghr_1&token_type=bearer",
			session.Token{Access: "at", Refresh: "ghr_1", Type: "bearer", Issued: now, Expiry: now.Add(8 * time.Hour)}, ""},
		{"form with Facebook's expires", form, "access_token=at&expires=5183999",
			session.Token{Access: "at", Refresh: "rt-0", Issued: now, Expiry: now.Add(5183999 * time.Second)}, ""},
		{"form with an empty expires_in", form, "access_token=at&expires_in=&expires=60",
			session.Token{Access: "at", Refresh: "rt-0", Issued: now, Expiry: now.Add(time.Minute)}, ""},
		{"JSON sent as text/plain", text, `{"access_token":"at","expires_in":60}`,
			session.Token{Access: "at", Refresh: "rt-0", Issued: now, Expiry: now.Add(time.Minute)}, ""},
		{"byte-order mark", js, "\xef\xbb\xbf{\"access_token\":\"at\",\"expires_in\":60}",
			session.Token{Access: "at", Refresh: "rt-0", Issued: now, Expiry: now.Add(time.Minute)}, ""},
		{"byte-order mark after white space", js, " \r\n\xef\xbb\xbf {\"access_token\":\"at\",\"expires_in\":60}",
			session.Token{Access: "at", Refresh: "rt-0", Issued: now, Expiry: now.Add(time.Minute)}, ""},
		{"JSON with Facebook's expires", js, `{"access_token":"at","expires":120}`,
			session.Token{Access: "at", Refresh: "rt-0", Issued: now, Expiry: now.Add(2 * time.Minute)}, ""},
		{"expires as a string", js, `{"access_token":"at","expires":"120"}`,
			session.Token{Access: "at", Refresh: "rt-0", Issued: now, Expiry: now.Add(2 * time.Minute)}, ""},
		{"expires_in wins over expires", js, `{"access_token":"at","expires_in":60,"expires":120}`,
			session.Token{Access: "at", Refresh: "rt-0", Issued: now, Expiry: now.Add(time.Minute)}, ""},
		{"a null expires_in is absent", js, `{"access_token":"at","expires_in":null,"expires":120}`,
			session.Token{Access: "at", Refresh: "rt-0", Issued: now, Expiry: now.Add(2 * time.Minute)}, ""},
		{"a refresh token may hold a space", js, `{"access_token":"at","refresh_token":"r t~","expires_in":60}`,
			session.Token{Access: "at", Refresh: "r t~", Issued: now, Expiry: now.Add(time.Minute)}, ""},
		{"negative expires", js, `{"access_token":"at","expires":-1}`, session.Token{}, "not a token response: expires is negative"},
		{"CRLF in the access token", js, `{"access_token":"at\r\nX-Injected: 1"}`, session.Token{},
			"not a token response: access_token has a byte outside %x21-7E at offset 2"},
		{"a space in the access token", js, `{"access_token":"a t"}`, session.Token{}, "access_token has a byte outside %x21-7E at offset 1"},
		{"non-ASCII in the access token", js, `{"access_token":"tök"}`, session.Token{}, "access_token has a byte outside %x21-7E at offset 1"},
		{"a control in a form's access token", form, "access_token=ab%00c", session.Token{}, "access_token has a byte outside %x21-7E at offset 2"},
		{"LF in the refresh token", js, `{"access_token":"at","refresh_token":"rt\n1"}`, session.Token{},
			"not a token response: refresh_token has a byte outside %x20-7E at offset 2"},
		{"DEL in the refresh token", form, "access_token=at&refresh_token=%7F", session.Token{}, "refresh_token has a byte outside %x20-7E at offset 0"},
		{"a header in token_type", js, `{"access_token":"at","token_type":"Bearer\r\nX: y"}`, session.Token{},
			"token_type has a byte that is not a token character at offset 6"},
		{"malformed form", form, "access_token=at&x=%zz", session.Token{}, "not a token response: malformed form body"},
		{"a form without access_token", text, "Welcome", session.Token{}, "not a token response: access_token missing"},
		{"a form sent as JSON", js, "access_token=at", session.Token{}, "not a token response: body is not a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				return fakeidp.Respond(r, 200, tc.ctype, tc.body, ""), nil
			})
			var hooked int
			c, err := NewClient(Endpoint{TokenURL: testURL, HTTPClient: &http.Client{Transport: rt}, Clock: fixedClock(now),
				OnToken: func(session.Token) { hooked++ }})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Refresh(context.Background(), session.Token{Refresh: "rt-0"})
			if tc.wantErr != "" {
				var ee *session.EndpointError
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.As(err, &ee) || !errors.Is(err, policy.ErrNotTokenResponse) {
					t.Fatalf("Refresh error = %v, want a session.EndpointError containing %q", err, tc.wantErr)
				}
				if v := policy.Classify(ee.Outcome()); v.Class != policy.Transient {
					t.Errorf("verdict %+v, want transient", v)
				}
				if strings.Contains(err.Error(), "X-Injected") || strings.Contains(err.Error(), "rt\n1") || hooked != 0 {
					t.Errorf("error %q quotes a token, or OnToken fired", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("token (-want +got):\n%s", diff)
			}
		})
	}
}

// TestURLQueryIsRedacted checks that the values of the token URL's query
// (an API key, a signature) appear in no URL the package shows, while the
// request still carries them.
func TestURLQueryIsRedacted(t *testing.T) {
	const key = "K3Y-SECRET"
	for _, tc := range []struct {
		url, want string
	}{
		{"https://auth.example/token?api_key=" + key, "https://auth.example/token?api_key=xxxxx"},
		{"https://auth.example/token?tenant=acme&sig=" + key + "&empty=&flag&" + key, "https://auth.example/token?tenant=xxxxx&sig=xxxxx&empty=&xxxxx&xxxxx"},
		{"https://app:pw-" + key + "@auth.example/token?k=" + key, "https://app:xxxxx@auth.example/token?k=xxxxx"},
		{"https://auth.example/token?k=" + key + "#frag", "https://auth.example/token?k=xxxxx#frag"},
		{"https://auth.example/token", "https://auth.example/token"},
	} {
		var gotQuery string
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			gotQuery = r.URL.RawQuery
			return fakeidp.Respond(r, 503, "text/html", fakeidp.BadGatewayPage, ""), nil
		})
		c, err := NewClient(Endpoint{TokenURL: tc.url, HTTPClient: &http.Client{Transport: rt}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Refresh(context.Background(), session.Token{Refresh: "rt"})
		var ee *session.EndpointError
		if !errors.As(err, &ee) {
			t.Fatalf("Refresh error = %v", err)
		}
		shown := []string{c.URL(), ee.URL, err.Error(), fmt.Sprintf("%+v", c)}
		for _, s := range shown {
			if strings.Contains(s, key) || !strings.Contains(s, tc.want) {
				t.Errorf("NewClient(%q): shows %q, want %q and no secret", tc.url, s, tc.want)
			}
		}
		if want, _ := url.Parse(tc.url); gotQuery != want.RawQuery {
			t.Errorf("the request's query is %q, want %q", gotQuery, want.RawQuery)
		}
	}
}

func TestNewClientErrorsRedactTheQuery(t *testing.T) {
	const key = "K3Y-SECRET"
	for _, tc := range []struct {
		url, want string
	}{
		{"http://auth.example/token?key=" + key, "oauth: token URL is not HTTPS: http://auth.example/token?key=xxxxx "},
		{"ftp://auth.example/x?key=" + key + "#f", "oauth: token URL ftp://auth.example/x?key=xxxxx#f: scheme must be https"},
		{"https://exa mple.com/x?a=1&key=" + key, "oauth: token URL https://exa mple.com/x?a=xxxxx&key=xxxxx: invalid character"},
		{"https://user:pw@exa mple.com/x?key=" + key, "oauth: token URL https://user:xxxxx@exa mple.com/x?key=xxxxx: invalid character"},
		{"https:///token?key=" + key, "oauth: token URL https:///token?key=xxxxx has no host"},
		{"auth.example/x?key=" + key, "oauth: token URL auth.example/x?key=xxxxx: scheme must be https"},
		{"https://exa mple.com/x#?a=b", "oauth: token URL https://exa mple.com/x#?a=b: invalid character"}, // a "?" in the fragment
	} {
		_, err := NewClient(Endpoint{TokenURL: tc.url})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("NewClient(%q) = %v, want an error starting %q", tc.url, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), key) {
			t.Errorf("NewClient(%q) = %v: the error quotes the key", tc.url, err)
		}
	}
}

// TestClientAndEndpointPrintNoSecret prints a Client and its Endpoint with
// every verb, by value and by pointer, alone and inside other values.
func TestClientAndEndpointPrintNoSecret(t *testing.T) {
	e := Endpoint{TokenURL: "https://app:PW-SECRET@auth.example/token?key=KEY-SECRET", ClientID: "app", ClientSecret: "CS-SECRET",
		AuthStyle: AuthBody, Params: url.Values{"client_assertion": {"ASSERT-SECRET"}, "audience": {"api"}},
		HTTPClient: &http.Client{}, OnToken: func(session.Token) {}}
	c, err := NewClient(e)
	if err != nil {
		t.Fatal(err)
	}
	const (
		wantClient   = `oauth.Client{URL: "https://app:xxxxx@auth.example/token?key=xxxxx", ClientID: "app", Grant: "refresh_token", AuthStyle: body, Params: ["audience" "client_assertion"]}`
		wantEndpoint = `oauth.Endpoint{TokenURL: "https://app:xxxxx@auth.example/token?key=xxxxx", ClientID: "app", Grant: "", AuthStyle: body, Params: ["audience" "client_assertion"]}`
	)
	values := []struct {
		name string
		v    any
		want string
	}{
		{"*Client", c, wantClient},
		{"Client", *c, wantClient},
		{"Endpoint", e, wantEndpoint},
		{"*Endpoint", &e, wantEndpoint},
		{"struct with a Client", struct{ C Client }{*c}, wantClient},
		{"slice of Endpoints", []Endpoint{e}, wantEndpoint},
		{"map of *Client", map[string]*Client{"k": c}, wantClient},
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.4s"} {
		for _, tc := range values {
			out := fmt.Sprintf(verb, tc.v)
			if strings.Contains(out, "SECRET") || strings.Contains(strings.ToLower(out), fmt.Sprintf("%x", "SECRET")) {
				t.Errorf("Sprintf(%q, %s) = %q reveals a secret", verb, tc.name, out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("Sprintf(%q, %s) = %q, want it to contain %q", verb, tc.name, out, tc.want)
			}
		}
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "client", c, "client value", *c, "endpoint", e)
	if strings.Contains(buf.String(), "SECRET") {
		t.Errorf("slog output reveals a secret: %s", buf.String())
	}
	if got := fmt.Sprint(Endpoint{AuthStyle: 9}); !strings.Contains(got, "AuthStyle: AuthStyle(9)") {
		t.Errorf("an unknown AuthStyle prints as %q", got)
	}
}

// TestSameClient: a fallback authenticates as the same client when it is a
// Client with the same token endpoint, client id and credentials; a Session
// asks this of its Refresher (session.WithFallback).
func TestSameClient(t *testing.T) {
	key := &PrivateKeyJWT{KeyFile: "key.pem"}
	base := Endpoint{TokenURL: testURL, ClientID: "app", ClientSecret: "app-secret"}
	client := func(change func(*Endpoint)) *Client {
		e := base
		change(&e)
		c, err := NewClient(e)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	primary := client(func(*Endpoint) {})
	withKey := client(func(e *Endpoint) { e.ClientSecret, e.Assertion = "", key })
	for _, tc := range []struct {
		name     string
		primary  *Client
		fallback session.Refresher
		want     bool
	}{
		{"client_credentials of the same client", primary, client(func(e *Endpoint) { e.Grant = GrantClientCredentials; e.Scopes = []string{"api"} }), true},
		{"another client id", primary, client(func(e *Endpoint) { e.ClientID = "robot" }), false},
		{"another secret", primary, client(func(e *Endpoint) { e.ClientSecret = "new-secret" }), false},
		{"another authentication style", primary, client(func(e *Endpoint) { e.AuthStyle = AuthBody }), false},
		{"another token endpoint", primary, client(func(e *Endpoint) { e.TokenURL = "https://other.example/token" }), false},
		{"the same assertion", withKey, client(func(e *Endpoint) { e.ClientSecret, e.Assertion, e.Grant = "", key, GrantClientCredentials }), true},
		{"another assertion", withKey, client(func(e *Endpoint) { e.ClientSecret, e.Assertion = "", &PrivateKeyJWT{KeyFile: "key.pem"} }), false},
		{"a secret and an assertion", primary, withKey, false},
		{"a RefresherFunc", primary, session.RefresherFunc(func(context.Context, session.Token) (session.Token, error) { return session.Token{}, nil }), false},
	} {
		if got := tc.primary.SameClient(tc.fallback); got != tc.want {
			t.Errorf("%s: SameClient = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestClassifierSeesTheScrubbedDescription: what a session's classifier
// gets of a refusal (EndpointError.Outcome) is scrubbed of the secrets the
// request carried: the refresh token, the client secret.
func TestClassifierSeesTheScrubbedDescription(t *testing.T) {
	fe := fakeidp.New(time.Hour)
	fe.SetFault(fakeidp.Fault{Kind: "status", Status: 400, Code: "invalid_request",
		Desc: "token tok-refresh-0 of client app-secret is locked; try later"}, 1)
	_, err := testClient(t, fe, Endpoint{}).Refresh(context.Background(), session.Token{Refresh: "tok-refresh-0"})
	var ee *session.EndpointError
	if !errors.As(err, &ee) {
		t.Fatalf("Refresh = %v, want an *EndpointError", err)
	}
	o := ee.Outcome()
	if o.ErrorCode != "invalid_request" || o.Description != "token [redacted] of client [redacted] is locked; try later" {
		t.Errorf("the classifier sees %q, %q", o.ErrorCode, o.Description)
	}
}
