package session

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"golang.org/x/oauth2"
)

func validSession(tb testing.TB) *Session {
	tb.Helper()
	r := RefresherFunc(func(context.Context, Token) (Token, error) {
		tb.Error("refresh on a valid token")
		return Token{}, nil
	})
	s, err := New(context.Background(), r, Token{Access: "access", Refresh: "refresh", Expiry: time.Now().Add(24 * time.Hour)})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// BenchmarkTokenParallel compares Token on a valid token with x/oauth2's
// ReuseTokenSource and with the floor: one atomic.Pointer load, a clock read
// and a comparison, which is all Token's fast path may do.
func BenchmarkTokenParallel(b *testing.B) {
	b.Run("authfsm", func(b *testing.B) {
		s := validSession(b)
		defer s.Close()
		ctx := context.Background()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Token(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("x-oauth2", func(b *testing.B) {
		src := oauth2.ReuseTokenSource(&oauth2.Token{AccessToken: "access", Expiry: time.Now().Add(24 * time.Hour)}, nil)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := src.Token(); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("floor", func(b *testing.B) {
		var p atomic.Pointer[snapshot]
		p.Store(&snapshot{tok: Token{Access: "access"}, until: time.Now().Add(24 * time.Hour)})
		clk := clock.New()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if s := p.Load(); !clk.Now().Before(s.until) {
					b.Fatal("expired")
				}
			}
		})
	})
}

func TestTokenFastPathDoesNotAllocate(t *testing.T) {
	s := validSession(t)
	defer s.Close()
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() {
		if _, err := s.Token(ctx); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Token allocates %v times per call on a valid token, want 0", n)
	}
}
