// Command procclient is one OS process of a token family, for the
// integration tests of session.Coordinator: it runs ONE session against a
// real token endpoint, coordinated through Redis, a lock file, a shared
// session.FileStore, or not at all, calls Token every -every for -duration, and reports on stdout as
// JSON lines (see Line). It never prints a token: errors and causes come
// from the session, which scrubs them, and the client secret is read from
// the environment ($AUTHFSM_CLIENT_SECRET), not from a flag that ps would
// show.
//
// It is built by the tests (go build) and is not meant for anything else.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/authfsm/authfsm/audit"
	rediscoord "github.com/authfsm/authfsm/coordinator/rediscoord"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/oauth"
)

// SecretEnv names the environment variable holding the client secret.
const SecretEnv = "AUTHFSM_CLIENT_SECRET"

// Line is one line of output. Kind says which fields are set:
//
//   - "ready": the session started (PID);
//   - "send": a token request is about to be sent (Grant);
//   - "answer": it came back (Grant, OK, Err);
//   - "fail": a Token call failed (Err);
//   - "audit": a transition (From, To, Event, Cause), as it happens;
//   - "final": the session's end (State, Cause, TokenValid, Calls,
//     Failed), written after the last call and before shutdown;
//   - "exit": the process is about to exit (Err for a failure to shut down
//     or to start).
type Line struct {
	Kind       string    `json:"kind"`
	ID         string    `json:"id,omitempty"`
	At         time.Time `json:"at"`
	PID        int       `json:"pid,omitempty"`
	Grant      string    `json:"grant,omitempty"`
	OK         bool      `json:"ok,omitempty"`
	Err        string    `json:"err,omitempty"`
	From       string    `json:"from,omitempty"`
	To         string    `json:"to,omitempty"`
	Event      string    `json:"event,omitempty"`
	Cause      string    `json:"cause,omitempty"`
	State      string    `json:"state,omitempty"`
	TokenValid bool      `json:"token_valid,omitempty"`
	Calls      int       `json:"calls,omitempty"`
	Failed     int       `json:"failed,omitempty"`
}

type out struct {
	mu  sync.Mutex
	enc *json.Encoder
	id  string
}

