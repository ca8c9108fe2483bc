// Package nginx runs a real nginx, from the distribution's package, as a
// reverse proxy in front of a test backend. The harness writes a config to a
// private directory (loopback listener, daemon off, error log on stderr,
// every path nginx writes inside that directory), starts nginx as a
// foreground child process, waits until it accepts connections and stops it
// by its PID.
//
// nginx answers its own pages exactly as in production: 502 Bad Gateway when
// the backend is down, 504 Gateway Time-out when the backend answers after
// Config.ProxyReadTimeout, and — switched on by SetRateLimited — 429 Too
// Many Requests with a Retry-After header.
package nginx

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/authfsm/authfsm/integration/internal/syncbuf"
)

// RequireEnv names the environment variable that turns a missing nginx from
// a skip into a failure; CI sets it so that the suite cannot pass by
// skipping.
const RequireEnv = "AUTHFSM_REQUIRE_NGINX"

// BinaryEnv names the environment variable that overrides the nginx binary.
const BinaryEnv = "AUTHFSM_NGINX"

// ErrNotInstalled is returned by Binary when no nginx binary is found.
var ErrNotInstalled = errors.New("nginx: not installed (apt-get install -y nginx-light)")

// Binary returns the nginx binary to run: $AUTHFSM_NGINX, nginx on PATH,
// or /usr/sbin/nginx (not on an unprivileged user's PATH on Debian).
func Binary() (string, error) {
	if b := os.Getenv(BinaryEnv); b != "" {
		if _, err := os.Stat(b); err != nil {
			return "", fmt.Errorf("%w: $%s: %w", ErrNotInstalled, BinaryEnv, err)
		}
		return b, nil
	}
	if b, err := exec.LookPath("nginx"); err == nil {
		return b, nil
	}
	if st, err := os.Stat("/usr/sbin/nginx"); err == nil && !st.IsDir() {
		return "/usr/sbin/nginx", nil
	}
	return "", ErrNotInstalled
}

// Proxy is a running nginx.
type Proxy struct {
	dir    string
	addr   string
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has been reaped
	stderr *syncbuf.Buffer

	stopOnce sync.Once
	stopErr  error
}

// startTimeout bounds how long nginx may take to accept connections.
const startTimeout = 10 * time.Second

// Launch starts nginx for cfg with its files under dir (which must exist)
// and returns once it accepts connections on a free loopback port.
func Launch(dir string, cfg Config) (*Proxy, error) {
	if cfg.Backend == "" {
		return nil, errors.New("nginx: Config.Backend is empty")
	}
	cfg.defaults()
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	// The port is chosen by binding and releasing it; another process may
	// grab it in between, so a bind failure is retried on a new port.
	var lastErr error
	for range 3 {
		p, err := launchOnce(bin, dir, cfg)
		if err == nil {
			return p, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "Address already in use") {
			break
		}
	}
	return nil, lastErr
}

func launchOnce(bin, dir string, cfg Config) (*Proxy, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	conf, err := writeConfig(bin, dir, addr, cfg)
	if err != nil {
		return nil, err
	}
	p := &Proxy{dir: dir, addr: addr, exited: make(chan struct{}), stderr: &syncbuf.Buffer{}}
	p.cmd = exec.Command(bin, "-e", "stderr", "-p", dir, "-c", conf)
	p.cmd.Stdout, p.cmd.Stderr = p.stderr, p.stderr
	p.cmd.SysProcAttr = sysProcAttr()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("nginx: starting %s: %w", bin, err)
	}
	go func() {
		_ = p.cmd.Wait() // the exit status is reported through the log
		close(p.exited)
	}()
	if err := p.waitListening(); err != nil {
		_ = p.Stop()
		return nil, err
	}
	return p, nil
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("nginx: finding a free port: %w", err)
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// waitListening polls until nginx accepts a connection, nginx exits, or
// startTimeout passes.
func (p *Proxy) waitListening() error {
	deadline := time.Now().Add(startTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if c, err := net.DialTimeout("tcp", p.addr, 100*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("nginx: exited at startup: %s", strings.TrimSpace(p.stderr.String()))
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nginx: not listening on %s after %v: %s", p.addr, startTimeout, p.stderr.String())
		}
	}
}

