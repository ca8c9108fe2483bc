package simserver

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/authfsm/authfsm/sim"
)

// answerKind is how the token endpoint answers one request.
type answerKind uint8

const (
	answerToken     answerKind = iota // a token response
	answerRefusal                     // 400 with an OAuth2 error body
	answerStatus                      // a status fault's answer
	answerHang                        // no answer
	answerRefused                     // connection refused
	answerHTML200                     // 200 with an HTML page
	answerMalformed                   // 200 with a broken JSON body
	answerLost                        // performed, then a proxy's 502
	answerOverload                    // 503 from a server over its capacity
)

// answer is the token endpoint's decision about one request.
type answer struct {
	kind  answerKind
	fault *sim.Fault // answerStatus
	code  string     // answerRefusal
	// access and refresh are the new pair (answerToken); refresh is ""
	// when the refresh token is unchanged or the grant has none.
	access, refresh string
}

// token answers the token endpoint: the server decides the answer as the
// request arrives (performing a refresh, rotating the refresh token), and
// the client receives it one latency later, or never (hang, or the
// request's context ended first).
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	t := s.now()
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	grant := r.PostForm.Get("grant_type")
	fallback := grant == "client_credentials"
	if grant != "refresh_token" && !fallback {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	s.mu.Lock()
	s.requests++
	a := s.decide(t, fallback, r.PostForm.Get("refresh_token"))
	crash := s.window(sim.FaultCrashHolder, t)
	s.mu.Unlock()
	if crash != nil {
		// The process crashes right after sending: the answer is lost with
		// it, whatever it was.
		w.Header().Set(CrashHeader, crash.Restart.String())
		writePage(w, http.StatusBadGateway)
		return
	}
	wait := s.sc.Server.Latency
	switch a.kind {
	case answerHang:
		wait = forever
	case answerRefused:
		cut(w, r, refusedHeader)
		return
	}
	if err := s.sleep(r.Context(), wait); err != nil {
		if r.Context().Err() == nil {
			cut(w, r, abortedHeader) // the clock gave up the wait: the run is over
		}
		return // the client gave up first
	}
	s.write(w, a)
}

// decide is the token server's decision about a request arriving at t,
// as the simulator's model makes it: the first fault in effect decides,
// then the capacity; the fallback grant (client_credentials) is accepted
// by the model's server, and a revoke fault does not concern it. mu is
// held.
func (s *Server) decide(t time.Duration, fallback bool, rt string) answer {
	if f := s.fault(t, fallback); f != nil {
		switch f.Kind {
		case sim.FaultHang:
			return answer{kind: answerHang}
		case sim.FaultRefused:
			return answer{kind: answerRefused}
		case sim.FaultStatus:
			return answer{kind: answerStatus, fault: f}
		case sim.FaultHTML200:
			return answer{kind: answerHTML200}
		case sim.FaultMalformed:
			return answer{kind: answerMalformed}
		case sim.FaultLostResponse:
			if !fallback {
				s.refresh(rt, t) // done server-side; the answer is lost
			}
			return answer{kind: answerLost}
		case sim.FaultRevoke:
			return answer{kind: answerRefusal, code: "invalid_grant"}
		}
	}
	if c := int64(s.sc.Fleet.ServerCapacity); c > 0 {
		if b := int64(t / time.Second); b != s.capBucket {
			s.capBucket, s.capCount = b, 0
		}
		s.capCount++
		if s.capCount > c {
			return answer{kind: answerOverload}
		}
	}
	if fallback {
		return answer{kind: answerToken, access: s.issueAccess(-1, t)}
	}
	out, next := s.refresh(rt, t)
	if out != refreshOK {
		return answer{kind: answerRefusal, code: "invalid_grant"}
	}
	fi, _, _ := parseRefresh(rt)
	return answer{kind: answerToken, access: s.issueAccess(fi, t), refresh: next}
}

