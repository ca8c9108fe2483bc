package agent_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/authfsm/authfsm/agent"
)

// An agent with one profile, and a client asking it for the profile's
// token as `authfsm token` does.
func Example() {
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"at-1","token_type":"Bearer","expires_in":3600}`)
	}))
	defer tokens.Close()

	dir, _ := os.MkdirTemp("", "agent")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "secret"), []byte("s3cret\n"), 0o600)
	config := strings.ReplaceAll(`listen: 127.0.0.1:0
profiles:
  billing:
    token_url: TOKEN_URL
    client_id: billing-batch
    client_secret_file: secret
    grant: client_credentials
`, "TOKEN_URL", tokens.URL)
	path := filepath.Join(dir, "agent.yaml")
	os.WriteFile(path, []byte(config), 0o600)

	cfg, err := agent.Load(path)
	if err != nil {
		log.Fatal(err)
	}
	a, err := agent.New(context.Background(), cfg, agent.Options{})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx) }()

	c := &agent.Client{Listen: agent.Listen{Network: "tcp", Address: a.Addr("").String()}}
	tok, err := c.Token(context.Background(), "billing")
	fmt.Println(tok.AccessToken, tok.TokenType, tok.State, err)

	stop()
	<-served
	// Output: at-1 Bearer valid <nil>
}
