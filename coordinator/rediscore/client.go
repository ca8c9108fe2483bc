package rediscore

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authfsm/authfsm/session"
)

// Defaults of Options.
const (
	DefaultDialTimeout = 5 * time.Second
	DefaultTimeout     = 5 * time.Second
	DefaultMaxIdle     = 4
	// An idle connection older than this is closed rather than reused: a
	// firewall or the server's timeout may have dropped it meanwhile.
	maxIdleTime = time.Minute
)

// Options configure a Client.
type Options struct {
	// Addr is the server: host:port, or unix:PATH for a socket.
	Addr string
	// Username and Password, when Password is set, authenticate every
	// connection (AUTH; without Username, as Redis's default user).
	Username string
	Password session.Secret
	// DB is the database every connection selects (SELECT); 0 by default.
	DB int
	// TLS, when not nil, wraps every connection in TLS with this
	// configuration; its ServerName defaults to Addr's host.
	TLS *tls.Config
	// DialTimeout bounds a connection's dial, TLS handshake and AUTH
	// (DefaultDialTimeout, 5 s, when not positive).
	DialTimeout time.Duration
	// Timeout bounds one command whose context has no earlier deadline
	// (DefaultTimeout, 5 s, when not positive). A subscription waits for
	// messages without bound.
	Timeout time.Duration
	// MaxIdle is how many idle connections are kept for reuse
	// (DefaultMaxIdle, 4, when not positive).
	MaxIdle int
}

// Client is a small Redis client, enough for a Coordinator: commands on a
// few pooled connections, and subscriptions on connections of their own.
// It speaks RESP2 to one server (a primary; no cluster, no sentinel) and
// is safe for concurrent use. Programs that already use go-redis can give
// the Coordinator that client instead (coordinator/rediscoord).
type Client struct {
	opts             Options
	network, address string

	mu     sync.Mutex
	idle   []*rconn
	closed bool
}

var _ Conn = (*Client)(nil)

// ErrClosed is returned by the methods of a Client after Close.
var ErrClosed = errors.New("rediscore: client closed")

// NewClient returns a Client for opts. It connects to nothing before its
// first command.
func NewClient(opts Options) (*Client, error) {
	c := &Client{opts: opts}
	if path, ok := strings.CutPrefix(opts.Addr, "unix:"); ok {
		c.network, c.address = "unix", path
	} else {
		c.network, c.address = "tcp", opts.Addr
		if _, _, err := net.SplitHostPort(opts.Addr); err != nil {
			return nil, errors.New("rediscore: Addr: want host:port or unix:PATH")
		}
	}
	switch {
	case c.address == "":
		return nil, errors.New("rediscore: Addr: want host:port or unix:PATH")
	case opts.DB < 0:
		return nil, errors.New("rediscore: DB is negative")
	case opts.Username != "" && opts.Password == "":
		return nil, errors.New("rediscore: a Username without a Password")
	}
	if c.opts.DialTimeout <= 0 {
		c.opts.DialTimeout = DefaultDialTimeout
	}
	if c.opts.Timeout <= 0 {
		c.opts.Timeout = DefaultTimeout
	}
	if c.opts.MaxIdle <= 0 {
		c.opts.MaxIdle = DefaultMaxIdle
	}
	return c, nil
}

// rconn is one connection.
type rconn struct {
	nc   net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	used time.Time // when it was last put back
}

// Do sends one command and returns its reply (see Conn.Eval for the
// types). An error reply is an *Error, in which every argument after the
// command's name that it repeats is redacted.
func (c *Client) Do(ctx context.Context, args ...string) (any, error) {
	if len(args) == 0 {
		return nil, errors.New("rediscore: Do without a command")
	}
	return c.do(ctx, args, args[1:])
}

// Eval implements Conn: EVALSHA, then EVAL when the server answers
// NOSCRIPT. An error reply is an *Error, in which every one of args that
// it repeats is redacted.
func (c *Client) Eval(ctx context.Context, script *Script, keys []string, args ...string) (any, error) {
	cmd := make([]string, 0, 3+len(keys)+len(args))
	cmd = append(cmd, "EVALSHA", script.SHA1, strconv.Itoa(len(keys)))
	cmd = append(append(cmd, keys...), args...)
	v, err := c.do(ctx, cmd, args)
	if e := (*Error)(nil); errors.As(err, &e) && e.code() == "NOSCRIPT" {
		cmd[0], cmd[1] = "EVAL", script.Src
		v, err = c.do(ctx, cmd, args)
	}
	return v, err
}

// do sends args on a pooled connection and reads the reply.
func (c *Client) do(ctx context.Context, args, secrets []string) (any, error) {
	cn, err := c.get(ctx)
	if err != nil {
		return nil, err
	}
	v, err := c.roundTrip(ctx, cn, args, secrets)
	if e := (*Error)(nil); err != nil && !errors.As(err, &e) {
		cn.nc.Close() // out of step with the server
		return nil, err
	}
	c.put(cn)
	return v, err
}

