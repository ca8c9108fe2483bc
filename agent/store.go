package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/authfsm/authfsm/coordinator/rediscore"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/oauth"
)

// redisClient returns the client of a profile's Redis store, reading its
// password and CA file; nil for a profile without one. It connects to
// nothing yet.
func (pr *Profile) redisClient(cfgFile string, opts *Options) (*rediscore.Client, error) {
	if pr.Store == nil || pr.Store.Redis == nil {
		return nil, nil
	}
	rs := pr.Store.Redis
	pw, err := pr.readSecret(cfgFile, "store.redis.password_file", "store.redis.password_env", rs.PasswordFile, rs.PasswordEnv, opts)
	if err != nil {
		return nil, err
	}
	o := rediscore.Options{Addr: rs.Addr, Username: rs.Username, Password: pw, DB: rs.DB}
	if rs.TLS {
		o.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		if rs.CAFile != "" {
			pem, err := os.ReadFile(rs.CAFile)
			if err != nil {
				return nil, sourceError(cfgFile, pr.key("store.redis.ca_file"), fileProblem(rs.CAFile, "CA certificate", err))
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, sourceError(cfgFile, pr.key("store.redis.ca_file"), "the file it names holds no PEM certificate")
			}
			o.TLS.RootCAs = pool
		}
	}
	c, err := rediscore.NewClient(o)
	if err != nil {
		return nil, &ConfigError{File: cfgFile, Key: pr.key("store.redis"), Msg: err.Error()}
	}
	return c, nil
}

// storeOptions returns the session options of a profile's store (rc is
// its Redis client, if any) and the token that starts the session: for a
// refresh_token profile whose store holds no pair, the seed
// (refresh_token_file or refresh_token_env).
func (a *Agent) storeOptions(ctx context.Context, pr *Profile, rc *rediscore.Client) ([]session.Option, session.Token, error) {
	st := pr.Store
	if st == nil {
		return nil, session.Token{}, nil
	}
	var opt session.Option
	switch {
	case st.Redis != nil:
		opt = session.WithCoordinator(rediscore.New(rc, st.Redis.Key))
	case st.Coordinator == "file":
		opt = session.WithCoordinator(&session.FileCoordinator{Path: st.Path})
	default:
		opt = session.WithStore(&session.FileStore{Path: st.Path})
	}
	opts := []session.Option{opt}
	if pr.Grant != oauth.GrantRefreshToken {
		return opts, session.Token{}, nil
	}
	ok, err := pr.storeHolds(ctx, rc)
	if err != nil {
		return nil, session.Token{}, err
	}
	if ok {
		return opts, session.Token{}, nil
	}
	tok, err := a.seed(pr)
	return opts, tok, err
}

// storeHolds reports whether a profile's store holds a token pair (rc is
// its Redis client, if any). Reading a file coordinator's family takes its
// lock, as the session does.
func (pr *Profile) storeHolds(ctx context.Context, rc *rediscore.Client) (bool, error) {
	st := pr.Store
	var fam func(context.Context) (session.Family, error)
	switch {
	case st.Redis != nil:
		fam = rediscore.New(rc, st.Redis.Key).Read
	case st.Coordinator == "file":
		fam = (&session.FileCoordinator{Path: st.Path}).Read
	default:
		_, err := (&session.FileStore{Path: st.Path}).Load(ctx)
		switch {
		case errors.Is(err, session.ErrNoToken):
			return false, nil
		case err != nil:
			return false, fmt.Errorf("reading the store (%s): %w", st, err)
		}
		return true, nil
	}
	f, err := fam(ctx)
	if err != nil {
		return false, fmt.Errorf("reading the store (%s): %w", st, err)
	}
	return f.Pair.Access != "" || f.Pair.Refresh != "", nil
}

// seedOf returns the refresh token that starts a refresh_token profile
// whose store holds no pair, or an error when the profile names none; ""
// for a profile that logs in (its login block) without a seed.
func (pr *Profile) seedOf(cfgFile string, opts *Options) (session.Secret, error) {
	rt, err := pr.seed(cfgFile, opts)
	if err != nil {
		return "", err
	}
	if rt == "" && pr.Login == nil {
		return "", fmt.Errorf("the store %s holds no token pair, and neither refresh_token_file nor refresh_token_env seeds it, nor a login block logs it in (authfsm login)", pr.Store)
	}
	return rt, nil
}