// Addr returns the host:port nginx listens on.
func (p *Proxy) Addr() string { return p.addr }

// URL returns nginx's base URL (no trailing slash).
func (p *Proxy) URL() string { return "http://" + p.addr }

// PID returns the nginx master's process id.
func (p *Proxy) PID() int { return p.cmd.Process.Pid }

// Dir returns the directory holding nginx.conf, the pid file and the logs.
func (p *Proxy) Dir() string { return p.dir }

// Stderr returns what nginx has written to its error log so far.
func (p *Proxy) Stderr() string { return p.stderr.String() }

// SetRateLimited makes nginx answer every request with 429 Too Many
// Requests and a Retry-After header (on), or proxy again (off).
func (p *Proxy) SetRateLimited(on bool) error {
	path := filepath.Join(p.dir, rateLimitMarker)
	if on {
		return os.WriteFile(path, nil, 0o600)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// stopTimeout bounds a graceful stop before the harness kills nginx.
const stopTimeout = 5 * time.Second

// Stop terminates nginx by its PID (SIGTERM: fast shutdown, the master
// ends its workers) and waits for it; after stopTimeout it kills the whole
// process group. Stop is idempotent.
func (p *Proxy) Stop() error {
	p.stopOnce.Do(func() {
		select {
		case <-p.exited:
			return
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(stopTimeout)
		defer t.Stop()
		select {
		case <-p.exited:
		case <-t.C:
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.exited
			p.stopErr = fmt.Errorf("nginx: pid %d ignored SIGTERM for %v and was killed", p.cmd.Process.Pid, stopTimeout)
		}
	})
	return p.stopErr
}

// Exited reports whether the nginx process has ended.
func (p *Proxy) Exited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// LogEntry is one line of nginx's access log.
type LogEntry struct {
	// At is when nginx finished the request.
	At time.Time
	// Status is what nginx answered the client.
	Status int
	// Upstream is the backend's status as nginx saw it: "-" when nginx
	// answered by itself (429), "502" for a refused connection, "504" for
	// a read timeout, or the backend's own status.
	Upstream string
	// Method and Path identify the request.
	Method, Path string
}

// AccessLog returns the requests nginx has finished so far, oldest first.
func (p *Proxy) AccessLog() ([]LogEntry, error) {
	data, err := os.ReadFile(filepath.Join(p.dir, "access.log"))
	if err != nil {
		return nil, fmt.Errorf("nginx: %w", err)
	}
	var entries []LogEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		e, err := parseLogLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("nginx: access.log line %d: %w", n, err)
		}
		entries = append(entries, e)
	}
	return entries, sc.Err()
}

// parseLogLine reads the "harness" log_format:
// `$msec $status "$upstream_status" $request_method $uri`.
func parseLogLine(line string) (LogEntry, error) {
	f := strings.Fields(line)
	if len(f) != 5 {
		return LogEntry{}, fmt.Errorf("%d fields in %q, want 5", len(f), line)
	}
	sec, frac, _ := strings.Cut(f[0], ".")
	s, err1 := strconv.ParseInt(sec, 10, 64)
	ms, err2 := strconv.ParseInt(frac, 10, 64)
	status, err3 := strconv.Atoi(f[1])
	if err := errors.Join(err1, err2, err3); err != nil {
		return LogEntry{}, fmt.Errorf("in %q: %w", line, err)
	}
	return LogEntry{
		At:       time.Unix(s, ms*int64(time.Millisecond)),
		Status:   status,
		Upstream: strings.Trim(f[2], `"`),
		Method:   f[3],
		Path:     f[4],
	}, nil
}
