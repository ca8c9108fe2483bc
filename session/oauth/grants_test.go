package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/internal/fakeidp"
	"golang.org/x/oauth2"
)

// verifyJWT checks a compact JWS against pub and returns its header and
// claims.
func verifyJWT(t *testing.T, jwt string, pub crypto.PublicKey) (map[string]any, map[string]any) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if len(sig) != 64 || !ecdsa.Verify(k, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			t.Fatal("ES256 signature does not verify")
		}
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], sig); err != nil {
			t.Fatalf("RS256 signature: %v", err)
		}
	}
	var h, c map[string]any
	for i, dst := range []*map[string]any{&h, &c} {
		b, _ := base64.RawURLEncoding.DecodeString(parts[i])
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return h, c
}

func writePEM(t *testing.T, path string, key any) { writePEMKid(t, path, key, "") }

// writePEMKid writes key as PKCS#8 PEM, naming it kid in the block's
// headers when kid is not empty.
func writePEMKid(t *testing.T, path string, key any, kid string) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	block := &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	if kid != "" {
		block.Headers = map[string]string{"kid": kid}
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
}

// assertionServer is a token endpoint that records the forms it receives
// and answers with a token.
type assertionServer struct {
	mu    sync.Mutex
	forms []url.Values
}

func (a *assertionServer) RoundTrip(r *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(b))
	a.mu.Lock()
	a.forms = append(a.forms, form)
	a.mu.Unlock()
	return fakeidp.Respond(r, 200, "application/json", `{"access_token":"at","token_type":"Bearer","expires_in":3600}`, ""), nil
}

// TestPrivateKeyJWT: a fresh ES256 or RS256 assertion per request, signed
// with the key from the PEM file (re-read, so a rotated key is used from
// the next request on), with the claims RFC 7523 asks for.
func TestPrivateKeyJWT(t *testing.T) {
	ec1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, tc := range []struct {
		name      string
		first     crypto.Signer
		rotated   crypto.Signer
		alg       string
		fromBytes bool
	}{
		{"ES256", ec1, ec2, "ES256", true},
		{"RS256", rsaKey, rsaKey, "RS256", true},
		{"ES256 signer", ec1, ec1, "ES256", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "key.pem")
			writePEM(t, path, tc.first)
			pk := &PrivateKeyJWT{KeyFile: path, KeyID: "k1"}
			if !tc.fromBytes {
				pk = &PrivateKeyJWT{Key: tc.first, KeyID: "k1"}
			}
			srv := &assertionServer{}
			c, err := NewClient(Endpoint{TokenURL: testURL, ClientID: "svc", Grant: GrantClientCredentials, Assertion: pk,
				HTTPClient: &http.Client{Transport: srv}})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				if i == 1 && tc.fromBytes {
					// Rotation: the new key and its kid in one file; the
					// configuration (KeyID) stays as it is.
					writePEMKid(t, path, tc.rotated, "k2")
				}
				if _, err := c.Refresh(context.Background(), session.Token{}); err != nil {
					t.Fatal(err)
				}
			}
			jtis := map[any]bool{}
			for i, f := range srv.forms {
				if f.Get("client_assertion_type") != JWTBearerAssertion || f.Get("client_id") != "svc" || f.Get("client_secret") != "" {
					t.Fatalf("form %d: %v", i, f)
				}
				key := tc.first
				if i == 1 {
					key = tc.rotated
				}
				h, claims := verifyJWT(t, f.Get("client_assertion"), key.Public())
				wantKID := "k1"
				if i == 1 && tc.fromBytes {
					wantKID = "k2"
				}
				if h["alg"] != tc.alg || h["kid"] != wantKID || claims["iss"] != "svc" || claims["sub"] != "svc" || claims["aud"] != testURL {
					t.Errorf("request %d: header %v claims %v", i, h, claims)
				}
				if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != DefaultAssertionLifetime.Seconds() {
					t.Errorf("lifetime %v s", exp-iat)
				}
				jtis[claims["jti"]] = true
			}
			if len(jtis) != 2 {
				t.Error("the assertions share a jti: not fresh")
			}
		})
	}
}

