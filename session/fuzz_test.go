package session

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// The seed corpora live in testdata/fuzz/<target>/; run a target with
// go test -run '^$' -fuzz '^FuzzParseTokenResponse$' -fuzztime 60s ./session

var fuzzNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func FuzzParseTokenResponse(f *testing.F) {
	f.Add([]byte(`{"access_token":"at","token_type":"Bearer","expires_in":3600,"refresh_token":"rt"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := parseTokenResponse(body, fuzzNow, DefaultTTL)
		if err != nil {
			if tok != (Token{}) {
				t.Errorf("a failed parse returned %v", tok)
			}
			// A message must never quote the body: it may hold a token.
			if len(body) >= 12 && strings.Contains(err.Error(), string(body)) {
				t.Errorf("error %q quotes the body", err)
			}
			return
		}
		if tok.Access == "" || !tok.Issued.Equal(fuzzNow) || tok.Expiry.IsZero() {
			t.Errorf("parsed %v from %q: want an access token, issue time and expiry", tok, body)
		}
		if tok.Expiry.Sub(fuzzNow) > maxLifetime {
			t.Errorf("expiry %v is more than maxLifetime after %v", tok.Expiry, fuzzNow)
		}
	})
}

func FuzzJWTExpiry(f *testing.F) {
	f.Add("eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":1767226200}`)) + ".sig")
	f.Fuzz(func(t *testing.T, tok string) {
		exp, ok := jwtExpiry(tok, fuzzNow)
		if !ok {
			if !exp.IsZero() {
				t.Errorf("jwtExpiry(%q) = %v, false: want the zero time", tok, exp)
			}
			return
		}
		if !exp.After(time.Unix(0, 0)) || exp.After(fuzzNow.Add(maxLifetime)) {
			t.Errorf("jwtExpiry(%q) = %v, outside (1970, now+maxLifetime]", tok, exp)
		}
		if strings.Count(tok, ".") != 2 {
			t.Errorf("jwtExpiry accepted %q, which has not three parts", tok)
		}
	})
}
