package main

import (
	"context"
	"encoding/json"
	"errors"
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
  json             {"access_token", "token_type", "expires_at", "state"}
  exec-credential  a Kubernetes ExecCredential (client.authentication.k8s.io/v1;
                   v1beta1 when KUBERNETES_EXEC_INFO asks) with status.token and
                   status.expirationTimestamp: a kubeconfig exec plugin
  git              a git credential helper: "get" answers username, password and
                   password_expiry_utc; "store" and "erase" are ignored
The agent's address is --agent, --socket, $AUTHFSM_AGENT, or 127.0.0.1:8180.

exit status: 0 a token was printed, 1 the agent has none or cannot be reached, 2 bad input
`

// stdin is what the git format and a scenario named "-" read; tests
// replace it.
var stdin io.Reader = os.Stdin

func runToken(args []string, stdout, stderr io.Writer) int {
	if wantsHelp(args) {
		helpWith(stdout, "token", tokenUsage)
		return exitOK
	}
	fs := newFlagSet("token", stderr)
	profile := fs.String("profile", "", "the profile (needed when the agent has several)")
	format := fs.String("format", "bare", "bare, json, exec-credential or git")
	addr := fs.String("agent", "", "the agent's API: HOST:PORT on loopback or unix:PATH")
	socket := fs.String("socket", "", "the agent's API socket (as --agent unix:PATH)")
	username := fs.String("username", agent.DefaultGitUsername, "with --format git: the user name when git's request names none")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the agent")
	pos, err := parseInterleaved(fs, args)
	if err != nil { // --h and -help=true included
		return badFlag(stdout, stderr, fs, err, tokenUsage)
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "authfsm token: "+format+"\n", a...)
		return exitBadInput
	}
	switch *format {
	case "bare", "json", "exec-credential":
		if len(pos) > 0 {
			return bad("unexpected argument %q", pos[0])
		}
	case "git":
		if len(pos) != 1 {
			return bad("--format git takes git's operation (get, store or erase)")
		}
		if pos[0] != "get" {
			// store, erase and operations git may add: nothing to do, but
			// the request is read, as git expects.
			io.Copy(io.Discard, io.LimitReader(stdin, 1<<20))
			return exitOK
		}
	default:
		return bad("--format %q: want bare, json, exec-credential or git", *format)
	}
	where := *addr
	switch {
	case *socket != "" && where != "":
		return bad("give --agent or --socket, not both")
	case *socket != "":
		where = "unix:" + *socket
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
	var gitReq map[string]string
	if *format == "git" {
		if gitReq, err = agent.ReadGitRequest(stdin); err != nil {
			return bad("%v", err)
		}
	}
	var execVersion string
	if *format == "exec-credential" {
		if execVersion, err = agent.ExecCredentialVersion(os.Getenv("KUBERNETES_EXEC_INFO")); err != nil {
			return bad("%v", err)
		}
	}
	c := &agent.Client{Listen: l, Timeout: *timeout}
	tok, err := c.Token(context.Background(), *profile)
	if err != nil {
		fmt.Fprintf(stderr, "authfsm token: %v\n", err)
		// The agent refusing the request (4xx) is a usage error; having no
		// token, or no agent, is a failure.
		if ue := (*agent.UnavailableError)(nil); errors.As(err, &ue) && ue.Status < 500 {
			return exitBadInput
		}
		return exitFailed
	}
	switch *format {
	case "bare":
		_, err = fmt.Fprintln(stdout, tok.AccessToken)
	case "json":
		err = json.NewEncoder(stdout).Encode(tok)
	case "exec-credential":
		err = agent.WriteExecCredential(stdout, tok, execVersion)
	case "git":
		err = agent.WriteGitCredential(stdout, gitReq, tok, *username)
	}
	if err != nil {
		fmt.Fprintf(stderr, "authfsm token: %v\n", err)
		return exitFailed
	}
	return exitOK
}