// TestPrivateKeyJWTErrors: a bad key is a clear error naming the file,
// never quoting it, returned as a transient *EndpointError.
func TestPrivateKeyJWTErrors(t *testing.T) {
	dir := t.TempDir()
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	writePEM(t, filepath.Join(dir, "p384.pem"), p384)
	writePEM(t, filepath.Join(dir, "small.pem"), small)
	os.WriteFile(filepath.Join(dir, "garbage.pem"), []byte("-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "cert.pem"), []byte("-----BEGIN CERTIFICATE-----\nc2VjcmV0\n-----END CERTIFICATE-----\n"), 0o600)
	for file, want := range map[string]string{
		"missing.pem": "no such file",
		"p384.pem":    "ES256 needs P-256",
		"small.pem":   "needs at least 2048",
		"garbage.pem": "malformed PRIVATE KEY",
		"cert.pem":    `"CERTIFICATE" is not a private key`,
	} {
		c, err := NewClient(Endpoint{TokenURL: testURL, ClientID: "svc", Grant: GrantClientCredentials,
			Assertion: &PrivateKeyJWT{KeyFile: filepath.Join(dir, file)}, HTTPClient: &http.Client{Transport: &assertionServer{}}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Refresh(context.Background(), session.Token{})
		var ee *session.EndpointError
		if !errors.As(err, &ee) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "c2VjcmV0") {
			t.Errorf("%s: %v, want a *session.EndpointError containing %q", file, err, want)
		}
	}
}

// TestAssertionFile: the assertion is read from the file at every request,
// so the platform's rotation is picked up.
func TestAssertionFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	srv := &assertionServer{}
	c, err := NewClient(Endpoint{TokenURL: testURL, ClientID: "wl", Grant: GrantClientCredentials, Assertion: AssertionFile{Path: path},
		HTTPClient: &http.Client{Transport: srv}})
	if err != nil {
		t.Fatal(err)
	}
	for _, content := range []string{"eyJ.first.sig\n", "eyJ.second.sig"} {
		os.WriteFile(path, []byte(content), 0o600)
		if _, err := c.Refresh(context.Background(), session.Token{}); err != nil {
			t.Fatal(err)
		}
	}
	if srv.forms[0].Get("client_assertion") != "eyJ.first.sig" || srv.forms[1].Get("client_assertion") != "eyJ.second.sig" {
		t.Errorf("assertions sent: %q, %q", srv.forms[0].Get("client_assertion"), srv.forms[1].Get("client_assertion"))
	}
	os.WriteFile(path, []byte("  \n"), 0o600)
	if _, err := c.Refresh(context.Background(), session.Token{}); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("empty file: %v", err)
	}
}

// TestTokenExchange: RFC 8693 as a Refresher, with a subject token
// supplied fresh for every request.
func TestTokenExchange(t *testing.T) {
	srv := &assertionServer{}
	n := 0
	c, err := NewClient(Endpoint{TokenURL: testURL, ClientID: "svc", ClientSecret: "s", Grant: GrantTokenExchange,
		SubjectToken: func(context.Context) (session.Secret, string, error) {
			n++
			return session.Secret("subject-" + string(rune('0'+n))), TokenTypeJWT, nil
		},
		RequestedTokenType: TokenTypeAccessToken, Params: url.Values{"audience": {"https://api.example"}},
		HTTPClient: &http.Client{Transport: srv}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := session.New(context.Background(), c, session.Token{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	f := srv.forms[0]
	if f.Get("grant_type") != string(GrantTokenExchange) || f.Get("subject_token") != "subject-1" ||
		f.Get("subject_token_type") != TokenTypeJWT || f.Get("requested_token_type") != TokenTypeAccessToken || f.Get("audience") != "https://api.example" {
		t.Errorf("form %v", f)
	}
	if _, err := NewClient(Endpoint{TokenURL: testURL, Grant: GrantTokenExchange}); err == nil {
		t.Error("a token exchange without a subject token was accepted")
	}
}

// TestDiscovery: the token endpoint comes from the issuer's metadata (RFC
// 8414 first, OpenID Connect's document second); a failed fetch is retried
// like a refresh; an issuer mismatch is refused.
func TestDiscovery(t *testing.T) {
	var mu sync.Mutex
	fail, oidcOnly, lie := true, false, false
	mux := http.NewServeMux()
	var srv *httptest.Server
	meta := func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			http.Error(w, "<html>502</html>", http.StatusBadGateway)
			return
		}
		if oidcOnly && strings.Contains(r.URL.Path, "oauth-authorization-server") {
			http.NotFound(w, r)
			return
		}
		issuer := srv.URL + "/tenant"
		if lie {
			issuer = "https://evil.example/tenant"
		}
		json.NewEncoder(w).Encode(Metadata{Issuer: issuer, TokenEndpoint: srv.URL + "/tenant/token"})
	}
	mux.HandleFunc("/.well-known/oauth-authorization-server/tenant", meta)
	mux.HandleFunc("/tenant/.well-known/openid-configuration", meta)
	mux.HandleFunc("/tenant/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"at","token_type":"Bearer","expires_in":3600}`)
	})
	srv = httptest.NewServer(mux)
	defer srv.Close()

	c, err := NewClient(Endpoint{Issuer: srv.URL + "/tenant", ClientID: "app", ClientSecret: "s", Grant: GrantClientCredentials})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Refresh(context.Background(), session.Token{}); err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("failed discovery: %v", err)
	}
	mu.Lock()
	fail, oidcOnly = false, true
	mu.Unlock()
	if _, err := c.Refresh(context.Background(), session.Token{}); err != nil {
		t.Fatalf("after the metadata came back: %v", err)
	}
	if c.URL() != srv.URL+"/tenant/token" {
		t.Errorf("URL() = %s", c.URL())
	}
	mu.Lock()
	lie = true
	mu.Unlock()
	if _, err := Discover(context.Background(), nil, srv.URL+"/tenant", false); err == nil || !strings.Contains(err.Error(), "names issuer") {
		t.Errorf("a metadata document for another issuer was accepted: %v", err)
	}
	if _, err := Discover(context.Background(), nil, "http://auth.example.com", false); !errors.Is(err, ErrInsecureTokenURL) {
		t.Errorf("a plain-HTTP issuer: %v", err)
	}
}

// TestFromOAuth2: a token from an oauth2.Config login starts a Session.
func TestFromOAuth2(t *testing.T) {
	exp := time.Now().Add(time.Hour)
	got := FromOAuth2(&oauth2.Token{AccessToken: "a", RefreshToken: "r", TokenType: "Bearer", Expiry: exp})
	if got.Access != "a" || got.Refresh != "r" || got.Type != "Bearer" || !got.Expiry.Equal(exp) {
		t.Errorf("FromOAuth2 = %v", got)
	}
	if FromOAuth2(nil) != (session.Token{}) {
		t.Error("FromOAuth2(nil) is not the zero Token")
	}
}
