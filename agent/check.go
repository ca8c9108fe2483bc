package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/oauth"
	"github.com/authfsm/authfsm/session/throttle"
)

// Check reports everything New would refuse in cfg, without starting a
// session, listening or writing the audit log (`authfsm agent --check`):
//
//   - each listening address: a port another process holds, a unix
//     socket that another process listens on or whose place a file or a
//     missing directory takes;
//   - the audit log: its key file, and an existing log that does not
//     verify (with that key) or cannot be opened for writing, or a log
//     whose directory is missing;
//   - for each profile: its secrets (client_secret_file or _env), its key,
//     assertion and subject-token files, its token endpoint's client (and
//     the fallback's), its policy and throttle; a Redis store's password
//     and CA file; and, for a refresh_token profile, its store — which it
//     reads, as New does (a file, a file coordinator's family, taking its
//     lock, or the Redis family, over the network) — holding a pair, or
//     else the seed (refresh_token_file or refresh_token_env) that starts
//     it, or the login block that `authfsm login` logs it in with.
//
// Every problem is reported, in the file's order, joined into one error
// (Errors lists them); nil when the agent would start. Warnings, such as
// a secret file other users may read, go to opts.Logger.
func Check(ctx context.Context, cfg *Config, opts Options) error {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	var errs []error
	add := func(profile string, err error) {
		if err == nil {
			return
		}
		if profile != "" {
			err = profileError(profile, err)
		}
		errs = append(errs, err)
	}
	if cfg.Listen != nil {
		add("", checkListen("the API", *cfg.Listen))
	}
	if cfg.Audit != nil {
		add("", checkAudit(cfg.File, cfg.Audit))
	}
	for _, pr := range cfg.Profiles {
		e, err := pr.endpoint(cfg.File, &opts)
		add(pr.Name, err)
		if err == nil {
			add(pr.Name, checkClients(pr, e))
		}
		if _, err := session.Declared(pr.Session); err != nil {
			add(pr.Name, err)
		}
		if th := pr.Session.Throttle; th.Kind != "" && th.Kind != policy.ThrottleNone {
			if _, err := throttle.New(th, 1); err != nil {
				add(pr.Name, err)
			}
		}
		rc, err := pr.redisClient(cfg.File, &opts)
		add(pr.Name, err)
		if pr.Store != nil && pr.Grant == oauth.GrantRefreshToken && (pr.Store.Redis == nil || rc != nil) {
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			holds, err := pr.storeHolds(sctx, rc)
			cancel()
			switch {
			case err != nil:
				add(pr.Name, err)
			case !holds:
				_, err := pr.seedOf(cfg.File, &opts)
				add(pr.Name, err)
			}
		}
		if rc != nil {
			rc.Close()
		}
		if pr.Proxy != nil {
			add("", checkListen("profile "+pr.Name+"'s proxy", pr.Proxy.Listen))
		}
	}
	return errors.Join(errs...)
}

// checkClients builds the profile's token endpoint client, and its
// fallback's, as New does.
func checkClients(pr *Profile, e oauth.Endpoint) error {
	if _, err := oauth.NewClient(e); err != nil {
		return err
	}
	if pr.Session.Fallback {
		fe := e
		fe.Grant, fe.SubjectToken, fe.ActorToken, fe.RequestedTokenType = oauth.GrantClientCredentials, nil, nil, ""
		if _, err := oauth.NewClient(fe); err != nil {
			return fmt.Errorf("the fallback grant: %w", err)
		}
	}
	return nil
}

// checkListen reports what keeps the agent from listening on l for what.
// A TCP address is bound and released; a unix socket is not created.
func checkListen(what string, l Listen) error {
	fail := func(err error) error { return fmt.Errorf("agent: listening for %s on %s: %w", what, l, err) }
	if l.Network != "unix" {
		ln, err := net.Listen("tcp", l.Address)
		if err != nil {
			return fail(err)
		}
		ln.Close()
		return nil
	}
	if _, err := staleSocket(l.Address); err != nil {
		return fail(err)
	}
	if dir := filepath.Dir(l.Address); !isDir(dir) {
		return fail(fmt.Errorf("its directory %s does not exist", dir))
	}
	return nil
}

// checkAudit reports what keeps the agent from extending the audit log:
// its key file, and a log that exists but does not verify or cannot be
// written, or that has no directory to be created in.
func checkAudit(cfgFile string, au *Audit) error {
	var opts []audit.Option
	if au.KeyFile != "" {
		key, err := readAuditKey(cfgFile, au.KeyFile)
		if err != nil {
			return err
		}
		opts = append(opts, audit.WithKey(key))
	}
	f, err := os.OpenFile(au.Path, os.O_RDWR|os.O_APPEND, 0)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if dir := filepath.Dir(au.Path); !isDir(dir) {
			return fmt.Errorf("agent: audit log %s: its directory %s does not exist", au.Path, dir)
		}
		return nil
	case err != nil:
		return fmt.Errorf("agent: audit log: %w", err)
	}
	defer f.Close()
	if _, err := audit.Verify(f, opts...); err != nil {
		if ce := (*audit.ChainError)(nil); errors.As(err, &ce) && ce.Torn {
			return fmt.Errorf("agent: audit log %s: %w; `authfsm audit repair %s` removes a torn last line", au.Path, err, au.Path)
		}
		return fmt.Errorf("agent: audit log %s: %w", au.Path, err)
	}
	return nil
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
