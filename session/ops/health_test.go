package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session"
)

// TestHealthHandler: 200 with the state while a token can be served, 503
// with the error when not; never a token in the body.
func TestHealthHandler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		is := &issuer{ttl: time.Hour}
		initial := session.Token{Access: "tok-access-0", Refresh: "tok-refresh-0", Expiry: time.Now().Add(time.Hour)}
		s, err := session.New(context.Background(), is, initial,
			session.WithSeed(1), session.WithPolicy(policy.Constant{Wait: time.Second}), session.WithRefreshAhead(0))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		get := func() (int, map[string]any, string) {
			rec := httptest.NewRecorder()
			HealthHandler(s).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
			var m map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			return rec.Code, m, rec.Body.String()
		}
		code, m, body := get()
		if code != 200 || m["state"] != "valid" || m["token_valid"] != true || strings.Contains(body, "tok-access") {
			t.Fatalf("healthy: %d %s", code, body)
		}
		is.setDown(true)
		time.Sleep(time.Hour + 1500*time.Millisecond) // between two retries a second apart
		synctest.Wait()
		code, m, body = get()
		if code != 503 || m["state"] != "backoff" || !strings.Contains(fmt.Sprint(m["last_error"]), "502 Bad Gateway") {
			t.Fatalf("in backoff: %d %s", code, body)
		}
		rec := httptest.NewRecorder()
		HealthHandler(s).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/healthz", nil))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("POST: %d", rec.Code)
		}
	})
}
