package oauth

import (
	"encoding/base64"
	"testing"
	"time"
)

// jwtWith returns an unsigned JWT whose payload is claims.
func jwtWith(claims string) string {
	return "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + ".sig"
}

// TestJWTExpiry covers the documented rule: a plausible exp is used, capped
// to now+maxLifetime; a past one is kept; anything else is ignored.
func TestJWTExpiry(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		claims string
		want   time.Time
		ok     bool
	}{
		{"ten minutes", `{"exp":1767226200}`, now.Add(10 * time.Minute), true},
		{"fractional", `{"exp":1767226200.5}`, now.Add(10*time.Minute + 500*time.Millisecond), true},
		{"year 5138 is capped", `{"exp":99999999999}`, now.Add(maxLifetime), true},
		{"just beyond the cap", `{"exp":2082672001}`, now.Add(maxLifetime), true},
		{"1e20 is capped", `{"exp":1e20}`, now.Add(maxLifetime), true},
		{"past is kept", `{"exp":1767225000}`, now.Add(-10 * time.Minute), true},
		{"zero", `{"exp":0}`, time.Time{}, false},
		{"negative", `{"exp":-1}`, time.Time{}, false},
		{"beyond float64", `{"exp":1e400}`, time.Time{}, false},
		{"a string", `{"exp":"soon"}`, time.Time{}, false},
		{"absent", `{"sub":"x"}`, time.Time{}, false},
	} {
		got, ok := jwtExpiry(jwtWith(tc.claims), now)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("%s: jwtExpiry(%s) = %v, %v; want %v, %v", tc.name, tc.claims, got, ok, tc.want, tc.ok)
		}
	}
}

// TestParseTokenResponseCapsTheJWTExpiry checks the cap where it matters:
// the expiry of a parsed token response.
func TestParseTokenResponseCapsTheJWTExpiry(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tok, err := parseTokenResponse("application/json", []byte(`{"access_token":"`+jwtWith(`{"exp":99999999999}`)+`"}`), now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(maxLifetime); !tok.Expiry.Equal(want) {
		t.Errorf("expiry %v, want %v (now+maxLifetime)", tok.Expiry, want)
	}
}
