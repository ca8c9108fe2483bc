// Package session is the runtime a client embeds to keep an OAuth2 session
// alive: a Session serving access tokens, a Transport for net/http, a
// TokenSource for golang.org/x/oauth2, and token stores. The token
// endpoint client it refreshes with is package session/oauth (any
// Refresher will do); what it tells its observers, package session/hooks;
// health, census and metrics, package session/ops.
//
// Every decision — when to refresh, whether a failure is transient, how long
// to wait, when the session is revoked — is made by the pure machine of
// package states, the same one the simulator runs. The Session performs its
// effects: it sends the one refresh request the machine asks for, arms one
// timer for the machine's next wake-up, and writes an audit.Record for every
// transition.
//
// The guarantees, each covered by tests:
//   - Transient failures (5xx, 408, 429, timeouts, refused connections, a
//     proxy's HTML page, a broken body) never revoke; only the authorization
//     server's explicit refusal (an RFC 6749 error code such as invalid_grant,
//     whatever the status) or Revoke does.
//   - At most one refresh is in flight per session, whatever the number of
//     callers; a caller's cancelled context never cancels it.
//   - A still-valid token keeps being served while a refresh fails.
//   - Errors say what failed, which attempt, when the next one is due and
//     whether the access token is still valid (RefreshError, RevokedError).
//   - Secrets redact themselves (Secret, Token); audit records and logs
//     carry fingerprints only.
//   - Transport keeps net/http's RoundTripper contract: a response it
//     obtained is returned with a nil error, whatever its status. The 401 to
//     a replayed request reaches the caller with its body and challenge;
//     when it refused a token obtained moments ago, RejectionFrom(resp)
//     gives the *RejectedError (errors.Is ErrTokenRejected). The one
//     exception: a 401 for which no new token came returns the refresh
//     error, which says more.
//   - A hook, audit sink or logger that panics is recovered, logged at
//     error level with its stack and counted (Status.Panics); it never
//     stops the delivery of later records and hooks, nor Shutdown. While
//     one blocks, at most 1,024 notes wait: further log lines and hook
//     calls are dropped and counted (Status.Dropped), audit records never
//     are. See hooks.Hooks.
//   - Nothing a caller observes waits on I/O: Status, Token while the token
//     is valid, ops.HealthHandler and the hooks read memory only. Every
//     operation on a Store, a Coordinator or a lock file has a deadline (the
//     request timeout; DefaultLockTimeout for a lock file), and one that
//     runs out counts as the store being down (Status.StoreError, retried).
//     Shutdown(ctx) returns by ctx's deadline, with a *SaveError when the
//     newest pair is not in the store.
//   - A FileStore may be shared by the processes of one host: a Session
//     with one runs the token family's protocol (Coordinator) through a
//     FileCoordinator on its path, so the processes refresh one at a time
//     and adopt each other's pairs. After the server refuses its refresh
//     token, a Session with a store or a coordinator reads it again and
//     adopts a newer pair rather than revoke itself.
//
// The first token comes from a login (package session/login): login.Device
// (RFC 8628's device authorization grant) or login.Browser (the
// authorization code grant with PKCE through a loopback redirect, RFC 8252)
// returns a Token that New starts from or SetToken installs;
// oauth.FromOAuth2 and oauth.EndpointFromOAuth2 carry over what code built
// on golang.org/x/oauth2 has; oauth.ClientCredentials is an *http.Client of
// the client_credentials grant in one line. A Token keeps the token
// response's other members (an id_token) for Token.Extra.
//
// The way back: a session given a login method (WithLogin:
// login.DeviceFlow, login.BrowserFlow, a LoginFunc; login.Elsewhere for a
// login that another process makes, `authfsm login`, PublishPair) is not
// revoked when it has nothing it may refresh with — no token yet, a final
// refusal, its family logged out: it needs a login (states.NeedsLogin),
// which its next demand runs, or for which it waits, and Token says so (a
// *LoginRequiredError).
// Logout ends a session everywhere: it revokes the pair at the
// authorization server (RFC 7009, a Revoker such as oauth.Client) and
// removes it from the store or the family, whose other processes stop
// serving it; Revoke stays local.
//
// A typical client:
//
//	client, err := oauth.NewClient(oauth.Endpoint{
//		TokenURL: "https://auth.example/oauth/token", ClientID: id, ClientSecret: session.Secret(secret),
//	})
//	…
//	s, err := session.New(ctx, client, session.Token{}, // resume from the store (or start from a login)
//		session.WithStore(&session.FileStore{Path: "token.json"}),
//		session.WithRefreshAhead(5*time.Minute),
//		session.WithAudit(audit.NewSlogSink(logger)),
//		session.WithLogger(logger))
//	…
//	defer s.Close()
//	httpClient := &http.Client{Transport: &session.Transport{Session: s}}
package session
