package oauth

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

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session"
)

// maxLifetime bounds expires_in and a JWT's remaining life: anything longer
// is a server bug, and capping keeps time arithmetic far from overflow.
const maxLifetime = 10 * 365 * 24 * time.Hour

// badResponse is the error of every parse failure of a 2xx body, matching
// policy.ErrNotTokenResponse. The messages never quote the body, which may
// hold a token.
func badResponse(reason string) error { return policy.NotTokenResponse(reason) }

// tokenAnswer is an RFC 6749 §5.1 answer, read from JSON or from a form.
type tokenAnswer struct {
	access                    *string // nil when absent
	tokenType, refresh, scope string
	// expires is the lifetime member, raw JSON (a number or a string);
	// expiresName says which: expires_in, or Facebook's legacy expires
	// when expires_in is absent.
	expires     json.RawMessage
	expiresName string
	// code is the "error" member (RFC 6749 §5.2), if any.
	code string
	// extra are the other members (id_token, …), or nil.
	extra map[string]any
}

// tokenMembers are the members of a token response that session.Token holds
// in its own fields; the others go to session.Token.Extra.
var tokenMembers = []string{"access_token", "token_type", "refresh_token", "expires_in", "expires", "scope"}

// parseTokenResponse reads a 2xx token response received at now: a JSON
// object, or a form-encoded body when contentType says so (as
// golang.org/x/oauth2 accepts: application/x-www-form-urlencoded or
// text/plain), after any UTF-8 byte-order mark. The expiry comes from
// expires_in (or expires when expires_in is absent); without it, from the
// access token's JWT exp claim; without either, defaultTTL after now. An
// access token with a byte outside %x21-7E, a refresh token with one
// outside %x20-7E (RFC 6749 Appendix A) or a token_type that is not an
// HTTP token is refused: each later request would carry it in a header.
// The errors name the member and the byte's offset, never the value. The
// members besides access_token, token_type, refresh_token, expires_in,
// expires and scope (an OpenID Connect id_token, a server's own) are kept for
// session.Token.Extra: JSON values as encoding/json decodes them into an any, form
// values as strings.
func parseTokenResponse(contentType string, body []byte, now time.Time, defaultTTL time.Duration) (session.Token, error) {
	body = trimBody(body)
	var a tokenAnswer
	var err error
	switch {
	case len(body) == 0:
		return session.Token{}, badResponse("empty body")
	case body[0] == '{':
		a, err = jsonAnswer(body)
	case body[0] == '<':
		return session.Token{}, policy.ErrHTMLBody
	case isFormContent(contentType):
		a, err = formAnswer(body)
	default:
		return session.Token{}, badResponse("body is not a JSON object")
	}
	if err != nil {
		return session.Token{}, err
	}
	if a.code != "" {
		// RFC 6749 §5.2 answers errors with 400, but some servers send
		// 200; golang.org/x/oauth2 too takes "error" over a token.
		return session.Token{}, badResponse("an OAuth2 error answer with a success status")
	}
	if a.access == nil {
		return session.Token{}, badResponse("access_token missing")
	}
	if *a.access == "" {
		return session.Token{}, badResponse("access_token is empty")
	}
	if i := outside(*a.access, 0x21, 0x7e); i >= 0 {
		return session.Token{}, badResponse("access_token has a byte outside %x21-7E at offset " + strconv.Itoa(i))
	}
	if i := outside(a.refresh, 0x20, 0x7e); i >= 0 {
		return session.Token{}, badResponse("refresh_token has a byte outside %x20-7E at offset " + strconv.Itoa(i))
	}
	for i := 0; i < len(a.tokenType); i++ {
		if !isTokenChar(a.tokenType[i]) {
			return session.Token{}, badResponse("token_type has a byte that is not a token character at offset " + strconv.Itoa(i))
		}
	}
	t := session.Token{Access: session.Secret(*a.access), Refresh: session.Secret(a.refresh), Type: a.tokenType, Issued: now, Scope: a.scope}.WithExtra(a.extra)
	life, ok, err := parseExpiresIn(a.expiresName, a.expires)
	switch {
	case err != nil:
		return session.Token{}, err
	case ok:
		t.Expiry = now.Add(life)
	default:
		if exp, ok := jwtExpiry(*a.access, now); ok {
			t.Expiry = exp
		} else {
			t.Expiry = now.Add(defaultTTL)
		}
	}
	return t, nil
}

