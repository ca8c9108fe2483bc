package tokenserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func startServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// hc opens a connection per request, so a restarted server never sees a
// request on a connection that the previous incarnation closed.
var hc = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func refresh(ctx context.Context, s *Server, rt string) (TokenResponse, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	return RequestToken(ctx, hc, s.URL()+TokenPath, s.ClientID(), s.ClientSecret(), form)
}

func resourceStatus(t *testing.T, s *Server, access string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.ResourceURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if access != "" {
		req.Header.Set("Authorization", "Bearer "+access)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
		t.Errorf("401 without invalid_token challenge: %q", resp.Header.Get("WWW-Authenticate"))
	}
	return resp.StatusCode
}

func wantCode(t *testing.T, err error, status int, code string) {
	t.Helper()
	var re *ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error = %v, want a ResponseError %d %s", err, status, code)
	}
	if re.Status != status || re.Code != code {
		t.Fatalf("answer = %d %q, want %d %q", re.Status, re.Code, status, code)
	}
}

func TestRefreshRotatesEveryUse(t *testing.T) {
	s := startServer(t, Config{})
	ctx := t.Context()
	first, err := s.Login(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if first.RefreshToken == "" || first.ExpiresIn < 2 || first.ExpiresIn > 3 {
		t.Fatalf("login: %v, want a refresh token and expires_in 2..3", first)
	}
	if got := resourceStatus(t, s, first.AccessToken); got != http.StatusOK {
		t.Fatalf("resource with fresh token: %d", got)
	}
	second, err := refresh(ctx, s, first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatal("refresh did not rotate both tokens")
	}
	// fosite retires the previous access token on rotation.
	for _, c := range []struct {
		name   string
		access string
		want   int
	}{
		{"previous access token", first.AccessToken, http.StatusUnauthorized},
		{"new access token", second.AccessToken, http.StatusOK},
		{"no token", "", http.StatusUnauthorized},
		{"garbage", "not-a-token", http.StatusUnauthorized},
	} {
		if got := resourceStatus(t, s, c.access); got != c.want {
			t.Errorf("%s: resource answered %d, want %d", c.name, got, c.want)
		}
	}
	if _, err := refresh(ctx, s, second.RefreshToken); err != nil {
		t.Fatalf("second rotation: %v", err)
	}
	got := s.Counts()
	want := Counts{TokenRequests: 3, Grants: map[string]int{"password": 1, "refresh_token": 2}, Rotations: 2,
		ResourceOK: 2, ResourceRejected: 3}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
}

// TestReuseRevokesFamily checks the fosite behaviour the whole suite relies
// on: replaying a rotated refresh token is refused with invalid_grant AND
// revokes the token that replaced it and its access token.
func TestReuseRevokesFamily(t *testing.T) {
	s := startServer(t, Config{})
	ctx := t.Context()
	first, err := s.Login(ctx)
	if err != nil {
		t.Fatal(err)
	}
	second, err := refresh(ctx, s, first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	_, err = refresh(ctx, s, first.RefreshToken)
	wantCode(t, err, http.StatusBadRequest, "invalid_grant")
	if c := s.Counts(); c.Reuse != 1 || c.FamilyRevocations != 1 || c.GracedReuse != 0 {
		t.Fatalf("reuse %d, family revocations %d, graced %d; want 1, 1, 0", c.Reuse, c.FamilyRevocations, c.GracedReuse)
	}
	if got := resourceStatus(t, s, second.AccessToken); got != http.StatusUnauthorized {
		t.Errorf("access token of the revoked family: resource answered %d, want 401", got)
	}
	_, err = refresh(ctx, s, second.RefreshToken)
	wantCode(t, err, http.StatusBadRequest, "invalid_grant")

	// Another family is untouched.
	other, err := s.Login(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := refresh(ctx, s, other.RefreshToken); err != nil {
		t.Errorf("unrelated family: %v", err)
	}
}

// TestReuseGrace: inside the grace a rotated refresh token is accepted
// again, and the pair it then gets is a live member of the family; after
// the grace the same replay is reuse and revokes the family.
func TestReuseGrace(t *testing.T) {
	const grace = 500 * time.Millisecond
	s := startServer(t, Config{ReuseGrace: grace})
	ctx := t.Context()
	first, err := s.Login(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The server rotated the token between sent and answered.
	sent := time.Now()
	if _, err := refresh(ctx, s, first.RefreshToken); err != nil {
		t.Fatal(err)
	}
	answered := time.Now()
	again, err := refresh(ctx, s, first.RefreshToken)
	if time.Since(sent) >= grace {
		t.Skip("the machine was too slow to replay inside the grace")
	}
	if err != nil {
		t.Fatalf("replay inside the grace: %v", err)
	}
	next, err := refresh(ctx, s, again.RefreshToken)
	if err != nil {
		t.Fatalf("the graced answer's refresh token: %v", err)
	}
	if c := s.Counts(); c.GracedReuse != 1 || c.Reuse != 0 || c.FamilyRevocations != 0 {
		t.Fatalf("inside the grace: graced %d, reuse %d, family revocations %d; want 1, 0, 0", c.GracedReuse, c.Reuse, c.FamilyRevocations)
	}
	// Let the grace pass: time itself is what is tested.
	time.Sleep(time.Until(answered.Add(grace + 50*time.Millisecond)))
	_, err = refresh(ctx, s, first.RefreshToken)
	wantCode(t, err, http.StatusBadRequest, "invalid_grant")
	_, err = refresh(ctx, s, next.RefreshToken)
	wantCode(t, err, http.StatusBadRequest, "invalid_grant")
	if c := s.Counts(); c.GracedReuse != 1 || c.Reuse != 2 || c.FamilyRevocations != 2 {
		t.Errorf("after the grace: graced %d, reuse %d, family revocations %d; want 1, 2, 2", c.GracedReuse, c.Reuse, c.FamilyRevocations)
	}
}

func TestAccessTokenExpires(t *testing.T) {
	s := startServer(t, Config{AccessTokenLifespan: time.Second})
	tok, err := s.Login(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	issued := time.Now()
	if got := resourceStatus(t, s, tok.AccessToken); got != http.StatusOK {
		t.Fatalf("fresh token: %d", got)
	}
	// fosite rounds the expiry to a whole second: it lies 0.5–1.5 s out.
	deadline := issued.Add(3 * time.Second)
	for resourceStatus(t, s, tok.AccessToken) == http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("access token still accepted 3s after a 1s lifespan")
		}
		pause(t, 20*time.Millisecond)
	}
	if el := time.Since(issued); el < 400*time.Millisecond {
		t.Errorf("token rejected after %v, before its lifespan", el)
	}
}

func TestClientCredentials(t *testing.T) {
	s := startServer(t, Config{})
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}
	tok, err := RequestToken(t.Context(), hc, s.URL()+TokenPath, s.ClientID(), s.ClientSecret(), form)
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken != "" {
		t.Error("client_credentials issued a refresh token")
	}
	if got := resourceStatus(t, s, tok.AccessToken); got != http.StatusOK {
		t.Errorf("resource: %d", got)
	}
	_, err = RequestToken(t.Context(), hc, s.URL()+TokenPath, s.ClientID(), "wrong", form)
	wantCode(t, err, http.StatusUnauthorized, "invalid_client")
}

// TestRestartKeepsStorage: a stopped backend refuses connections; after a
// restart on the same port the refresh token issued before still works.
// The protected resource stays up throughout.
func TestRestartKeepsStorage(t *testing.T) {
	s := startServer(t, Config{})
	ctx := t.Context()
	tok, err := s.Login(ctx)
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if s.Running() {
		t.Fatal("Running after Stop")
	}
	// The resource server is a separate service: it keeps serving.
	if got := resourceStatus(t, s, tok.AccessToken); got != http.StatusOK {
		t.Errorf("resource while the token endpoint is down: %d", got)
	}
	if _, err := refresh(ctx, s, tok.RefreshToken); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("refresh against a stopped server: %v, want connection refused", err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if s.Addr() != addr {
		t.Fatalf("restarted on %s, want %s", s.Addr(), addr)
	}
	if _, err := refresh(ctx, s, tok.RefreshToken); err != nil {
		t.Fatalf("refresh after restart: %v", err)
	}
	if err := s.Start(); err == nil {
		t.Error("second Start of a running server succeeded")
	}
}

func TestFaults(t *testing.T) {
	for _, c := range []struct {
		name  string
		fault Fault
		// rotated: the refresh was performed although the client got no answer.
		rotated bool
	}{
		{"delay beyond the client's patience", Fault{Kind: Delay, Delay: 2 * time.Second, Count: 1}, true},
		{"hang", Fault{Kind: Hang, Count: 1}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := startServer(t, Config{})
			tok, err := s.Login(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			s.SetFault(c.fault)
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			_, err = refresh(ctx, s, tok.RefreshToken)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("faulty refresh: %v, want a timeout", err)
			}
			// The counted fault is used up: the next request is answered.
			_, err = refresh(t.Context(), s, tok.RefreshToken)
			if c.rotated {
				wantCode(t, err, http.StatusBadRequest, "invalid_grant")
			} else if err != nil {
				t.Fatalf("refresh after the hang: %v", err)
			}
			var got []string
			for _, r := range s.Requests() {
				got = append(got, fmt.Sprintf("%s %d %s %s", r.Grant, r.Status, r.Code, r.Fault))
			}
			want := []string{"password 200  none", "refresh_token 200  " + c.fault.Kind.String(), "refresh_token 200  none"}
			if c.rotated {
				want[2] = "refresh_token 400 invalid_grant none"
			} else {
				want[1] = "refresh_token 0  hang"
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("request log (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUncountedFaultLastsUntilReplaced(t *testing.T) {
	s := startServer(t, Config{})
	s.SetFault(Fault{Kind: Hang})
	for range 2 {
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		_, err := s.Login(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("login during hang: %v", err)
		}
	}
	s.SetFault(Fault{})
	if _, err := s.Login(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestStopReleasesHungRequests: Stop does not wait for a hung handler's
// client to give up.
func TestStopReleasesHungRequests(t *testing.T) {
	s := startServer(t, Config{})
	s.SetFault(Fault{Kind: Hang})
	errc := make(chan error, 1)
	go func() { _, err := s.Login(context.Background()); errc <- err }()
	deadline := time.Now().Add(5 * time.Second)
	for s.Counts().TokenRequests == 0 {
		if time.Now().After(deadline) {
			t.Fatal("request never arrived")
		}
		pause(t, 5*time.Millisecond)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err == nil {
		t.Fatal("hung login succeeded")
	}
}

func TestTokenResponseRedacts(t *testing.T) {
	r := TokenResponse{AccessToken: "ACCESS-MARKER", RefreshToken: "REFRESH-MARKER", TokenType: "bearer", ExpiresIn: 3}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(verb, r); strings.Contains(out, "MARKER") {
			t.Errorf("%s prints a token: %s", verb, out)
		}
	}
}

// pause waits for d while polling an observable condition; it is the
// polling interval, not a synchronisation.
func pause(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-time.After(d):
	case <-t.Context().Done():
	}
}