// fault returns the first fault that decides the token endpoint's answers
// at t. A revoke fault concerns refresh tokens only, not the fallback
// grant.
func (s *Server) fault(t time.Duration, fallback bool) *sim.Fault {
	fs := s.sc.Server.Faults
	for i := range fs {
		f := &fs[i]
		switch f.Kind {
		case sim.FaultRejectAccess, sim.FaultCrashHolder, sim.FaultStoreDown:
			continue
		case sim.FaultRevoke:
			if fallback {
				continue
			}
		}
		if f.From <= t && t < f.To {
			return f
		}
	}
	return nil
}

// window returns the first fault of kind k in effect at t, or nil.
func (s *Server) window(k sim.FaultKind, t time.Duration) *sim.Fault {
	fs := s.sc.Server.Faults
	for i := range fs {
		if fs[i].Kind == k && fs[i].From <= t && t < fs[i].To {
			return &fs[i]
		}
	}
	return nil
}

// write writes answer a.
func (s *Server) write(w http.ResponseWriter, a answer) {
	switch a.kind {
	case answerToken:
		body := map[string]any{"access_token": a.access, "token_type": "Bearer"}
		if !s.sc.Token.OmitExpiresIn {
			body["expires_in"] = json.Number(strconv.FormatFloat(s.sc.Token.TTL.Seconds(), 'f', -1, 64))
		}
		if a.refresh != "" {
			body["refresh_token"] = a.refresh
		}
		writeJSON(w, http.StatusOK, body)
	case answerRefusal:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": a.code})
	case answerStatus:
		f := a.fault
		if f.RetryAfter > 0 {
			// Retry-After carries whole seconds; round up so the wait is honoured.
			w.Header().Set("Retry-After", strconv.FormatInt(int64((f.RetryAfter+time.Second-1)/time.Second), 10))
		}
		if f.Status == 400 || f.Status == 401 || f.Status == 403 {
			code := f.Error
			if code == "" {
				code = "invalid_request" // docs/SCENARIOS.md: a JSON OAuth2 error body
			}
			writeJSON(w, f.Status, map[string]string{"error": code})
			return
		}
		writePage(w, f.Status)
	case answerHTML200:
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<!DOCTYPE html><html><head><title>Sign in</title></head><body>Sign in to use this network.</body></html>"))
	case answerMalformed:
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"`))
	case answerLost:
		writePage(w, http.StatusBadGateway)
	case answerOverload:
		writePage(w, http.StatusServiceUnavailable)
	}
}

// writePage answers status with the page a reverse proxy (nginx) sends.
func writePage(w http.ResponseWriter, status int) {
	title := strconv.Itoa(status) + " " + http.StatusText(status)
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	w.Write([]byte("<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" + title +
		"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"))
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
}

// forever is a wait that only the request's context ends.
const forever = time.Duration(1 << 62)

// sleep waits d of the server's clock, or until ctx ends; it returns ctx's
// error when that came first (or at the same instant). A clock that can
// wait with a context (SleepContext, as authfsm conform's clock) waits
// through it, so that it knows the request is waiting; any other clock
// through a Timer.
func (s *Server) sleep(ctx context.Context, d time.Duration) error {
	if cs, ok := s.clk.(interface {
		SleepContext(context.Context, time.Duration) error
	}); ok {
		if err := cs.SleepContext(ctx, d); err != nil {
			return err
		}
		return ctx.Err()
	}
	if d == forever {
		<-ctx.Done()
		return ctx.Err()
	}
	t := s.clk.Timer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return ctx.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// cut ends the request without an answer: through Transport, with the
// error how says (a refused connection, or one closed after the request
// was written); through a real listener, the connection is closed.
func cut(w http.ResponseWriter, r *http.Request, how string) {
	if inProcess(r.Context()) {
		w.Header().Set(how, "1")
		return
	}
	panic(http.ErrAbortHandler)
}
