// Package oauth is the OAuth2 client a Session refreshes with. Its Client
// requests tokens from an authorization server's token endpoint (RFC
// 6749): the refresh_token, client_credentials and token-exchange (RFC
// 8693) grants; a client secret in a Basic header or in the body, or a
// client assertion instead (PrivateKeyJWT, AssertionFile); the endpoints
// discovered from an issuer (Discover). It reads every answer strictly and
// reports every failure as a *session.EndpointError, which the session
// classifies: transient, or the server's refusal. The Client also revokes
// tokens (RFC 7009) for Session.Logout, offers the grants that obtain the
// first pair, as x/oauth2's Config does (AuthCodeURL and Exchange,
// DeviceAuth and DeviceToken; package session/login drives them), and
// carries over what code built on golang.org/x/oauth2 has
// (EndpointFromOAuth2, FromOAuth2).
// ClientCredentials is an *http.Client of the client_credentials grant in
// one line.
//
// It imports package session, as golang.org/x/oauth2/clientcredentials
// imports golang.org/x/oauth2; the session knows nothing of it and drives
// any session.Refresher.
//
//	client, err := oauth.NewClient(oauth.Endpoint{
//		TokenURL: "https://auth.example/oauth/token", ClientID: id, ClientSecret: session.Secret(secret),
//	})
//	…
//	s, err := session.New(ctx, client, session.Token{}, session.WithStore(&session.FileStore{Path: "token.json"}))
package oauth
