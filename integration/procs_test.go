package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authfsm/authfsm/integration/internal/syncbuf"
	"github.com/authfsm/authfsm/states"
)

// This file runs OS processes for the shared-family tests: the procclient
// binary (internal/cmd/procclient), built once per run of the test binary,
// and a redis-server of each test's own.

// procBin is the procclient binary, built on first use and removed by
// TestMain.
var procBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, dir := range []string{procBin.dir, authfsmBin.dir} {
		if dir != "" {
			os.RemoveAll(dir)
		}
	}
	os.Exit(code)
}

// procClient returns the path of the procclient binary, building it (with
// -race when the tests run with it) the first time.
func procClient(t *testing.T) string {
	t.Helper()
	procBin.once.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			procBin.err = fmt.Errorf("no go command to build procclient with: %w", err)
			return
		}
		if procBin.dir, err = os.MkdirTemp("", "authfsm-procclient-"); err != nil {
			procBin.err = err
			return
		}
		path := filepath.Join(procBin.dir, "procclient")
		args := []string{"build", "-o", path}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command(goBin, append(args, "./internal/cmd/procclient")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			procBin.err = fmt.Errorf("go build procclient: %v\n%s", err, out)
			return
		}
		procBin.path = path
	})
	if procBin.err != nil {
		t.Fatal(procBin.err)
	}
	return procBin.path
}