// roundTrip writes args and reads the reply, within ctx and the
// command's timeout.
func (c *Client) roundTrip(ctx context.Context, cn *rconn, args, secrets []string) (any, error) {
	deadline := time.Now().Add(c.opts.Timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	cn.nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { cn.nc.SetDeadline(time.Unix(1, 0)) })
	err := writeCommand(cn.w, args)
	var v any
	if err == nil {
		v, err = readReply(cn.r)
	}
	if !stop() && err == nil {
		// ctx ended as the reply came: the deadline it set may already
		// have been met.
		err = context.Cause(ctx)
	}
	if e := (*Error)(nil); errors.As(err, &e) {
		e.Msg = redact(e.Msg, secrets)
	}
	return v, err
}

// get returns an idle connection, or a new one.
func (c *Client) get(ctx context.Context) (*rconn, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	for len(c.idle) > 0 {
		cn := c.idle[len(c.idle)-1]
		c.idle = c.idle[:len(c.idle)-1]
		if time.Since(cn.used) < maxIdleTime {
			c.mu.Unlock()
			return cn, nil
		}
		cn.nc.Close()
	}
	c.mu.Unlock()
	return c.dial(ctx)
}

// put keeps cn for reuse, or closes it.
func (c *Client) put(cn *rconn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || len(c.idle) >= c.opts.MaxIdle {
		cn.nc.Close()
		return
	}
	cn.used = time.Now()
	c.idle = append(c.idle, cn)
}

// dial opens an authenticated connection with its database selected.
func (c *Client) dial(ctx context.Context) (*rconn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.DialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, c.network, c.address)
	if err != nil {
		return nil, err
	}
	if c.opts.TLS != nil {
		cfg := c.opts.TLS.Clone()
		if cfg.ServerName == "" && c.network == "tcp" {
			cfg.ServerName, _, _ = net.SplitHostPort(c.address)
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("rediscore: TLS handshake: %w", err)
		}
		nc = tc
	}
	cn := &rconn{nc: nc, r: bufio.NewReaderSize(nc, maxLine), w: bufio.NewWriter(nc)}
	if c.opts.Password != "" {
		args := []string{"AUTH", c.opts.Password.Reveal()}
		if c.opts.Username != "" {
			args = []string{"AUTH", c.opts.Username, c.opts.Password.Reveal()}
		}
		if _, err := c.roundTrip(ctx, cn, args, args[1:]); err != nil {
			nc.Close()
			return nil, fmt.Errorf("rediscore: AUTH: %w", err)
		}
	}
	if c.opts.DB != 0 {
		if _, err := c.roundTrip(ctx, cn, []string{"SELECT", strconv.Itoa(c.opts.DB)}, nil); err != nil {
			nc.Close()
			return nil, fmt.Errorf("rediscore: SELECT %d: %w", c.opts.DB, err)
		}
	}
	return cn, nil
}

// Close closes the idle connections; the commands under way end with
// theirs, and later ones fail with ErrClosed. Subscriptions are closed by
// their own Close.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, cn := range c.idle {
		cn.nc.Close()
	}
	c.idle = nil
	return nil
}

// Subscribe implements Conn on a new connection, which Close of the
// Subscription closes.
func (c *Client) Subscribe(ctx context.Context, channel string) (Subscription, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	cn, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	v, err := c.roundTrip(ctx, cn, []string{"SUBSCRIBE", channel}, nil)
	if a, ok := v.([]any); err == nil && (!ok || len(a) != 3 || a[0] != "subscribe" || a[1] != channel) {
		err = errProtocol
	}
	if err != nil {
		cn.nc.Close()
		return nil, err
	}
	cn.nc.SetDeadline(time.Time{})
	s := &subscription{nc: cn.nc, msgs: make(chan struct{}, 1)}
	go s.read(cn.r)
	return s, nil
}

type subscription struct {
	nc   net.Conn
	msgs chan struct{}
	once sync.Once
	last atomic.Pointer[string]
}

var _ PayloadSubscription = (*subscription)(nil)

func (s *subscription) Messages() <-chan struct{} { return s.msgs }

// LastPayload implements PayloadSubscription.
func (s *subscription) LastPayload() (string, bool) {
	if p := s.last.Load(); p != nil {
		return *p, true
	}
	return "", false
}

func (s *subscription) Close() error {
	s.once.Do(func() { s.nc.Close() })
	return nil
}

// read signals every message until the connection fails or is closed.
func (s *subscription) read(r *bufio.Reader) {
	defer close(s.msgs)
	for {
		v, err := readReply(r)
		if err != nil {
			return
		}
		if a, ok := v.([]any); ok && len(a) == 3 && a[0] == "message" {
			if p, ok := a[2].(string); ok {
				s.last.Store(&p)
			}
			select {
			case s.msgs <- struct{}{}:
			default:
			}
		}
	}
}
