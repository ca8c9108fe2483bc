// Command apiclient is a complete small program: a client that calls an API
// through session.Transport, against a token server and an API it starts
// itself on loopback. The token server answers its first two refreshes with
// a proxy's 502 page; the session retries them, the API answers one 401 for
// a token it was told to stop accepting, and every call of the client
// succeeds. Run it with:
//
//	go run ./examples/apiclient
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/oauth"
)

func main() {
	if err := run(os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(out io.Writer) error {
	tokens, valid := startTokenServer()
	api := startAPI(valid)

	client, err := oauth.NewClient(oauth.Endpoint{
		TokenURL:     tokens + "/oauth/token", // loopback: plain HTTP is allowed
		ClientID:     "apiclient",
		ClientSecret: "apiclient-secret",
	})
	if err != nil {
		return err
	}
	s, err := session.New(context.Background(), client, session.Token{Refresh: "refresh-0"},
		session.WithPolicy(policy.Exponential{Initial: 50 * time.Millisecond, Multiplier: 2, Max: time.Second}),
		session.WithAudit(audit.NewSlogSink(nil)),
		session.WithFailFast(false), // callers wait for the refresh instead of failing
		session.WithID("apiclient"))
	if err != nil {
		return err
	}
	defer s.Close()
	hc := &http.Client{Transport: &session.Transport{Session: s}, Timeout: 10 * time.Second}

	for i := range 5 {
		if i == 3 {
			valid.revokeAll() // the API stops accepting the current token: one 401, one refresh
		}
		resp, err := hc.Get(api + "/v1/items")
		if err != nil {
			return fmt.Errorf("call %d: %w", i+1, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("call %d: %s", i+1, resp.Status)
		}
		fmt.Fprintf(out, "call %d: %s", i+1, body)
	}
	st := s.Status()
	fmt.Fprintf(out, "session %s, token %s\n", st.State, st.Token)
	return nil
}

// tokenSet is the set of access tokens the API accepts.
type tokenSet struct {
	mu sync.Mutex
	ok map[string]bool
}

func (t *tokenSet) add(tok string) {
	t.mu.Lock()
	t.ok[tok] = true
	t.mu.Unlock()
}

func (t *tokenSet) has(tok string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ok[tok]
}

func (t *tokenSet) revokeAll() {
	t.mu.Lock()
	t.ok = map[string]bool{}
	t.mu.Unlock()
}

// startTokenServer runs a token endpoint whose first two answers are a
// proxy's 502 page, then rotating token pairs.
func startTokenServer() (string, *tokenSet) {
	valid := &tokenSet{ok: map[string]bool{}}
	var n atomic.Int64
	url := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		if i <= 2 {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>")
			return
		}
		tok := fmt.Sprintf("access-%d", i)
		valid.add(tok)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":3600,"refresh_token":"refresh-%d"}`, tok, i)
	}))
	return url, valid
}

// startAPI runs a resource server that accepts the tokens in valid.
func startAPI(valid *tokenSet) string {
	return serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !valid.has(tok) {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		io.WriteString(w, `{"items":[1,2,3]}`+"\n")
	}))
}

func serve(h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(ln, h)
	return "http://" + ln.Addr().String()
}
