package agent

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"

	"github.com/authfsm/authfsm/session"
)

// proxyHandler forwards every request to the profile's upstream with the
// session's token, through session.Transport: a 401 to the token sent
// refreshes it and replays the request once. A request body up to
// max_replay_body is kept so that it can be replayed; a longer one is
// streamed and its 401 reaches the client, as does the upstream's 401 to
// the replayed request (its body says why: a scope, an audience). Without
// a usable token the answer is 503 with Retry-After, as from /v1/token. A
// request a relay forwarded (RelayHeaders) is refused with 403, as by
// /v1/token.
//
// Unless Options.Upstream is set, the requests go through a transport of
// the proxy's own that keeps max_idle_conns idle connections to the
// upstream (net/http's default transport keeps 2 per host: a proxy
// serving more clients at once would open a connection, on https a TLS
// handshake, for most requests). The copy buffers come from a pool, and
// the request that reaches session.Transport is the copy the reverse
// proxy made, which takes the token itself (ModifyRequest).
func (a *Agent) proxyHandler(p *profile, tcp bool) http.Handler {
	px := p.cfg.Proxy
	base := a.opts.Upstream
	if base == nil {
		p.upstream = upstreamTransport(px.MaxIdleConns)
		base = p.upstream
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(px.Upstream)
		},
		Transport:  &session.Transport{Session: p.s, Base: base, AllowedHosts: px.AllowedHosts, ModifyRequest: true},
		BufferPool: copyBuffers,
		ModifyResponse: func(*http.Response) error {
			p.n.proxyForwarded.Add(1)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			switch {
			case isSessionError(err):
				p.n.proxyUnavailable.Add(1)
				unavailable(w, p, err)
			case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
				// The client went away; nobody reads the answer.
				w.WriteHeader(http.StatusBadGateway)
			default:
				p.n.proxyUpstreamFail.Add(1)
				// Without the *url.Error's method and URL: the request's
				// query is the client's business, not the log's.
				var ue *url.Error
				if errors.As(err, &ue) {
					err = ue.Err
				}
				a.log.Warn("the upstream did not answer", "profile", p.cfg.Name, "upstream", px.Upstream.String(), "err", err)
				writeError(w, http.StatusBadGateway, "authfsm agent: the upstream did not answer: "+err.Error(), "")
			}
		},
		ErrorLog: a.serverLog(),
	}
	return guard(tcp, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A relayed request never gets the token, nor reaches the upstream.
		if refuseRelayed(w, r) {
			p.n.proxyRefused.Add(1)
			return
		}
		// The wait for a token is wait_for_refresh's, not the upstream
		// request's: take the token first, then forward.
		if _, err := p.token(r.Context()); err != nil {
			p.n.proxyUnavailable.Add(1)
			unavailable(w, p, err)
			return
		}
		keepBody(r, px.MaxReplayBody)
		rp.ServeHTTP(w, r)
	}), func(*http.Request) { p.n.proxyRefused.Add(1) })
}

// upstreamTransport returns a transport with net/http's default settings
// that keeps idle idle connections to each host.
func upstreamTransport(idle int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = idle
	t.MaxIdleConns = max(idle, t.MaxIdleConns)
	return t
}

// copyBuffers are the proxies' buffers for copying response bodies.
var copyBuffers = &bufferPool{}

// bufferPool is an httputil.BufferPool of 32 KiB buffers (the size
// ReverseProxy allocates without one), kept as array pointers so that Put
// allocates nothing.
type bufferPool struct{ p sync.Pool }

const copyBufferSize = 32 << 10

func (bp *bufferPool) Get() []byte {
	if b, ok := bp.p.Get().(*[copyBufferSize]byte); ok {
		return b[:]
	}
	return make([]byte, copyBufferSize)
}

func (bp *bufferPool) Put(b []byte) {
	if cap(b) == copyBufferSize {
		bp.p.Put((*[copyBufferSize]byte)(b[:copyBufferSize]))
	}
}

// isSessionError reports whether err is the session's: no token to send,
// or none to replay a 401 with. (A 401 to a replayed request is no error:
// session.Transport returns that response, and it reaches the client.)
func isSessionError(err error) bool {
	var re *session.RefreshError
	return errors.As(err, &re) || errors.Is(err, session.ErrRevoked) || errors.Is(err, session.ErrClosed) ||
		errors.Is(err, session.ErrLoginRequired)
}

// keepBody makes a request body of at most max bytes replayable (GetBody),
// so that the Transport can send it again after a 401. A longer body is
// streamed as it comes, after the part already read.
func keepBody(r *http.Request, max int64) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength > max {
		return
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil || int64(len(buf)) > max {
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
		return
	}
	r.Body.Close()
	r.ContentLength = int64(len(buf))
	r.Body = io.NopCloser(bytes.NewReader(buf))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	if len(buf) == 0 {
		r.Body, r.GetBody = http.NoBody, nil
	}
}
