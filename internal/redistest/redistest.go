// Package redistest starts a redis-server of a test's own, as the
// integration module's tests do, for the root module's tests of the Redis
// coordinator (coordinator/rediscore) and the agent's Redis store.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RequireEnv names the variable that, set to 1, makes a missing
// redis-server fail a test instead of skipping it (.ci/run sets it).
const RequireEnv = "AUTHFSM_REQUIRE_REDIS"

// Binary finds redis-server: $AUTHFSM_REDIS_SERVER, the PATH, or Debian's
// place.
func Binary() (string, error) {
	if b := os.Getenv("AUTHFSM_REDIS_SERVER"); b != "" {
		return b, nil
	}
	if b, err := exec.LookPath("redis-server"); err == nil {
		return b, nil
	}
	for _, b := range []string{"/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server"} {
		if st, err := os.Stat(b); err == nil && !st.IsDir() {
			return b, nil
		}
	}
	return "", errors.New("redis-server is not installed (apt-get install -y redis-server)")
}

// Server is a redis-server on a loopback port, without persistence.
type Server struct {
	// Addr is its host:port.
	Addr string

	cmd  *exec.Cmd
	done chan struct{}
	log  buffer
}

// Start starts a redis-server on a free port of 127.0.0.1 with the extra
// arguments args (such as "--requirepass", PASSWORD) and stops it when the
// test ends. Without redis-server the test is skipped, or fails when
// $AUTHFSM_REQUIRE_REDIS is 1.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%v, and %s=1", err, RequireEnv)
		}
		t.Skipf("skipping: %v", err)
	}
	dir := t.TempDir()
	for range 10 { // another process may take the free port first
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), done: make(chan struct{})}
		s.cmd = exec.Command(bin, append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no"}, args...)...)
		s.cmd.Stdout, s.cmd.Stderr = &s.log, &s.log
		if err := s.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { s.cmd.Wait(); close(s.done) }()
		if err := s.ready(); err != nil {
			s.Stop()
			t.Logf("redis-server on port %d: %v\n%s", port, err, s.log.String())
			continue
		}
		t.Cleanup(s.Stop)
		return s
	}
	t.Fatal("could not start redis-server")
	return nil
}

// ready waits until the server answers PING (NOAUTH counts: it answers).
func (s *Server) ready() error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("redis-server exited: %v", s.cmd.ProcessState)
		default:
		}
		if answers(s.Addr) {
			return nil
		}
		time.Sleep(10 * time.Millisecond) // polling the server's readiness
	}
	return errors.New("redis-server did not answer PING within 10s")
}

func answers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && (strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH"))
}

// Stop stops the server (SIGTERM, then SIGKILL after 5 s) and waits until
// it exited.
func (s *Server) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// buffer is an output buffer safe for the process's writers.
type buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
