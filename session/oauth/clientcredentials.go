package oauth

import (
	"context"
	"fmt"
	"net/http"

	"github.com/authfsm/authfsm/session"
)

// ClientCredentials returns an *http.Client whose requests carry a token of
// the client_credentials grant (RFC 6749 §4.4) for the client e describes:
// the one-line setup of golang.org/x/oauth2's clientcredentials.Config{…}.Client(ctx),
// with a Session behind it that refreshes ahead of expiry, retries
// transient failures on its policy and tells them from the server's
// refusal. e.Grant "" means GrantClientCredentials (any other grant is an
// error); e.ClientID is required. opts configure the Session
// (session.WithLogger, session.WithPolicy, session.WithAudit, …). The first token is requested at once, in the
// background; a request waits for it.
//
// The Session lives until ctx ends, then it is closed and the client's
// requests fail with session.ErrClosed: give a context that lives as long as the
// client is used (context.Background() for the life of the program). The
// client's Transport is a *session.Transport, whose Session field gives the
// Session (its Status, its audit records).
func ClientCredentials(ctx context.Context, e Endpoint, opts ...session.Option) (*http.Client, error) {
	switch e.Grant {
	case "":
		e.Grant = GrantClientCredentials
	case GrantClientCredentials:
	default:
		return nil, fmt.Errorf("oauth: ClientCredentials uses the client_credentials grant, not %q", e.Grant)
	}
	c, err := NewClient(e)
	if err != nil {
		return nil, err
	}
	s, err := session.New(ctx, c, session.Token{}, opts...)
	if err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, func() { s.Close() })
	return &http.Client{Transport: &session.Transport{Session: s}}, nil
}
