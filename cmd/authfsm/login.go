package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/authfsm/authfsm/agent"
	"github.com/authfsm/authfsm/session"
)

const loginUsage = `usage: authfsm login [--profile P] [--config FILE] [--timeout D]

Logs a profile of agent.yaml in, by its login block: flow device prints a
code and where to enter it on the terminal; flow browser opens the browser
(the authorization code grant with PKCE, through a loopback redirect). The
new pair goes to the profile's store (its file, a file coordinator's family,
a Redis family) as the family's next generation: a running agent, and every
process of the family, adopts it without a restart — the way back when the
authorization server refused the family's refresh token, after a logout, or
for a store that never held a pair.

flags:
  --profile P    the profile (needed when the file has several)
  --config FILE  the agent's configuration (default $AUTHFSM_CONFIG, or
                 agent.yaml)
  --timeout D    how long the login may take, the user's approval
                 included (default 15m)

exit status: 0 logged in and stored, 1 the login failed (denied, expired,
timed out) or the pair could not be stored, 2 bad input (the file, a
profile without a login block)
`

const logoutUsage = `usage: authfsm logout [--profile P] [--config FILE] [--timeout D]

Logs a profile of agent.yaml out: revokes the pair its store holds at the
authorization server (RFC 7009: the refresh token, then the access token, at
the profile's revocation_url or the issuer's revocation_endpoint) and removes
it from the store, so that a running agent, and every process of the family,
stops serving it at once, and a restarted one does not resume it. What could
not be revoked is reported, by fingerprint.

flags:
  --profile P    the profile (needed when the file has several)
  --config FILE  the agent's configuration (default $AUTHFSM_CONFIG, or
                 agent.yaml)
  --timeout D    how long the logout may take (default 1m)

exit status: 0 revoked and removed, 1 a token was not revoked or the pair
not removed, 2 bad input
`

// defaultConfig is the agent configuration login and logout read unless
// --config names one.
func defaultConfig() string {
	if f := os.Getenv("AUTHFSM_CONFIG"); f != "" {
		return f
	}
	return "agent.yaml"
}

func runLogin(args []string, stdout, stderr io.Writer) int {
	return runLoginOut("login", loginUsage, 15*time.Minute, args, stdout, stderr)
}

func runLogout(args []string, stdout, stderr io.Writer) int {
	return runLoginOut("logout", logoutUsage, time.Minute, args, stdout, stderr)
}

// runLoginOut is the login command (cmd "login") or the logout command.
func runLoginOut(cmd, usage string, timeout time.Duration, args []string, stdout, stderr io.Writer) int {
	if wantsHelp(args) {
		helpWith(stdout, cmd, usage)
		return exitOK
	}
	fs := newFlagSet(cmd, stderr)
	profile := fs.String("profile", "", "the profile")
	file := fs.String("config", defaultConfig(), "the agent's configuration")
	fs.DurationVar(&timeout, "timeout", timeout, "how long it may take")
	if err := fs.Parse(args); err != nil {
		return badFlag(stdout, stderr, fs, err, usage)
	}
	if fs.NArg() > 0 {
		say(stderr, cmd, "unexpected argument %q", fs.Arg(0))
		return exitBadInput
	}
	cfg, err := agent.Load(*file)
	if err != nil {
		sayErr(stderr, cmd, err)
		return exitBadInput
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var st agent.Stored
	if cmd == "login" {
		st, err = agent.Login(ctx, cfg, *profile, agent.LoginOptions{Output: stderr})
	} else {
		st, err = agent.Logout(ctx, cfg, *profile, agent.Options{})
	}
	var ce *agent.ConfigError
	var le *session.LogoutError
	switch {
	case errors.As(err, &ce):
		sayErr(stderr, cmd, err)
		return exitBadInput
	case errors.As(err, &le):
		say(stderr, cmd, "profile %s: %v", st.Profile, err)
		fmt.Fprintf(stdout, "removed the pair of profile %s from %s (generation %d); what was not revoked may still be used until it expires\n",
			st.Profile, st.Store, st.Generation)
		return exitFailed
	case errors.Is(err, context.DeadlineExceeded):
		say(stderr, cmd, "%v (--timeout %v ran out)", err, timeout)
		return exitFailed
	case err != nil:
		sayErr(stderr, cmd, err)
		return exitFailed
	case cmd == "login":
		fmt.Fprintf(stdout, "logged in: profile %s, token %s, expires %s; stored in %s (generation %d), where a running agent adopts it\n",
			st.Profile, st.Token, st.Expiry.Local().Format(time.RFC3339), st.Store, st.Generation)
	default:
		fmt.Fprintf(stdout, "logged out: profile %s, its pair revoked and removed from %s (generation %d)\n", st.Profile, st.Store, st.Generation)
	}
	return exitOK
}
