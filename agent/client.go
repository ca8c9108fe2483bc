package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// DefaultAddr is where `authfsm token` looks for the agent's API unless
// told otherwise (--agent, --socket, or AUTHFSM_AGENT).
const DefaultAddr = "127.0.0.1:8180"

// Client asks an agent for tokens: the side of `authfsm token`.
type Client struct {
	// Listen is the agent's API address.
	Listen Listen
	// Timeout bounds one request; 0 means 30 s.
	Timeout time.Duration
}

// UnavailableError is an agent's refusal or its answer that it has no token:
// the status, the agent's message and, for a 503, when to ask again.
type UnavailableError struct {
	Status     int
	Message    string
	State      string
	RetryAfter time.Duration
}

func (e *UnavailableError) Error() string {
	s := "agent answered " + strconv.Itoa(e.Status) + " " + http.StatusText(e.Status) + ": " + e.Message
	if e.RetryAfter > 0 {
		s += " (retry after " + e.RetryAfter.String() + ")"
	}
	return s
}

// Token asks the agent for the named profile's token ("" for the agent's
// only profile).
func (c *Client) Token(ctx context.Context, profile string) (TokenResponse, error) {
	return c.token(ctx, profile, nil)
}

// GitToken asks the agent for the named profile's token on behalf of git's
// credential request for protocol and host. The agent answers only when
// the profile answers git for them (Profile.AnswersGit); otherwise the
// error is an *UnavailableError with Status 403.
func (c *Client) GitToken(ctx context.Context, profile, protocol, host string) (TokenResponse, error) {
	return c.token(ctx, profile, url.Values{"protocol": {protocol}, "host": {host}})
}

func (c *Client) token(ctx context.Context, profile string, q url.Values) (TokenResponse, error) {
	data, err := c.do(ctx, http.MethodGet, "/v1/token", profile, q, nil)
	if err != nil {
		return TokenResponse{}, err
	}
	var t TokenResponse
	if err := json.Unmarshal(data, &t); err != nil || t.AccessToken == "" {
		return TokenResponse{}, errors.New("the agent's answer is not a token response")
	}
	return t, nil
}

// Reject tells the agent that a server refused the named profile's token
// access (POST /v1/token/reject). It reports whether that was the
// profile's current token, which the agent then no longer serves and
// refreshes, paced by its retry policy; an older token changes nothing.
func (c *Client) Reject(ctx context.Context, profile, access string) (bool, error) {
	body, err := json.Marshal(RejectRequest{AccessToken: access})
	if err != nil {
		return false, err
	}
	data, err := c.do(ctx, http.MethodPost, "/v1/token/reject", profile, nil, body)
	if err != nil {
		return false, err
	}
	var r RejectResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return false, errors.New("the agent's answer is not a rejection's")
	}
	return r.Rejected, nil
}

// do sends one request to the agent's API and returns the body of its 200
// answer, or an *UnavailableError for any other status.
func (c *Client) do(ctx context.Context, method, path, profile string, q url.Values, body []byte) ([]byte, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tr := &http.Transport{Proxy: nil}
	host := c.Listen.Address
	if c.Listen.Network == "unix" {
		host = "localhost"
		path := c.Listen.Address
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
	}
	defer tr.CloseIdleConnections()
	if q == nil {
		q = url.Values{}
	}
	if profile != "" {
		q.Set("profile", profile)
	}
	u := url.URL{Scheme: "http", Host: host, Path: path, RawQuery: q.Encode()}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set(TokenRequestHeader, "1")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("cannot reach the agent at %s: %w", c.Listen, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the agent's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e ErrorResponse
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = "(no message)"
		}
		ue := &UnavailableError{Status: resp.StatusCode, Message: e.Error, State: e.State}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			ue.RetryAfter = time.Duration(s) * time.Second
		}
		return nil, ue
	}
	return data, nil
}
