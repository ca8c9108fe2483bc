package agent

import (
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
	u := url.URL{Scheme: "http", Host: host, Path: "/v1/token"}
	if profile != "" {
		u.RawQuery = url.Values{"profile": {profile}}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return TokenResponse{}, err
	}
	req.Header.Set(TokenRequestHeader, "1")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return TokenResponse{}, fmt.Errorf("cannot reach the agent at %s: %w", c.Listen, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return TokenResponse{}, fmt.Errorf("reading the agent's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e ErrorResponse
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e.Error = "(no message)"
		}
		ue := &UnavailableError{Status: resp.StatusCode, Message: e.Error, State: e.State}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			ue.RetryAfter = time.Duration(s) * time.Second
		}
		return TokenResponse{}, ue
	}
	var t TokenResponse
	if err := json.Unmarshal(body, &t); err != nil || t.AccessToken == "" {
		return TokenResponse{}, errors.New("the agent's answer is not a token response")
	}
	return t, nil
}
