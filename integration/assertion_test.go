package integration

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authfsm/authfsm/integration/nginx"
	"github.com/authfsm/authfsm/integration/tokenserver"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/oauth"
	"github.com/authfsm/authfsm/states"
)

// newKey returns a fresh ECDSA P-256 key (ES256).
func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// writeKey replaces the PEM file at path with k (PKCS#8) as a secret
// rotation does: a new file renamed over the old, so that a reader sees
// the old key or the new one, never half a file.
func writeKey(t *testing.T, path string, k *ecdsa.PrivateKey) { writeKeyKid(t, path, k, "") }

// writeKeyKid is writeKey naming the key kid in the PEM block's headers,
// which oauth.PrivateKeyJWT reads with the key: a rotation changes both
// at once.
func writeKeyKid(t *testing.T, path string, k *ecdsa.PrivateKey, kid string) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	block := &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	if kid != "" {
		block.Headers = map[string]string{"kid": kid}
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// rotatingKey is the session's Endpoint.Assertion: a oauth.PrivateKeyJWT
// (KeyFile, KeyID) that signs every assertion, kept by value behind a
// lock so that the test can change its KeyID while the session runs.
// Writing KeyID in place on the *PrivateKeyJWT the session holds, as its
// documentation suggests for a rotation, races with the session's own
// goroutine signing an assertion (see TestPrivateKeyJWT).
type rotatingKey struct {
	mu sync.Mutex
	p  oauth.PrivateKeyJWT
}

func (r *rotatingKey) ClientAssertion(ctx context.Context, req oauth.AssertionRequest) (string, session.Secret, error) {
	r.mu.Lock()
	p := r.p
	r.mu.Unlock()
	return p.ClientAssertion(ctx, req)
}

func (r *rotatingKey) setKeyID(kid string) {
	r.mu.Lock()
	r.p.KeyID = kid
	r.mu.Unlock()
}

// keyClientID is the private_key_jwt client's id.
const keyClientID = "authfsm-it-jwt"

// TestPrivateKeyJWT authenticates a client_credentials session with
// private_key_jwt (oauth.PrivateKeyJWT: an ES256 assertion signed from a
// PEM file, with a kid) to fosite through nginx, across a key rotation:
// fosite's registration of the client holds both public keys by kid; the
// test rewrites the PEM file and the KeyID mid-run. Every refresh succeeds,
// and fosite verified assertions under both kids. Then the file holds a key
// fosite does not know under a kid it does: fosite answers 401
// invalid_client and the session stops, misconfigured, sending nothing
// more. A kid fosite does not know at all is answered 400 invalid_request
// (fosite's choice), a suspect refusal: retried on the policy's pace, it
// stops the session once the same answer came policy.SuspectRepeats times.
func TestPrivateKeyJWT(t *testing.T) {
	k1, k2 := newKey(t), newKey(t)
	e := newEnv(t, tokenserver.Config{
		AccessTokenLifespan: 3 * time.Second,
		KeyClients: []tokenserver.KeyClient{{ID: keyClientID,
			Keys: map[string]crypto.PublicKey{"k1": k1.Public(), "k2": k2.Public()}}},
	}, nginx.Config{})
	// The assertions' aud is the token URL the session posts to: nginx's.
	if err := e.srv.SetIssuer(e.px.URL(), 0); err != nil {
		t.Fatal(err)
	}
	newClient := func(t *testing.T, a oauth.ClientAssertion) *oauth.Client {
		c, err := oauth.NewClient(oauth.Endpoint{
			TokenURL: e.tokenURL(), ClientID: keyClientID, Assertion: a,
			Grant: oauth.GrantClientCredentials, Scopes: []string{"api"},
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// requests returns fosite's log of this client's token requests
	// (every one carries a client assertion).
	requests := func() []tokenserver.Request {
		var out []tokenserver.Request
		for _, r := range e.srv.Requests() {
			if r.KeyID != "" {
				out = append(out, r)
			}
		}
		return out
	}
	okWith := func(kid string) int {
		n := 0
		for _, r := range requests() {
			if r.Status == 200 && r.KeyID == kid {
				n++
			}
		}
		return n
	}

	t.Run("rotation", func(t *testing.T) {
		dir := t.TempDir()
		keyFile := filepath.Join(dir, "client-key.pem")
		writeKey(t, keyFile, k1)
		key := &rotatingKey{p: oauth.PrivateKeyJWT{KeyFile: keyFile, KeyID: "k1"}}
		s, mem, _ := newSession(t, newClient(t, key), session.Token{}, "private-key-jwt",
			session.WithRefreshAhead(time.Second), session.WithRequestTimeout(requestTimeout))

		// A caller asks for a token every 50 ms throughout.
		var calls, failed atomic.Int64
		var firstErr atomic.Value
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		wg.Go(func() {
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				cctx, ccancel := context.WithTimeout(ctx, time.Second)
				_, err := s.Token(session.ContextWithWait(cctx, true))
				ccancel()
				if ctx.Err() != nil {
					return
				}
				calls.Add(1)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		})
		stopCaller := func() { cancel(); wg.Wait() }
		defer stopCaller()

		// rotate waits for n successful requests under the current kid,
		// then installs key under kid just after a refresh, so that the
		// next one is a refresh-ahead interval away: the file and the
		// KeyID change one after the other, and an assertion signed in
		// between would pair the new key with the old kid.
		rotate := func(current string, n int, next string, k *ecdsa.PrivateKey) {
			t.Helper()
			waitFor(t, "refreshes signed with "+current, 15*time.Second, func() bool { return okWith(current) >= n })
			writeKey(t, keyFile, k)
			key.setKeyID(next)
			t.Logf("rotated from %s to %s after %d refreshes", current, next, okWith(current))
		}
		rotate("k1", 3, "k2", k2) // the first token and two refreshes with k1
		waitFor(t, "refreshes signed with k2", 15*time.Second, func() bool { return okWith("k2") >= 2 })
		stopCaller()
		if n, f := calls.Load(), failed.Load(); f != 0 || n == 0 {
			t.Errorf("%d of %d Token calls failed (first: %v)", f, n, firstErr.Load())
		}
		for _, r := range requests() {
			if r.Status != 200 {
				t.Errorf("fosite answered an assertion signed with %s %d %s", r.KeyID, r.Status, r.Code)
			}
		}
		t.Logf("fosite verified %d assertions with k1, %d with k2", okWith("k1"), okWith("k2"))

		// A key fosite does not know, under a kid it does.
		before := len(requests())
		writeKey(t, keyFile, newKey(t))
		waitFor(t, "the session to stop", 10*time.Second, func() bool { return s.Status().State == states.Revoked })
		_, err := s.Token(t.Context())
		if !errors.Is(err, session.ErrMisconfigured) || !strings.Contains(err.Error(), "client misconfigured") {
			t.Errorf("Token after an unknown key = %v, want a misconfigured client", err)
		}
		t.Logf("Token: %v", err)
		time.Sleep(time.Second) // a stopped session sends nothing more
		reqs := requests()
		if len(reqs) != before+1 {
			t.Fatalf("%d requests after the unknown key, want exactly 1", len(reqs)-before)
		}
		if last := reqs[len(reqs)-1]; last.Status != 401 || last.Code != "invalid_client" || last.KeyID != "k2" {
			t.Errorf("fosite answered the unknown key (kid %s) %d %s, want 401 invalid_client", last.KeyID, last.Status, last.Code)
		}
		seq := transitions(mem.Records())
		t.Logf("audit:\n%s", strings.Join(seq, "\n"))
		for i, line := range seq {
			last := i == len(seq)-1
			switch {
			case last && (!strings.HasSuffix(line, "→revoked deny: 401 invalid_client: client misconfigured")):
				t.Errorf("audit ends %q, want a denial as invalid_client", line)
			case !last && strings.Contains(line, "fail"):
				t.Errorf("audit: %s", line)
			}
		}
	})

	// The rotation PrivateKeyJWT documents: the new key and its kid in one
	// file replaced atomically; the running session's configuration is
	// left alone.
	t.Run("in place, as documented", func(t *testing.T) {
		dir := t.TempDir()
		keyFile := filepath.Join(dir, "client-key.pem")
		writeKey(t, keyFile, k1)
		key := &oauth.PrivateKeyJWT{KeyFile: keyFile, KeyID: "k1"}
		s, _, _ := newSession(t, newClient(t, key), session.Token{}, "in-place",
			session.WithRefreshAhead(time.Second), session.WithRequestTimeout(requestTimeout))
		if _, err := s.Token(t.Context()); err != nil {
			t.Fatal(err)
		}
		before := okWith("k2")
		writeKeyKid(t, keyFile, k2, "k2")
		time.Sleep(3 * time.Second) // past the next refresh-ahead
		if _, err := s.Token(t.Context()); err != nil || okWith("k2") == before {
			t.Fatalf("Token after the rotation: %v; %d refreshes signed with k2", err, okWith("k2")-before)
		}
	})

	t.Run("unknown kid", func(t *testing.T) {
		dir := t.TempDir()
		keyFile := filepath.Join(dir, "client-key.pem")
		writeKey(t, keyFile, newKey(t))
		before := len(requests())
		s, _, _ := newSession(t, newClient(t, &oauth.PrivateKeyJWT{KeyFile: keyFile, KeyID: "k3"}), session.Token{}, "unknown-kid")
		_, err := s.Token(session.ContextWithWait(t.Context(), true))
		t.Logf("Token: %v", err)
		if !errors.Is(err, session.ErrRevoked) {
			t.Errorf("Token with an unknown kid = %v, want the session stopped", err)
		}
		reqs := requests()[before:]
		if len(reqs) != policy.SuspectRepeats {
			t.Errorf("fosite's answers to an unknown kid: %+v, want %d", reqs, policy.SuspectRepeats)
		}
		for _, r := range reqs {
			if r.Status != 400 || r.Code != "invalid_request" {
				t.Errorf("fosite's answer to an unknown kid: %+v, want 400 invalid_request", r)
			}
		}
	})
}
