package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/authfsm/authfsm/agent"
)

const tokenUsage = `usage: authfsm token [--profile P] [--format bare|json|exec-credential|git]
                     [--agent HOST:PORT|unix:PATH | --socket PATH] [--timeout D] [git's OPERATION]

Asks a running agent (authfsm agent) for a profile's access token and prints it:
  bare             the access token and a newline
  json             {"access_token", "token_type", "expires_at", "token_expires_at",
                   "state"}
  exec-credential  a Kubernetes ExecCredential (client.authentication.k8s.io/v1;
                   v1beta1 when KUBERNETES_EXEC_INFO asks) with status.token and
                   status.expirationTimestamp: a kubeconfig exec plugin
  git              a git credential helper. "get" answers username, password and
                   password_expiry_utc (git 2.41 or later honours it), only for a
                   host the profile names (its git.hosts, its proxy's upstream),
                   over https, or over http to a loopback host; for any other it
                   answers nothing. "erase" of the token the agent serves (git
                   says so when the server refused it) makes the agent refresh it;
                   "store" is ignored
expires_at, expirationTimestamp and password_expiry_utc are the instant the
agent stops handing the token out, a second before it refreshes it (servers
such as Hydra revoke the previous token then), not the token's own expiry
(token_expires_at): a client that keeps the token until then never sends a
revoked one.
The agent's address is --agent, --socket, $AUTHFSM_AGENT, or 127.0.0.1:8180.
Flags may come before or after git's OPERATION.

flags:
  --profile P      the profile (needed when the agent has several)
  --format F       bare (the default), json, exec-credential or git
  --agent A        the agent's API: HOST:PORT on loopback, or unix:PATH
  --socket PATH    the agent's API socket (as --agent unix:PATH)
  --username U     with --format git: the user name answered when git's request
                   names none (default oauth2)
  --timeout D      how long to wait for the agent (default 30s)

exit status: 0 a token was printed (or, for git, nothing was to be answered),
1 the agent has none or cannot be reached, 2 bad input
`

// stdin is what the git format and a scenario named "-" read; tests
// replace it.
var stdin io.Reader = os.Stdin

// tokenFlags are the token command's flags.
type tokenFlags struct {
	profile, format, addr, socket, username *string
	timeout                                 *time.Duration
}

func newTokenFlags(stderr io.Writer) (*flag.FlagSet, tokenFlags) {
	fs := newFlagSet("token", stderr)
	return fs, tokenFlags{
		profile:  fs.String("profile", "", "the profile (needed when the agent has several)"),
		format:   fs.String("format", "bare", "bare, json, exec-credential or git"),
		addr:     fs.String("agent", "", "the agent's API: HOST:PORT on loopback or unix:PATH"),
		socket:   fs.String("socket", "", "the agent's API socket (as --agent unix:PATH)"),
		username: fs.String("username", agent.DefaultGitUsername, "with --format git: the user name when git's request names none"),
		timeout:  fs.Duration("timeout", 30*time.Second, "how long to wait for the agent"),
	}
}

func runToken(args []string, stdout, stderr io.Writer) int {
	if wantsHelp(args) {
		helpWith(stdout, "token", tokenUsage)
		return exitOK
	}
	fs, f := newTokenFlags(stderr)
	pos, err := parseInterleaved(fs, args)
	if err != nil { // --h and -help=true included
		return badFlag(stdout, stderr, fs, err, tokenUsage)
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "authfsm token: "+format+"\n", a...)
		return exitBadInput
	}
	switch *f.format {
	case "bare", "json", "exec-credential":
		if len(pos) > 0 {
			return bad("unexpected argument %q", pos[0])
		}
	case "git":
		if len(pos) != 1 {
			return bad("--format git takes git's operation (get, store or erase)")
		}
		if pos[0] != "get" && pos[0] != "erase" {
			// store and operations git may add: nothing to do, but the
			// request is read, as git expects.
			io.Copy(io.Discard, io.LimitReader(stdin, 1<<20))
			return exitOK
		}
	default:
		return bad("--format %q: want bare, json, exec-credential or git", *f.format)
	}
	where := *f.addr
	switch {
	case *f.socket != "" && where != "":
		return bad("give --agent or --socket, not both")
	case *f.socket != "":
		where = "unix:" + *f.socket
	case where == "":
		where = os.Getenv("AUTHFSM_AGENT")
	}
	if where == "" {
		where = agent.DefaultAddr
	}
	l, err := agent.ParseListen(where)
	if err != nil {
		return bad("the agent's address: %v", err)
	}
	c := &agent.Client{Listen: l, Timeout: *f.timeout}
	if *f.format == "git" {
		req, err := agent.ReadGitRequest(stdin)
		if err != nil {
			return bad("%v", err)
		}
		return gitHelper(c, pos[0], *f.profile, *f.username, req, stdout, stderr)
	}
	var execVersion string
	if *f.format == "exec-credential" {
		if execVersion, err = agent.ExecCredentialVersion(os.Getenv("KUBERNETES_EXEC_INFO")); err != nil {
			return bad("%v", err)
		}
	}
	tok, err := c.Token(context.Background(), *f.profile)
	if err != nil {
		return agentFailed(stderr, err)
	}
	switch *f.format {
	case "bare":
		_, err = fmt.Fprintln(stdout, tok.AccessToken)
	case "json":
		err = json.NewEncoder(stdout).Encode(tok)
	case "exec-credential":
		err = agent.WriteExecCredential(stdout, tok, execVersion)
	}
	if err != nil {
		fmt.Fprintf(stderr, "authfsm token: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// agentFailed reports the agent's refusal or absence: the agent refusing
// the request (4xx) is a usage error; having no token, or no agent, a
// failure.
func agentFailed(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "authfsm token: %v\n", err)
	if ue := (*agent.UnavailableError)(nil); errors.As(err, &ue) && ue.Status < 500 {
		return exitBadInput
	}
	return exitFailed
}

// gitHelper answers git's get or erase (gitcredentials(7)). It answers
// only for a protocol and host the profile answers git for, which the
// agent decides (a 403 otherwise): for any other, get prints nothing, and
// git goes on to its next helper or asks the user. An erase whose password
// is the token the agent serves now (git erases a credential the server
// refused) tells the agent, which stops serving it and refreshes it; the
// password of another host, or an older token, is never sent to it.
func gitHelper(c *agent.Client, op, profile, username string, req map[string]string, stdout, stderr io.Writer) int {
	protocol, host := req["protocol"], req["host"]
	if protocol == "" || host == "" || (op == "erase" && req["password"] == "") {
		return exitOK
	}
	ctx := context.Background()
	tok, err := c.GitToken(ctx, profile, protocol, host)
	if ue := (*agent.UnavailableError)(nil); errors.As(err, &ue) && ue.Status == 403 {
		if op == "get" {
			fmt.Fprintf(stderr, "authfsm token: %s; answering git nothing\n", ue.Message)
		}
		return exitOK
	}
	if err != nil {
		return agentFailed(stderr, err)
	}
	if op == "erase" {
		if req["password"] != tok.AccessToken {
			return exitOK // not the token served now: nothing to refresh
		}
		if _, err := c.Reject(ctx, profile, tok.AccessToken); err != nil {
			return agentFailed(stderr, err)
		}
		return exitOK
	}
	if err := agent.WriteGitCredential(stdout, req, tok, username); err != nil {
		fmt.Fprintf(stderr, "authfsm token: %v\n", err)
		return exitFailed
	}
	return exitOK
}
