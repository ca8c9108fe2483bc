package oauth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"time"

	"github.com/authfsm/authfsm/session"
)

// JWTBearerAssertion is the client_assertion_type of a JWT client assertion
// (RFC 7523 §2.2).
const JWTBearerAssertion = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// A ClientAssertion authenticates the client to the token endpoint with an
// assertion instead of a secret (RFC 7521 §4.2): a JWT it signs itself
// (PrivateKeyJWT) or one a platform hands it (AssertionFile). The Client asks
// for a fresh assertion for every request. ClientAssertion must be safe for
// concurrent use; a failure is reported as a transient *session.EndpointError, so a
// session retries it like a refresh.
type ClientAssertion interface {
	ClientAssertion(ctx context.Context, req AssertionRequest) (assertionType string, assertion session.Secret, err error)
}

// AssertionRequest is what a ClientAssertion may need to know.
type AssertionRequest struct {
	// ClientID is the client's id: a JWT's iss and sub.
	ClientID string
	// TokenURL is the token endpoint the assertion is sent to: a JWT's aud
	// unless the assertion says otherwise.
	TokenURL string
	// Now is the current time on the Client's clock.
	Now time.Time
}

// AssertionFile is a ClientAssertion read from a file at every request:
// the Kubernetes projected service-account token, Azure workload identity's
// federated token, or any token a sidecar keeps fresh. Reading it each time
// picks up the rotated file without a restart.
type AssertionFile struct {
	// Path is the file; surrounding whitespace is ignored.
	Path string
	// Type is the client_assertion_type; "" means JWTBearerAssertion.
	Type string
}

// ClientAssertion implements ClientAssertion.
func (f AssertionFile) ClientAssertion(context.Context, AssertionRequest) (string, session.Secret, error) {
	b, err := os.ReadFile(f.Path)
	if err != nil {
		return "", "", fmt.Errorf("oauth: client assertion file: %w", err)
	}
	a := string(bytes.TrimSpace(b))
	if a == "" {
		return "", "", fmt.Errorf("oauth: client assertion file %s is empty", f.Path)
	}
	if i := outside(a, 0x21, 0x7e); i >= 0 {
		return "", "", fmt.Errorf("oauth: client assertion file %s holds a character outside the token syntax at byte %d", f.Path, i)
	}
	typ := f.Type
	if typ == "" {
		typ = JWTBearerAssertion
	}
	return typ, session.Secret(a), nil
}

// DefaultAssertionLifetime is how long a PrivateKeyJWT assertion is valid
// unless PrivateKeyJWT.Lifetime says otherwise: long enough for a slow
// request, short enough that a captured one is soon useless.
const DefaultAssertionLifetime = 2 * time.Minute

// PrivateKeyJWT is the private_key_jwt client authentication (RFC 7523,
// OpenID Connect Core §9): for every request it signs a fresh JWT (iss and
// sub the client id, aud the token endpoint, a random jti, iat and exp)
// with the client's private key, ES256 or RS256, naming the key with kid.
//
// The key comes from Key, or else from the PEM file KeyFile (PKCS#8, SEC 1
// "EC PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY"), which is read at every
// request, so a rotated key is used from the next request on. The key and
// its kid change together: a "kid" header of the PEM block, when present,
// names the key and takes precedence over KeyID, so rotating means
// replacing the file (atomically: write a new file, rename it over the old)
// with the new key and its kid, without touching the configuration.
//
// It uses the standard library only: signing two algorithms is a page of
// code, and a JOSE library would be a dependency for it.
type PrivateKeyJWT struct {
	// KeyFile is a PEM file holding the private key.
	KeyFile string
	// Key is the private key (an *ecdsa.PrivateKey on P-256, an
	// *rsa.PrivateKey, or a crypto.Signer over either, such as a KMS key);
	// it takes precedence over KeyFile.
	Key crypto.Signer
	// KeyID is the JWT header's kid when the key file's PEM block has no
	// "kid" header; empty omits it. Set it before the first request and
	// leave it: to rotate, put the kid in the key file.
	KeyID string
	// Audience is the aud claim; "" means the token endpoint's URL.
	Audience string
	// Lifetime is the assertion's validity; 0 means DefaultAssertionLifetime.
	Lifetime time.Duration
}

