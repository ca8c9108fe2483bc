package oauth

import (
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session"
)

// The seed corpora live in testdata/fuzz/<target>/; run a target with
// go test -run '^$' -fuzz '^FuzzParseTokenResponse$' -fuzztime 60s ./session

var fuzzNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// parseErrorTemplates are the messages parseTokenResponse may return, with
// every run of digits written N (by norm). The fuzz target checks that each message is
// one of them: a message built from the body could quote a token.
var parseErrorTemplates = func() map[string]bool {
	m := map[string]bool{}
	for _, reason := range []string{"empty body", "body is an HTML or XML page", "body is not a JSON object", "malformed JSON",
		"malformed form body", "an OAuth2 error answer with a success status", "access_token missing", "access_token is empty",
		"access_token has a byte outside %x21-7E at offset 0", "refresh_token has a byte outside %x20-7E at offset 0",
		"token_type has a byte that is not a token character at offset 0",
		"expires_in is not a number", "expires_in is negative", "expires is not a number", "expires is negative"} {
		m[norm("not a token response: "+reason)] = true
	}
	for _, member := range []string{"access_token", "token_type", "refresh_token", "scope"} {
		m[norm(`not a token response: member "`+member+`" has the wrong type`)] = true
	}
	return m
}()

// norm writes every run of digits in s as N.
func norm(s string) string { return digits.ReplaceAllString(s, "N") }

var digits = regexp.MustCompile(`[0-9]+`)

func FuzzParseTokenResponse(f *testing.F) {
	f.Add([]byte(`{"access_token":"at","token_type":"Bearer","expires_in":3600,"refresh_token":"rt"}`))
	f.Add([]byte("access_token=at&token_type=bearer&scope=repo&expires=60"))
	f.Add([]byte("\xef\xbb\xbf{\"access_token\":\"at\",\"expires\":\"60\"}"))
	f.Add([]byte(`{"access_token":"at\r\nX-Injected: 1"}`))
	f.Add([]byte("access_token=at&refresh_token=r%0At"))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, ctype := range []string{"application/json", "application/x-www-form-urlencoded"} {
			tok, err := parseTokenResponse(ctype, body, fuzzNow, DefaultTTL)
			if err != nil {
				if tok != (session.Token{}) {
					t.Errorf("%s: a failed parse returned %v", ctype, tok)
				}
				// A message must never quote the body: it may hold a token.
				if !errors.Is(err, policy.ErrNotTokenResponse) || !parseErrorTemplates[norm(err.Error())] {
					t.Errorf("%s: error %q is not one of the known messages", ctype, err)
				}
				continue
			}
			if tok.Access == "" || !tok.Issued.Equal(fuzzNow) || tok.Expiry.IsZero() {
				t.Errorf("%s: parsed %v from %q: want an access token, issue time and expiry", ctype, tok, body)
			}
			if tok.Expiry.Sub(fuzzNow) > maxLifetime {
				t.Errorf("%s: expiry %v is more than maxLifetime after %v", ctype, tok.Expiry, fuzzNow)
			}
			// Every later request carries these in a header.
			if outside(string(tok.Access), 0x21, 0x7e) >= 0 || outside(string(tok.Refresh), 0x20, 0x7e) >= 0 {
				t.Errorf("%s: accepted a token with a byte outside VSCHAR from %q", ctype, body)
			}
			for i := 0; i < len(tok.Type); i++ {
				if !isTokenChar(tok.Type[i]) {
					t.Errorf("%s: accepted token_type %q", ctype, tok.Type)
				}
			}
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