func (o *out) put(l Line) {
	l.ID = o.id
	if l.At.IsZero() {
		l.At = time.Now()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	_ = o.enc.Encode(l) // os.Stdout is unbuffered: each line leaves at once
}

func main() {
	var (
		tokenURL  = flag.String("token-url", "", "token endpoint")
		clientID  = flag.String("client-id", "", "client id")
		coord     = flag.String("coord", "redis", "coordination: redis, file, filestore or none")
		redisAddr = flag.String("redis-addr", "", "Redis address (host:port), for -coord redis")
		redisKey  = flag.String("redis-key", "", "the family's Redis key, for -coord redis")
		file      = flag.String("file", "", "the family's file, for -coord file, or the session.FileStore's, for -coord filestore")
		seed      = flag.String("seed", "", "a session.FileStore file holding the initial pair, for -coord none")
		duration  = flag.Duration("duration", 5*time.Second, "how long to call Token")
		every     = flag.Duration("every", 50*time.Millisecond, "pause between Token calls")
		callWait  = flag.Duration("call-timeout", time.Second, "deadline of one Token call")
		timeout   = flag.Duration("request-timeout", time.Second, "deadline of one refresh attempt")
		poll      = flag.Duration("poll", 100*time.Millisecond, "the coordinator's polling interval while waiting")
		grace     = flag.Duration("reuse-grace", 0, "the server's reuse grace (session.WithReuseGrace)")
		fallback  = flag.Bool("fallback", false, "re-authenticate with client_credentials when the refresh token is spent")
		id        = flag.String("id", "p", "the session's id in audit records and output")
	)
	flag.Parse()
	o := &out{enc: json.NewEncoder(os.Stdout), id: *id}
	if err := run(o, config{tokenURL: *tokenURL, clientID: *clientID, coord: *coord, redisAddr: *redisAddr,
		redisKey: *redisKey, file: *file, seed: *seed, duration: *duration, every: *every, callWait: *callWait,
		timeout: *timeout, poll: *poll, grace: *grace, fallback: *fallback, id: *id}); err != nil {
		o.put(Line{Kind: "exit", Err: err.Error()})
		os.Exit(1)
	}
	o.put(Line{Kind: "exit"})
}

type config struct {
	tokenURL, clientID, coord, redisAddr, redisKey, file, seed, id string
	duration, every, callWait, timeout, poll, grace                time.Duration
	fallback                                                       bool
}

func run(o *out, c config) error {
	secret := session.Secret(os.Getenv(SecretEnv))
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	client := func(g oauth.Grant) (session.Refresher, error) {
		e := oauth.Endpoint{TokenURL: c.tokenURL, ClientID: c.clientID, ClientSecret: secret, Grant: g, HTTPClient: hc}
		if g == oauth.GrantClientCredentials {
			e.Scopes = []string{"api"}
		}
		cl, err := oauth.NewClient(e)
		if err != nil {
			return nil, err
		}
		return reporting{o: o, grant: string(g), r: cl}, nil
	}
	primary, err := client(oauth.GrantRefreshToken)
	if err != nil {
		return err
	}
	mem := &audit.Memory{}
	sink := audit.SinkFunc(func(r audit.Record) error {
		o.put(Line{Kind: "audit", At: r.Time, From: r.From.String(), To: r.To.String(), Event: r.Event.String(), Cause: r.Cause})
		return mem.Write(r)
	})
	opts := []session.Option{
		session.WithID(c.id), session.WithAudit(sink), session.WithRequestTimeout(c.timeout),
		session.WithPolicy(policy.Exponential{Initial: 100 * time.Millisecond, Multiplier: 2, Max: time.Second}),
		session.WithReuseGrace(c.grace),
		// The shortest lease the request allows, not the default 30 s:
		// the runs last seconds, and the others must take over from a
		// killed holder within them.
		session.WithLease(c.timeout + session.LeaseMargin),
	}
	if c.fallback {
		fb, err := client(oauth.GrantClientCredentials)
		if err != nil {
			return err
		}
		opts = append(opts, session.WithFallback(fb))
	}
	ctx := context.Background()
	var initial session.Token
	switch c.coord {
	case "redis":
		rc := goredis.NewClient(&goredis.Options{Addr: c.redisAddr, DialTimeout: 300 * time.Millisecond,
			ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond})
		defer rc.Close()
		opts = append(opts, session.WithCoordinator(rediscoord.New(rc, c.redisKey, rediscoord.WithPollInterval(c.poll))))
	case "file":
		opts = append(opts, session.WithCoordinator(&session.FileCoordinator{Path: c.file, Poll: c.poll}))
	case "filestore":
		// What a CLI does: a plain FileStore, the pair loaded from it.
		opts = append(opts, session.WithStore(&session.FileStore{Path: c.file}))
	case "none":
		if initial, err = (&session.FileStore{Path: c.seed}).Load(ctx); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown -coord %q", c.coord)
	}
	s, err := session.New(ctx, primary, initial, opts...)
	if err != nil {
		return err
	}
	o.put(Line{Kind: "ready", PID: os.Getpid()})

	calls, failed := 0, 0
	end := time.Now().Add(c.duration)
	for time.Now().Before(end) {
		cctx, cancel := context.WithTimeout(ctx, c.callWait)
		_, err := s.Token(cctx)
		cancel()
		calls++
		if err != nil {
			failed++
			o.put(Line{Kind: "fail", Err: err.Error()})
			if errors.Is(err, session.ErrRevoked) {
				break // revoked for good: nobody here will log in again
			}
		}
		time.Sleep(c.every)
	}
	st := s.Status()
	o.put(Line{Kind: "final", State: st.State.String(), Cause: st.Cause, TokenValid: st.TokenValid, Calls: calls, Failed: failed})
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return s.Shutdown(sctx)
}

// reporting is a Refresher that says on stdout when it sends a request and
// how it came back, without the tokens.
type reporting struct {
	o     *out
	grant string
	r     session.Refresher
}

func (r reporting) Refresh(ctx context.Context, cur session.Token) (session.Token, error) {
	r.o.put(Line{Kind: "send", Grant: r.grant})
	t, err := r.r.Refresh(ctx, cur)
	l := Line{Kind: "answer", Grant: r.grant, OK: err == nil}
	if err != nil {
		l.Err = err.Error()
	}
	r.o.put(l)
	return t, err
}
