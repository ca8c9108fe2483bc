package rediscore

import (
	"bufio"
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeServer speaks RESP on loopback: it reads each command and writes
// what answer returns for it, raw (nothing at all for ""; it closes the
// connection for "close").
type fakeServer struct {
	ln     net.Listener
	answer func(cmd []string) string

	mu    sync.Mutex
	conns int
	cmds  [][]string
}

func newFakeServer(t *testing.T, answer func(cmd []string) string) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{ln: ln, answer: answer}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns++
			f.mu.Unlock()
			wg.Go(func() { f.serve(t, nc) })
		}
	})
	return f
}

func (f *fakeServer) serve(t *testing.T, nc net.Conn) {
	defer nc.Close()
	stop := context.AfterFunc(t.Context(), func() { nc.Close() })
	defer stop()
	r := bufio.NewReader(nc)
	for {
		v, err := readReply(r)
		if err != nil {
			return
		}
		items, _ := v.([]any)
		cmd := make([]string, len(items))
		for i, it := range items {
			cmd[i], _ = it.(string)
		}
		f.mu.Lock()
		f.cmds = append(f.cmds, cmd)
		f.mu.Unlock()
		switch a := f.answer(cmd); a {
		case "close":
			return
		case "":
		default:
			if _, err := nc.Write([]byte(a)); err != nil {
				return
			}
		}
	}
}

func (f *fakeServer) commands() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]string(nil), f.cmds...)
}

func (f *fakeServer) connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns
}

func newTestClient(t testing.TB, opts Options) *Client {
	t.Helper()
	c, err := NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestClientReplies: every RESP2 reply reads as its Go value; an error
// reply is an *Error and keeps the connection; a reply that is not RESP is
// refused without being quoted, and its connection is dropped.
func TestClientReplies(t *testing.T) {
	replies := map[string]string{
		"status": "+OK\r\n", "integer": ":-42\r\n", "bulk": "$5\r\nhe\r\no\r\n", "empty": "$0\r\n\r\n",
		"nil bulk": "$-1\r\n", "nil array": "*-1\r\n", "nested": "*4\r\n:1\r\n$-1\r\n*1\r\n+x\r\n-ERR in an array\r\n",
		"error": "-ERR boom\r\n", "http": "HTTP/1.1 400 Bad Request secret-in-page\r\n\r\n",
		"huge bulk": "$999999999999\r\n", "bad length": "$abc\r\n", "no CR": "+OK\n", "deep": strings.Repeat("*1\r\n", 9) + ":1\r\n",
	}
	f := newFakeServer(t, func(cmd []string) string { return replies[cmd[1]] })
	c := newTestClient(t, Options{Addr: f.ln.Addr().String()})
	for _, tc := range []struct {
		name     string
		want     any
		err      string // a substring; "" for none
		newConns int    // connections dialled for it
	}{
		{"status", "OK", "", 1},
		{"integer", int64(-42), "", 0},
		{"bulk", "he\r\no", "", 0},
		{"empty", "", "", 0},
		{"nil bulk", nil, "", 0},
		{"nil array", nil, "", 0},
		{"nested", []any{int64(1), nil, []any{"x"}, &Error{Msg: "ERR in an array"}}, "", 0},
		{"error", nil, "rediscore: the server answered ERR boom", 0},
		{"http", nil, "is not RESP", 0},
		{"huge bulk", nil, "is not RESP", 1},
		{"bad length", nil, "is not RESP", 1},
		{"no CR", nil, "is not RESP", 1},
		{"deep", nil, "is not RESP", 1},
		{"status", "OK", "", 1},
	} {
		before := f.connections()
		v, err := c.Do(testContext(t), "ECHO", tc.name)
		switch {
		case tc.err == "" && err != nil, tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		case !reflect.DeepEqual(v, tc.want):
			t.Errorf("%s: %#v, want %#v", tc.name, v, tc.want)
		case err != nil && strings.Contains(err.Error(), "secret"):
			t.Errorf("%s: the error quotes the reply: %v", tc.name, err)
		}
		if n := f.connections() - before; n != tc.newConns {
			t.Errorf("%s: %d connections dialled, want %d", tc.name, n, tc.newConns)
		}
	}
	_, err := c.Do(testContext(t), "ECHO", "error")
	if e := (*Error)(nil); !errors.As(err, &e) || e.Msg != "ERR boom" {
		t.Errorf("an error reply is %v, want an *Error", e)
	}
}

// TestClientEval: EVALSHA names the script by its SHA-1, with the number
// of keys, the keys and the arguments; on NOSCRIPT the script is sent
// with EVAL. An error reply that repeats an argument (a token) has it
// redacted.
func TestClientEval(t *testing.T) {
	s := newScript("return {KEYS[1], ARGV[1]}")
	f := newFakeServer(t, func(cmd []string) string {
		switch {
		case cmd[0] == "EVALSHA":
			return "-NOSCRIPT No matching script. Please use EVAL.\r\n"
		case cmd[len(cmd)-1] == "token-Zq9":
			return "-ERR Error running script: bad argument token-Zq9 for key k1\r\n"
		}
		return "*2\r\n$2\r\nk1\r\n$1\r\na\r\n"
	})
	c := newTestClient(t, Options{Addr: f.ln.Addr().String()})
	v, err := c.Eval(testContext(t), s, []string{"k1"}, "a")
	if err != nil || !reflect.DeepEqual(v, []any{"k1", "a"}) {
		t.Fatalf("Eval = %#v, %v", v, err)
	}
	want := [][]string{
		{"EVALSHA", s.SHA1, "1", "k1", "a"},
		{"EVAL", s.Src, "1", "k1", "a"},
	}
	if got := f.commands(); !reflect.DeepEqual(got, want) {
		t.Errorf("commands %q, want %q", got, want)
	}
	_, err = c.Eval(testContext(t), s, []string{"k1"}, "token-Zq9")
	if err == nil || strings.Contains(err.Error(), "token-Zq9") || !strings.Contains(err.Error(), "bad argument [redacted] for key k1") {
		t.Errorf("an error repeating an argument: %v, want it redacted", err)
	}
}

// TestClientAuth: every new connection authenticates (AUTH, with the user
// name when there is one) and selects its database before its first
// command; a refused AUTH fails the command without repeating the
// password, and no connection is kept.
func TestClientAuth(t *testing.T) {
	const password = "pw-Zq9-secret"
	f := newFakeServer(t, func(cmd []string) string {
		if cmd[0] == "AUTH" && cmd[len(cmd)-1] != password {
			return "-WRONGPASS invalid password " + cmd[len(cmd)-1] + "\r\n"
		}
		return "+OK\r\n"
	})
	c := newTestClient(t, Options{Addr: f.ln.Addr().String(), Username: "agent", Password: password, DB: 3})
	if _, err := c.Do(testContext(t), "PING"); err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"AUTH", "agent", password}, {"SELECT", "3"}, {"PING"}}
	if got := f.commands(); !reflect.DeepEqual(got, want) {
		t.Errorf("commands %q, want %q", got, want)
	}
	bad := newTestClient(t, Options{Addr: f.ln.Addr().String(), Password: "wrong-" + password})
	_, err := bad.Do(testContext(t), "PING")
	if err == nil || !strings.HasPrefix(err.Error(), "rediscore: AUTH: ") || strings.Contains(err.Error(), password) {
		t.Errorf("a refused AUTH: %v, want an AUTH error without the password", err)
	}
	if n := len(bad.idle); n != 0 {
		t.Errorf("%d connections kept after a refused AUTH", n)
	}
}

