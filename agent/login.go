package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/coordinator/rediscore"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/login"
	"github.com/authfsm/authfsm/session/oauth"
)

// LoginOptions are what Login takes besides the configuration.
type LoginOptions struct {
	// Options are the agent's: Logger, Getenv (for client_secret_env),
	// HTTPClient.
	Options
	// Output is the user's terminal: the device flow's code, or the URL
	// to open when the browser cannot be opened, is written there; nil
	// means os.Stderr.
	Output io.Writer
	// Prompt shows the device flow's code instead of writing it to
	// Output (login.DeviceOptions.Prompt).
	Prompt func(oauth.DeviceCode) error
	// OpenBrowser opens the browser flow's URL; nil means login.OpenURL
	// (login.BrowserOptions.OpenBrowser).
	OpenBrowser func(url string) error
}

// Stored describes the pair Login stored, or Logout removed.
type Stored struct {
	// Profile is the profile's name; Store where its pair is kept.
	Profile, Store string
	// Token is the access token's fingerprint (audit.Fingerprint); empty
	// after a logout.
	Token string
	// Expiry is when the access token expires.
	Expiry time.Time
	// Generation is the family's generation of the stored pair (0 when
	// the store keeps none).
	Generation uint64
}

// Login logs the profile name of cfg in, as `authfsm login --profile NAME`
// does: it runs the profile's login block's flow — the device flow, its
// code written to opts.Output (the terminal), or the browser flow, the
// browser opened — and stores the pair where the profile's store keeps it
// (its file, a file coordinator's family, a Redis family) as the family's
// next generation. A running agent, and every process of the family,
// adopts it without a restart: a profile that needs a login watches its
// store. A profile without a login block, or without a store, is refused
// with a *ConfigError. A failed login is a *login.Error.
func Login(ctx context.Context, cfg *Config, name string, opts LoginOptions) (Stored, error) {
	pr, client, rc, err := loginProfile(cfg, name, &opts.Options, true)
	if err != nil {
		return Stored{}, err
	}
	if rc != nil {
		defer rc.Close()
	}
	out := opts.Output
	if out == nil {
		out = os.Stderr
	}
	var tok session.Token
	switch l := pr.Login; l.Flow {
	case LoginDevice:
		prompt := opts.Prompt
		if prompt == nil {
			prompt = func(d oauth.DeviceCode) error { return writeDeviceCode(out, pr.Name, d) }
		}
		tok, err = login.Device(ctx, client, login.DeviceOptions{Scopes: l.Scopes, Params: l.Params, Prompt: prompt})
	default:
		tok, err = login.Browser(ctx, client, login.BrowserOptions{Scopes: l.Scopes, Params: l.Params,
			OpenBrowser: opts.OpenBrowser, Output: out, Timeout: l.Timeout, ListenAddr: l.Listen})
	}
	if err != nil {
		return Stored{}, err
	}
	st := Stored{Profile: pr.Name, Store: pr.Store.String(), Token: audit.Fingerprint(string(tok.Access)), Expiry: tok.Expiry}
	if st.Generation, err = pr.storePair(ctx, rc, tok); err != nil {
		return st, fmt.Errorf("agent: profile %s: logged in, but storing the pair in %s failed: %w", pr.Name, pr.Store, err)
	}
	return st, nil
}

// writeDeviceCode is the device flow's prompt on the terminal.
func writeDeviceCode(w io.Writer, profile string, d oauth.DeviceCode) error {
	where, how := d.VerificationURI, "enter the code"
	if d.VerificationURIComplete != "" {
		where, how = d.VerificationURIComplete, "check that it shows the code"
	}
	_, err := fmt.Fprintf(w, "To log profile %s in, open\n\n    %s\n\nand %s %s.\n", profile, where, how, d.UserCode)
	if err == nil && !d.Expiry.IsZero() {
		_, err = fmt.Fprintf(w, "The code expires at %s.\n", d.Expiry.Local().Format(time.Kitchen))
	}
	return err
}