// ClientAssertion implements ClientAssertion.
func (p *PrivateKeyJWT) ClientAssertion(_ context.Context, req AssertionRequest) (string, session.Secret, error) {
	key, kid := p.Key, p.KeyID
	if key == nil {
		k, fileKID, err := readPrivateKey(p.KeyFile)
		if err != nil {
			return "", "", err
		}
		key = k
		if fileKID != "" {
			kid = fileKID
		}
	}
	alg, err := algorithm(key.Public())
	if err != nil {
		return "", "", err
	}
	if req.ClientID == "" {
		return "", "", errors.New("oauth: private_key_jwt needs Endpoint.ClientID (the assertion's iss and sub)")
	}
	life := p.Lifetime
	if life <= 0 {
		life = DefaultAssertionLifetime
	}
	aud := p.Audience
	if aud == "" {
		aud = req.TokenURL
	}
	var jti [16]byte
	rand.Read(jti[:])
	header := map[string]string{"alg": alg, "typ": "JWT"}
	if kid != "" {
		header["kid"] = kid
	}
	claims := map[string]any{"iss": req.ClientID, "sub": req.ClientID, "aud": aud, "jti": hex.EncodeToString(jti[:]),
		"iat": req.Now.Unix(), "exp": req.Now.Add(life).Unix()}
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := b64(h) + "." + b64(c)
	sig, err := sign(key, alg, []byte(input))
	if err != nil {
		return "", "", err
	}
	return JWTBearerAssertion, session.Secret(input + "." + b64(sig)), nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// algorithm picks the JWS algorithm for a public key.
func algorithm(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("oauth: private_key_jwt: ECDSA key on %s; ES256 needs P-256", k.Curve.Params().Name)
		}
		return "ES256", nil
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return "", fmt.Errorf("oauth: private_key_jwt: RSA key of %d bits; RS256 needs at least 2048", k.N.BitLen())
		}
		return "RS256", nil
	}
	return "", fmt.Errorf("oauth: private_key_jwt: unsupported key type %T (want ECDSA P-256 or RSA)", pub)
}

// sign signs input with key: for ES256 the JWS form, r and s as 32 bytes
// each (RFC 7518 §3.4), not the ASN.1 a crypto.Signer returns.
func sign(key crypto.Signer, alg string, input []byte) ([]byte, error) {
	digest := sha256.Sum256(input)
	sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("oauth: private_key_jwt: signing: %w", err)
	}
	if alg != "ES256" {
		return sig, nil
	}
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(sig, &rs); err != nil {
		return nil, fmt.Errorf("oauth: private_key_jwt: the signer's ECDSA signature is not ASN.1: %w", err)
	}
	out := make([]byte, 64)
	rs.R.FillBytes(out[:32])
	rs.S.FillBytes(out[32:])
	return out, nil
}

// readPrivateKey reads a PEM private key and the kid its block's headers
// give, if any. Its errors never quote the file.
func readPrivateKey(path string) (crypto.Signer, string, error) {
	if path == "" {
		return nil, "", errors.New("oauth: private_key_jwt needs Key or KeyFile")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("oauth: private_key_jwt key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, "", fmt.Errorf("oauth: private_key_jwt key %s: no PEM block", path)
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, "", fmt.Errorf("oauth: private_key_jwt key %s: PEM block %q is not a private key", path, block.Type)
	}
	if err != nil {
		return nil, "", fmt.Errorf("oauth: private_key_jwt key %s: malformed %s", path, block.Type)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, "", fmt.Errorf("oauth: private_key_jwt key %s: %T cannot sign", path, key)
	}
	return s, block.Headers["kid"], nil
}
