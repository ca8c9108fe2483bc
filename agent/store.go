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
	var holds func(context.Context) (bool, error)
	switch {
	case st.Redis != nil:
		c := rediscore.New(rc, st.Redis.Key)
		opt, holds = session.WithCoordinator(c), familyHolds(c)
	case st.Coordinator == "file":
		c := &session.FileCoordinator{Path: st.Path}
		opt, holds = session.WithCoordinator(c), familyHolds(c)
	default:
		fs := &session.FileStore{Path: st.Path}
		opt = session.WithStore(fs)
		holds = func(ctx context.Context) (bool, error) {
			_, err := fs.Load(ctx)
			if errors.Is(err, session.ErrNoToken) {
				return false, nil
			}
			return err == nil, err
		}
	}
	opts := []session.Option{opt}
	if pr.Grant != session.GrantRefreshToken {
		return opts, session.Token{}, nil
	}
	ok, err := holds(ctx)
	if err != nil {
		return nil, session.Token{}, fmt.Errorf("reading the store (%s): %w", st, err)
	}
	if ok {
		return opts, session.Token{}, nil
	}
	tok, err := a.seed(pr, st.String())
	return opts, tok, err
}

// familyHolds reports whether c's family holds a pair.
func familyHolds(c session.Coordinator) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		fam, err := c.Read(ctx)
		if err != nil {
			return false, err
		}
		return fam.Pair.Access != "" || fam.Pair.Refresh != "", nil
	}
}
