package rediscore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authfsm/authfsm/session"
)

// replyConn is a Conn whose scripts answer reply, or fail with err.
type replyConn struct {
	reply any
	err   error
}

func (c replyConn) Eval(context.Context, *Script, []string, ...string) (any, error) {
	return c.reply, c.err
}

func (replyConn) Subscribe(context.Context, string) (Subscription, error) {
	return nil, errors.New("replyConn")
}

// TestErrorsNamePackage: every error of the coordinator starts with the
// package's name, as its client's do: one name for the directory, the
// package and the messages.
func TestErrorsNamePackage(t *testing.T) {
	ctx := context.Background()
	down := New(replyConn{err: errors.New("connection refused")}, "authfsm:family:{k}")
	odd := New(replyConn{reply: int64(7)}, "authfsm:family:{k}")
	corrupt := New(replyConn{reply: []any{"generation", "x"}}, "authfsm:family:{k}")
	for name, err := range map[string]error{
		"acquire, empty holder":  func() error { _, _, err := down.Acquire(ctx, "", time.Second); return err }(),
		"acquire, short lease":   func() error { _, _, err := down.Acquire(ctx, "a", time.Microsecond); return err }(),
		"mark, empty holder":     down.MarkInFlight(ctx, "", 1),
		"read, server down":      func() error { _, err := down.Read(ctx); return err }(),
		"read, unexpected reply": func() error { _, err := odd.Read(ctx); return err }(),
		"read, corrupt family":   func() error { _, err := corrupt.Read(ctx); return err }(),
		"publish, server down": func() error {
			_, err := down.Publish(ctx, "a", 0, session.Token{Access: "secret-access-token"})
			return err
		}(),
		"release, server down": down.Release(ctx, "a", false),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if !strings.HasPrefix(err.Error(), "rediscore: ") {
			t.Errorf("%s: %q does not start with the package's name", name, err)
		}
	}
}
