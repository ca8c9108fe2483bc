package tokenserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// TokenResponse is the JSON body of a successful token response (RFC 6749
// section 5.1). Its String method never prints the tokens.
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
}

// String describes the response without its secrets.
func (r TokenResponse) String() string {
	return fmt.Sprintf("token response (type %s, expires_in %d, refresh token %t)", r.TokenType, r.ExpiresIn, r.RefreshToken != "")
}

// GoString is String, so %#v cannot print the tokens either.
func (r TokenResponse) GoString() string { return r.String() }

// ResponseError is a token request that did not end in a token: Status is
// the HTTP status, Code the OAuth2 error code when the body was an OAuth2
// error (empty for a proxy's HTML page).
type ResponseError struct {
	Status int
	Code   string
}

// Error says what came back.
func (e *ResponseError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("tokenserver: token request answered %d without an OAuth2 error", e.Status)
	}
	return fmt.Sprintf("tokenserver: token request answered %d %s", e.Status, e.Code)
}

// RequestToken posts form to tokenURL with the client authenticated by HTTP
// Basic, and decodes the answer. It is the minimal client the tests use to
// drive the server directly (to log in, and to replay a refresh token on
// purpose); the code under test uses its own client.
func RequestToken(ctx context.Context, hc *http.Client, tokenURL, clientID, clientSecret string, form url.Values) (TokenResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return TokenResponse{}, fmt.Errorf("tokenserver: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
	resp, err := hc.Do(req)
	if err != nil {
		return TokenResponse{}, fmt.Errorf("tokenserver: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return TokenResponse{}, fmt.Errorf("tokenserver: reading token response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var oe struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &oe) // a proxy's HTML page leaves Code empty
		return TokenResponse{}, &ResponseError{Status: resp.StatusCode, Code: oe.Error}
	}
	var tr TokenResponse
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return TokenResponse{}, &ResponseError{Status: resp.StatusCode}
	}
	return tr, nil
}