// trimBody strips white space and a UTF-8 byte-order mark from a body.
func trimBody(body []byte) []byte {
	return bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(body), []byte("\xef\xbb\xbf")))
}

// jsonAnswer reads a JSON token answer. expires_in stays raw because
// servers send a number or a numeric string.
func jsonAnswer(body []byte) (tokenAnswer, error) {
	var r struct {
		AccessToken  *string         `json:"access_token"`
		TokenType    string          `json:"token_type"`
		RefreshToken string          `json:"refresh_token"`
		ExpiresIn    json.RawMessage `json:"expires_in"`
		Expires      json.RawMessage `json:"expires"`
		Scope        string          `json:"scope"`
		Error        any             `json:"error"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return tokenAnswer{}, badResponse("member " + strconv.Quote(te.Field) + " has the wrong type")
		}
		return tokenAnswer{}, policy.ErrMalformedJSON
	}
	a := tokenAnswer{access: r.AccessToken, tokenType: r.TokenType, refresh: r.RefreshToken, scope: r.Scope,
		expires: r.ExpiresIn, expiresName: "expires_in"}
	if absent(r.ExpiresIn) && !absent(r.Expires) {
		a.expires, a.expiresName = r.Expires, "expires"
	}
	a.code, _ = r.Error.(string)
	var all map[string]any
	if json.Unmarshal(body, &all) == nil {
		a.extra = otherMembers(all)
	}
	return a, nil
}

// otherMembers returns the members of a token response other than
// tokenMembers, or nil when there are none.
func otherMembers(all map[string]any) map[string]any {
	for _, k := range tokenMembers {
		delete(all, k)
	}
	if len(all) == 0 {
		return nil
	}
	return all
}

// formAnswer reads a form-encoded token answer, such as GitHub's legacy
// endpoint sends.
func formAnswer(body []byte) (tokenAnswer, error) {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return tokenAnswer{}, badResponse("malformed form body")
	}
	a := tokenAnswer{tokenType: v.Get("token_type"), refresh: v.Get("refresh_token"), scope: v.Get("scope"), code: v.Get("error")}
	all := map[string]any{}
	for k := range v {
		all[k] = v.Get(k)
	}
	a.extra = otherMembers(all)
	if v.Has("access_token") {
		access := v.Get("access_token")
		a.access = &access
	}
	for _, name := range []string{"expires_in", "expires"} {
		if v.Get(name) != "" { // a form has no null: empty is absent
			// A JSON string, as some servers send expires_in in JSON.
			a.expires, _ = json.Marshal(v.Get(name))
			a.expiresName = name
			break
		}
	}
	return a, nil
}

// absent reports whether a raw JSON member is missing or null.
func absent(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// outside returns the offset of the first byte of s outside [lo, hi], or -1.
func outside(s string, lo, hi byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] < lo || s[i] > hi {
			return i
		}
	}
	return -1
}

// isTokenChar reports whether c is an RFC 9110 tchar.
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c != 0 && strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// parseExpiresIn reads the lifetime member called name, a JSON number or a
// string holding one, in seconds. It reports false when the member is
// absent, null or zero (some servers send 0 for "unknown").
func parseExpiresIn(name string, raw json.RawMessage) (time.Duration, bool, error) {
	if absent(raw) {
		return 0, false, nil
	}
	raw = bytes.TrimSpace(raw)
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, false, badResponse(name + " is not a number")
		}
		s = strings.TrimSpace(s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false, badResponse(name + " is not a number")
	}
	switch {
	case f < 0:
		return 0, false, badResponse(name + " is negative")
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
	body = trimBody(body)
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