// procLine is one line of procclient's output (procclient's Line).
type procLine struct {
	Kind       string    `json:"kind"`
	ID         string    `json:"id"`
	At         time.Time `json:"at"`
	PID        int       `json:"pid"`
	Grant      string    `json:"grant"`
	OK         bool      `json:"ok"`
	Err        string    `json:"err"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	Event      string    `json:"event"`
	Cause      string    `json:"cause"`
	State      string    `json:"state"`
	TokenValid bool      `json:"token_valid"`
	Calls      int       `json:"calls"`
	Failed     int       `json:"failed"`
}

// endedWell reports whether a process's last line shows a session that
// kept its promise: never revoked, no failed call, and a valid token — or
// a refresh under way at the instant the run ended (refreshing, or waiting
// for the holder's pair), which on a loaded machine may outlast a 1.5 s
// token while the calls waiting for it still succeed.
func (l procLine) endedWell() bool { return l.Failed == 0 && l.serving() }

// serving reports whether a process ended unrevoked with a valid token, or
// with a refresh under way at the instant its run ended.
func (l procLine) serving() bool {
	underway := l.State == states.Refreshing.String() || l.State == states.Waiting.String()
	return l.State != states.Revoked.String() && (l.TokenValid || underway)
}

// proc is one running procclient.
type proc struct {
	id     string
	cmd    *exec.Cmd
	stdout syncbuf.Buffer // everything, for the secret check and failure logs
	stderr syncbuf.Buffer
	done   chan struct{} // closed once it exited and its output is read
	err    error         // its exit, after done

	mu     sync.Mutex
	lines  []procLine
	broken []string // stdout lines that are not JSON
}

// startProc starts procclient with args and env added to the test's own.
func startProc(t *testing.T, id string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{id: id, done: make(chan struct{})}
	p.cmd = exec.Command(procClient(t), args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = &p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(io.TeeReader(out, &p.stdout))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var l procLine
			err := json.Unmarshal(sc.Bytes(), &l)
			p.mu.Lock()
			if err != nil {
				p.broken = append(p.broken, sc.Text())
			} else {
				p.lines = append(p.lines, l)
			}
			p.mu.Unlock()
		}
		io.Copy(io.Discard, out)
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// output returns the lines so far.
func (p *proc) output() []procLine {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]procLine(nil), p.lines...)
}

// kill sends SIGKILL: the process dies without a word, as in a crash.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

// exited waits until p exits, at most until deadline.
func (p *proc) exited(t *testing.T, deadline time.Time) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(time.Until(deadline)):
		t.Fatalf("%s still running at the deadline\n%s", p.id, p.stdout.String())
	}
}

// final returns p's final line; ok false when it wrote none.
func (p *proc) final() (procLine, bool) {
	for _, l := range p.output() {
		if l.Kind == "final" {
			return l, true
		}
	}
	return procLine{}, false
}

// count counts p's lines for which match holds.
func (p *proc) count(match func(procLine) bool) int {
	n := 0
	for _, l := range p.output() {
		if match(l) {
			n++
		}
	}
	return n
}

// checkExit fails t unless p exited normally, after a final line, with
// parseable output.
func (p *proc) checkExit(t *testing.T) {
	t.Helper()
	<-p.done
	p.mu.Lock()
	broken := p.broken
	p.mu.Unlock()
	if p.err != nil || len(broken) > 0 {
		t.Errorf("%s: exit %v; lines that are not JSON: %q\nstderr:\n%s", p.id, p.err, broken, p.stderr.String())
	}
	if _, ok := p.final(); !ok {
		t.Errorf("%s wrote no final line", p.id)
	}
}

// redisServer is a redis-server of the test's own on a loopback port,
// without persistence: a restart starts empty, as a replacement primary
// that lost the family would.
type redisServer struct {
	bin, dir string
	port     int
	cmd      *exec.Cmd
	done     chan struct{}
	log      syncbuf.Buffer
}

// requireRedisEnv makes a missing redis-server fail the test instead of
// skipping it (.ci/run sets it).
const requireRedisEnv = "AUTHFSM_REQUIRE_REDIS"

// redisBinary finds redis-server: $AUTHFSM_REDIS_SERVER, the PATH, or
// Debian's place.
func redisBinary() (string, error) {
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

// startRedis starts a redis-server on a free port of 127.0.0.1 and stops it
// when the test ends. Without redis-server the test is skipped, or fails
// when $AUTHFSM_REQUIRE_REDIS is 1.
func startRedis(t *testing.T) *redisServer {
	t.Helper()
	bin, err := redisBinary()
	if err != nil {
		if os.Getenv(requireRedisEnv) == "1" {
			t.Fatalf("%v, and %s=1", err, requireRedisEnv)
		}
		t.Skipf("skipping: %v", err)
	}
	r := &redisServer{bin: bin, dir: t.TempDir()}
	t.Cleanup(r.stop)
	for range 10 { // another process may take the free port first
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		r.port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if err = r.launch(); err == nil {
			return r
		}
		t.Logf("redis-server on port %d: %v", r.port, err)
	}
	t.Fatalf("could not start redis-server\n%s", r.log.String())
	return nil
}

func (r *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// launch starts redis-server on r.port and waits until it answers PING.
func (r *redisServer) launch() error {
	r.cmd = exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--daemonize", "no")
	r.cmd.Stdout, r.cmd.Stderr = &r.log, &r.log
	if err := r.cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	r.done = done
	go func() { r.cmd.Wait(); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("redis-server exited: %v", r.cmd.ProcessState)
		default:
		}
		if ping(r.addr()) {
			return nil
		}
		time.Sleep(10 * time.Millisecond) // polling the server's readiness
	}
	r.stop()
	return errors.New("redis-server did not answer PING within 10s")
}

// ping reports whether a Redis server at addr answers PING.
func ping(addr string) bool {
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
	return err == nil && strings.HasPrefix(line, "+PONG")
}

// stop stops redis-server (SIGTERM, then SIGKILL after 5 s) and waits
// until it exited.
func (r *redisServer) stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	select {
	case <-r.done:
		return
	default:
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		r.cmd.Process.Kill()
		<-r.done
	}
}

// restart stops redis-server and starts it again on the same port, empty.
// It returns how long the server was unreachable.
func (r *redisServer) restart(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	r.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		err := r.launch()
		if err == nil {
			return time.Since(start)
		}
		if ctx.Err() != nil {
			t.Fatalf("restarting redis-server on port %d: %v\n%s", r.port, err, r.log.String())
		}
		time.Sleep(50 * time.Millisecond) // the port may still be held
	}
}