// Logout logs the profile name of cfg out, as `authfsm logout --profile
// NAME` does: it revokes the pair the profile's store holds at the
// authorization server (RFC 7009: the refresh token, then the access
// token; the profile's revocation_url, or the issuer's
// revocation_endpoint), and removes it from the store, so that a running
// agent, and every process of the family, stops serving it (they watch
// their store), and a restarted one does not resume it. It returns what
// it removed and, when a token could not be revoked or the pair not
// removed, a *session.LogoutError saying which (by fingerprint). A store
// that holds no pair is no error: there is nothing to revoke.
func Logout(ctx context.Context, cfg *Config, name string, opts Options) (Stored, error) {
	pr, client, rc, err := loginProfile(cfg, name, &opts, false)
	if err != nil {
		return Stored{}, err
	}
	if rc != nil {
		defer rc.Close()
	}
	st := Stored{Profile: pr.Name, Store: pr.Store.String()}
	pair, err := pr.storedPair(ctx, rc)
	if err != nil {
		return st, fmt.Errorf("agent: profile %s: reading the store (%s): %w", pr.Name, pr.Store, err)
	}
	st.Expiry = pair.Expiry
	le := &session.LogoutError{}
	if pair.Access != "" || pair.Refresh != "" {
		if err := session.RevokePair(ctx, client, pair); err != nil {
			errors.As(err, &le)
		}
	}
	st.Generation, le.Store = pr.storePair(ctx, rc, session.Token{})
	if len(le.NotRevoked) > 0 || le.Store != nil {
		return st, le
	}
	return st, nil
}

// loginProfile returns profile name of cfg, its token endpoint's client
// and its Redis client (nil for another store), for Login (login: the
// profile must have a login block) and Logout.
func loginProfile(cfg *Config, name string, opts *Options, login bool) (*Profile, *oauth.Client, *rediscore.Client, error) {
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	pr, err := cfg.Profile(name)
	if err != nil {
		return nil, nil, nil, &ConfigError{File: cfg.File, Key: "profiles", Msg: strings.TrimPrefix(err.Error(), "agent: "+cfg.File+" ")}
	}
	switch {
	case login && pr.Login == nil:
		return nil, nil, nil, &ConfigError{File: cfg.File, Key: pr.key("login"),
			Msg: "the profile has no login block: give login: {flow: device} (or browser) to log it in"}
	case pr.Store == nil:
		return nil, nil, nil, &ConfigError{File: cfg.File, Key: pr.key("store"), Msg: "the profile has no store to keep a pair in"}
	}
	e, err := pr.endpoint(cfg.File, opts)
	if err != nil {
		return nil, nil, nil, profileError(pr.Name, err)
	}
	client, err := oauth.NewClient(pr.loginEndpoint(e))
	if err != nil {
		return nil, nil, nil, profileError(pr.Name, err)
	}
	rc, err := pr.redisClient(cfg.File, opts)
	if err != nil {
		return nil, nil, nil, profileError(pr.Name, err)
	}
	return pr, client, rc, nil
}

// storedPair reads the pair the profile's store holds (zero for none).
func (pr *Profile) storedPair(ctx context.Context, rc *rediscore.Client) (session.Token, error) {
	st := pr.Store
	if st.Redis == nil && st.Coordinator == "" {
		tok, err := (&session.FileStore{Path: st.Path}).Load(ctx)
		if errors.Is(err, session.ErrNoToken) {
			return session.Token{}, nil
		}
		return tok, err
	}
	fam, err := pr.coordinator(rc).Read(ctx)
	return fam.Pair, err
}

// storePair makes pair the profile's family's next generation (the zero
// Token removes its pair) and returns that generation.
func (pr *Profile) storePair(ctx context.Context, rc *rediscore.Client, pair session.Token) (uint64, error) {
	st := pr.Store
	if st.Redis == nil && st.Coordinator == "" {
		// A FileStore's Save is the family's next generation, under its
		// lock where files can be locked.
		if err := (&session.FileStore{Path: st.Path}).Save(ctx, pair); err != nil {
			return 0, err
		}
		fam, err := (&session.FileCoordinator{Path: st.Path}).Read(ctx)
		return fam.Generation, err
	}
	return session.PublishPair(ctx, pr.coordinator(rc), pair)
}

// coordinator returns the coordinator of the profile's shared store.
func (pr *Profile) coordinator(rc *rediscore.Client) session.Coordinator {
	if st := pr.Store; st.Redis != nil {
		return rediscore.New(rc, st.Redis.Key)
	}
	return &session.FileCoordinator{Path: pr.Store.Path}
}