// TestClientContext: a command to a server that never answers ends with
// its context, or after Timeout when the context has no deadline.
func TestClientContext(t *testing.T) {
	f := newFakeServer(t, func([]string) string { return "" })
	c := newTestClient(t, Options{Addr: f.ln.Addr().String(), Timeout: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	if _, err := c.Do(ctx, "PING"); err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("cancelled: %v after %v", err, time.Since(start))
	}
	start = time.Now()
	_, err := c.Do(context.Background(), "PING")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || time.Since(start) > 5*time.Second {
		t.Errorf("without a deadline: %v after %v, want a timeout after 100ms", err, time.Since(start))
	}
	c.Close()
	if _, err := c.Do(t.Context(), "PING"); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

// TestClientSubscribe: Subscribe returns once the server confirmed; each
// message is signalled; the channel closes when the connection breaks.
func TestClientSubscribe(t *testing.T) {
	var mu sync.Mutex
	var sent bool
	f := newFakeServer(t, func(cmd []string) string {
		mu.Lock()
		defer mu.Unlock()
		if cmd[0] == "SUBSCRIBE" && !sent {
			sent = true
			return "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$9\r\npublished\r\n"
		}
		return "close"
	})
	c := newTestClient(t, Options{Addr: f.ln.Addr().String()})
	sub, err := c.Subscribe(testContext(t), "ch")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if _, ok := <-sub.Messages(); !ok {
		t.Fatal("no message")
	}
	// The next command on the subscription's connection makes the server
	// close it.
	if _, err := sub.(*subscription).nc.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		t.Fatal(err)
	}
	for range sub.Messages() {
	}
	if _, err := c.Subscribe(testContext(t), "ch"); err == nil {
		t.Error("a subscription the server closed at once succeeded")
	}
}

// TestNewClientErrors: an address or database that cannot work is
// refused before any connection.
func TestNewClientErrors(t *testing.T) {
	for _, o := range []Options{{}, {Addr: "localhost"}, {Addr: "unix:"}, {Addr: "127.0.0.1:6379", DB: -1},
		{Addr: "127.0.0.1:6379", Username: "u"}} {
		if _, err := NewClient(o); err == nil || !strings.HasPrefix(err.Error(), "rediscore: ") {
			t.Errorf("NewClient(%+v) = %v", o, err)
		}
	}
}
