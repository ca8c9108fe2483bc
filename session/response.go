package session

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// maxLifetime bounds expires_in and a JWT's remaining life: anything longer
// is a server bug, and capping keeps time arithmetic far from overflow.
const maxLifetime = 10 * 365 * 24 * time.Hour

// maxDescription bounds the error_description and error_uri kept from a
// server's answer, in runes; maxCode bounds its error code.
const (
	maxDescription = 200
	maxCode        = 64
)

// errNotTokenResponse is the stem of every parse failure of a 2xx body. The
// messages never quote the body, which may hold a token.
var errNotTokenResponse = errors.New("not a token response")

type responseError struct{ reason string }

func (e *responseError) Error() string { return "not a token response: " + e.reason }
func (e *responseError) Is(target error) bool {
	return target == errNotTokenResponse
}

func badResponse(reason string) error { return &responseError{reason: reason} }

// tokenResponse is RFC 6749 §5.1. ExpiresIn stays raw because servers send a
// number or a numeric string.
type tokenResponse struct {
	AccessToken  *string         `json:"access_token"`
	TokenType    string          `json:"token_type"`
	RefreshToken string          `json:"refresh_token"`
	ExpiresIn    json.RawMessage `json:"expires_in"`
	Scope        string          `json:"scope"`
}

// parseTokenResponse reads a 2xx token response received at now. The expiry
// comes from expires_in; without it, from the access token's JWT exp claim;
// without either, defaultTTL after now.
func parseTokenResponse(body []byte, now time.Time, defaultTTL time.Duration) (Token, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return Token{}, badResponse("empty body")
	}
	if body[0] != '{' {
		if body[0] == '<' {
			return Token{}, badResponse("body is an HTML or XML page")
		}
		return Token{}, badResponse("body is not a JSON object")
	}
	var r tokenResponse
	if err := json.Unmarshal(body, &r); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Token{}, badResponse("member " + strconv.Quote(te.Field) + " has the wrong type")
		}
		return Token{}, badResponse("malformed JSON")
	}
	if code, _, _ := parseErrorBody("", body); code != "" {
		// RFC 6749 §5.2 answers errors with 400, but some servers send
		// 200; golang.org/x/oauth2 too takes "error" over a token.
		return Token{}, badResponse("an OAuth2 error answer with a success status")
	}
	if r.AccessToken == nil {
		return Token{}, badResponse("access_token missing")
	}
	if *r.AccessToken == "" {
		return Token{}, badResponse("access_token is empty")
	}
	t := Token{Access: Secret(*r.AccessToken), Refresh: Secret(r.RefreshToken), Type: r.TokenType, Issued: now, Scope: r.Scope}
	life, ok, err := parseExpiresIn(r.ExpiresIn)
	switch {
	case err != nil:
		return Token{}, err
	case ok:
		t.Expiry = now.Add(life)
	default:
		if exp, ok := jwtExpiry(*r.AccessToken, now); ok {
			t.Expiry = exp
		} else {
			t.Expiry = now.Add(defaultTTL)
		}
	}
	return t, nil
}

// parseExpiresIn accepts a JSON number or a string holding one, in seconds.
// It reports false when the member is absent, null or zero (some servers
// send 0 for "unknown").
func parseExpiresIn(raw json.RawMessage) (time.Duration, bool, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false, nil
	}
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, false, badResponse("expires_in is not a number")
		}
		s = strings.TrimSpace(s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false, badResponse("expires_in is not a number")
	}
	switch {
	case f < 0:
		return 0, false, badResponse("expires_in is negative")
	case f == 0:
		return 0, false, nil
	case f >= maxLifetime.Seconds():
		return maxLifetime, true, nil
	}
	return time.Duration(f * float64(time.Second)), true, nil
}

// jwtExpiry reads the exp claim of a JWT without verifying its signature:
// the session only learns when to refresh, it grants nothing on the claim.
// An exp more than maxLifetime after now is capped to now+maxLifetime, like
// expires_in. An exp already past is returned as it is: the token is
// expired, and the machine treats a refresh that yields one as failed. It
// reports false when tok is not a JWT with a positive numeric exp (zero,
// negative, non-numeric, or out of float64 range); the caller then assumes
// its default lifetime, as for a token that says nothing.
func jwtExpiry(tok string, now time.Time) (time.Time, bool) {
	first := strings.IndexByte(tok, '.')
	if first < 0 {
		return time.Time{}, false
	}
	rest := tok[first+1:]
	second := strings.IndexByte(rest, '.')
	if second < 0 || strings.IndexByte(rest[second+1:], '.') >= 0 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(rest[:second], "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == "" {
		return time.Time{}, false
	}
	f, err := claims.Exp.Float64()
	if err != nil || !(f > 0) {
		return time.Time{}, false
	}
	// Compare in seconds before converting, so an absurd exp never reaches
	// time arithmetic that could overflow.
	limit := now.Add(maxLifetime)
	if f >= float64(limit.Unix()) {
		return limit, true
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}

// parseErrorBody returns the "error", "error_description" and "error_uri"
// members of an RFC 6749 §5.2 error body, JSON or (when contentType says so)
// form-encoded, or "" for those absent or not strings. They are raw: pass
// them through serverText before they go anywhere.
func parseErrorBody(contentType string, body []byte) (code, description, uri string) {
	body = bytes.TrimSpace(body)
	if isFormContent(contentType) && (len(body) == 0 || body[0] != '{') {
		// Keep what parsed even if a later pair is malformed: an "error"
		// member that parsed is the server's word all the same.
		v, _ := url.ParseQuery(string(body))
		return v.Get("error"), v.Get("error_description"), v.Get("error_uri")
	}
	var e struct {
		Error       any `json:"error"`
		Description any `json:"error_description"`
		URI         any `json:"error_uri"`
	}
	if json.Unmarshal(body, &e) != nil {
		return "", "", ""
	}
	code, _ = e.Error.(string)
	description, _ = e.Description.(string)
	uri, _ = e.URI.(string)
	return code, description, uri
}

// isFormContent reports whether a Content-Type header names a form-encoded
// body, as golang.org/x/oauth2 reads one: application/x-www-form-urlencoded
// or text/plain (GitHub's legacy token endpoint), with any parameters.
func isFormContent(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	return mt == "application/x-www-form-urlencoded" || mt == "text/plain"
}

// serverText makes text from a server fit for an error message: every
// secret sc knows is replaced by "[redacted]", characters that could forge
// a log line or hide in one (controls, format characters such as bidi
// overrides, line and paragraph separators) are dropped, other spaces
// become U+0020, and the result is cut to at most n runes. sc runs before
// and after the clean-up, so a secret the server broke up with control
// characters is found too, and before the cut, so no prefix of one is left.
func serverText(sc scrubber, s string, n int) string {
	s = sc.scrub(s)
	var b strings.Builder
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Zs, r):
			b.WriteByte(' ')
		case unicode.IsPrint(r):
			b.WriteRune(r)
		}
	}
	s = sc.scrub(b.String())
	b.Reset()
	for _, r := range s {
		if n == 0 {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
		n--
	}
	return b.String()
}
