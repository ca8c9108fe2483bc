package authfsmprom_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	authfsmprom "github.com/authfsm/authfsm/contrib/prometheus"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/hooks"
)

func Example() {
	// Register the metrics once, on the registry that /metrics serves.
	reg := prometheus.NewRegistry()
	m := authfsmprom.New()
	reg.MustRegister(m)

	refresher := session.RefresherFunc(func(context.Context, session.Token) (session.Token, error) {
		return session.Token{Access: "access-1", Refresh: "refresh-1", Expiry: time.Now().Add(time.Hour)}, nil
	})
	// Each session gets the metrics' hooks, here beside the application's own.
	mine := hooks.Hooks{Closed: func(i hooks.SessionInfo) { fmt.Println("closed in state", i.State) }}
	s, err := session.New(context.Background(), refresher, session.Token{Refresh: "refresh-0"},
		session.WithHooks(authfsmprom.Chain(m.Hooks(), mine)))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := s.Token(context.Background()); err != nil {
		log.Fatal(err)
	}
	s.Close()

	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for line := range strings.Lines(rec.Body.String()) {
		if strings.HasPrefix(line, "authfsm_refresh_attempts_total") || strings.HasPrefix(line, `authfsm_sessions{state="valid"}`) {
			fmt.Print(line)
		}
	}
	// Output:
	// closed in state valid
	// authfsm_refresh_attempts_total{class="ok",outcome="success"} 1
	// authfsm_refresh_attempts_total{class="permanent",outcome="failure"} 0
	// authfsm_refresh_attempts_total{class="rate_limited",outcome="failure"} 0
	// authfsm_refresh_attempts_total{class="suspect",outcome="failure"} 0
	// authfsm_refresh_attempts_total{class="transient",outcome="failure"} 0
	// authfsm_sessions{state="valid"} 0
}
