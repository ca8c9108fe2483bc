package simserver_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/oauth"
	"github.com/authfsm/authfsm/sim"
	"github.com/authfsm/authfsm/sim/simserver"
)

// Point your own client at a scenario's server: here a oauth.Client,
// over a real listener, on a mock clock that the test moves into and out
// of the scenario's 502 window.
func Example() {
	sc, err := sim.Parse("example.yaml", []byte(`
name: example
duration: 2h
token: {ttl: 1h, rotate: true}
server:
  latency: 0s
  faults:
    - {from: 55m, to: 56m, kind: status, status: 502}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	mock := clock.NewMock()
	srv, _ := simserver.New(sc, mock)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	client, _ := oauth.NewClient(oauth.Endpoint{TokenURL: ts.URL + simserver.TokenPath, ClientID: "app"})

	pair, _ := srv.Login(0)
	cur := session.Token{Access: session.Secret(pair.Access), Refresh: session.Secret(pair.Refresh)}
	mock.Add(55 * time.Minute)
	_, err = client.Refresh(context.Background(), cur)
	var ee *session.EndpointError
	if errors.As(err, &ee) {
		v := policy.Classify(ee.Outcome())
		fmt.Println("at 55m:", v.Class, v.Cause)
	}
	mock.Add(time.Minute)
	tok, err := client.Refresh(context.Background(), cur)
	fmt.Println("at 56m:", err, tok.Expiry.Sub(tok.Issued), tok.Refresh != cur.Refresh)
	// Output:
	// at 55m: transient 502 Bad Gateway
	// at 56m: <nil> 1h0m0s true
}
