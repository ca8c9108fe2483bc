// Package agent is what `authfsm agent` runs: a long-running process that
// keeps one session.Session per profile of its configuration file alive,
// so that clients in any language get their OAuth2 tokens through it.
//
// Per profile it serves, on loopback TCP or a unix socket created with mode
// 0600:
//
//   - a reverse proxy to the profile's API that injects the Authorization
//     header through session.Transport (a 401 refreshes the token and
//     replays the request once; the upstream's 401 to the replay reaches
//     the client as it came), keeping proxy.max_idle_conns upstream
//     connections open for the next requests (DefaultMaxIdleConns);
//   - GET /v1/token?profile=NAME on the agent's API listener, answering
//     {access_token, token_type, expires_at, token_expires_at, state}, or
//     503 with Retry-After and the refresh error's text. expires_at is the
//     instant the agent stops handing the token out, Handover before the
//     session replaces it (TokenResponse.ExpiresAt): servers such as Ory
//     Hydra revoke the previous access token at a refresh, so a client
//     keeping the token until it expires would send a revoked one; a
//     client asking within the handover, or during a refresh, waits for
//     the new token. Like a cloud metadata
//     server it answers only requests carrying its header
//     (Authfsm-Token-Request: 1) and refuses those a browser made (Origin,
//     Sec-Fetch-Site, a Host that is not loopback), so a forged cross-site
//     or server-side request cannot read a token;
//   - both refuse, with 403 and forwarding nothing, a request that a
//     relaying proxy forwarded (any of RelayHeaders: Forwarded,
//     X-Forwarded-For, X-Forwarded-Host, X-Real-IP, Via);
//   - POST /v1/token/reject?profile=NAME, by which a client says a server
//     refused the token (git's erase): the current token is then no longer
//     served and is refreshed, as after a 401 through the proxy;
//   - GET /v1/health (ops.HealthHandler) and GET /metrics: in the
//     Prometheus text format, the session metrics contrib/prometheus
//     exports (ops.Metric*, with a profile label), and the agent's own
//     counters (authfsm_agent_*).
//
// The git credential helper (`authfsm token --format git`) asks
// /v1/token with git's protocol and host; the agent answers only for the
// hosts a profile names (Profile.AnswersGit).
//
// A refresh_token profile with a login block (device or browser) needs no
// seed: while its store holds no pair, and after the server refused its
// refresh token for good, its session needs a login (states.NeedsLogin)
// and /v1/token answers 503 saying how to log in. Login (`authfsm login
// --profile NAME`) runs the flow on the terminal and stores the pair where
// the running agent, and every process of the family, adopts it; Logout
// (`authfsm logout`) revokes it at the authorization server (RFC 7009) and
// removes it, and they stop serving it.
//
// A profile's store keeps its token pair across restarts: a file
// (session.FileStore), a file shared by the host's processes
// (session.FileCoordinator), or a token family in Redis shared by agents
// and programs on several hosts (store.redis: coordinator/rediscore's
// coordinator and client, so the agent needs no Redis library).
//
// Every transition goes to one hash-chained audit log, optionally keyed.
// On shutdown the agent stops accepting requests, lets a refresh in flight
// finish and saves the newest (possibly rotated) token pair to each
// profile's store (session.Session.Shutdown).
//
// A profile's session block is a declared session (declare.ParseNode), a
// scenario's too: `authfsm sim --profile agent.yaml SCENARIO` simulates the
// settings the agent runs, and session.Declared runs them. The agent links
// no simulator.
// Secrets come only from files or the environment; the configuration file
// refuses an inline secret, and no error, log line or answer of the agent
// but /v1/token's carries one.
//
// The client side, the token command's, is Client, and the output formats
// of `authfsm token` are WriteExecCredential and WriteGitCredential.
package agent
