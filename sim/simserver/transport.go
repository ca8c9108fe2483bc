package simserver

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"syscall"
)

// How the handler tells Transport to refuse a request, or to close its
// connection after it was written.
const (
	refusedHeader = "Authfsm-Refused"
	abortedHeader = "Authfsm-Aborted"
)

type inProcessKey struct{}

// inProcess reports whether a request came through Transport.
func inProcess(ctx context.Context) bool { return ctx.Value(inProcessKey{}) != nil }

// Transport returns an http.RoundTripper that hands requests to the server
// in process, with no network: the handler runs on the caller's goroutine,
// so a clock that drives the caller's goroutines (authfsm conform's) drives
// the handler's waits too. A refused connection is an error matching
// syscall.ECONNREFUSED, returned before the request is written; every
// other request counts as written (httptrace's WroteRequest is called), so
// a client knows the server may have acted on a request whose answer it
// did not get. A request whose context ends before its answer fails with
// the context's error. Any host in the URL reaches the server.
func (s *Server) Transport() http.RoundTripper { return transport{s} }

type transport struct{ h http.Handler }

// RoundTrip implements http.RoundTripper.
func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	ctx := req.Context()
	in := req.Clone(context.WithValue(ctx, inProcessKey{}, true))
	in.Body = io.NopCloser(bytes.NewReader(body))
	in.ContentLength = int64(len(body))
	in.RequestURI = req.URL.RequestURI()
	rec := &recorder{header: http.Header{}}
	t.h.ServeHTTP(rec, in)
	if rec.header.Get(refusedHeader) != "" {
		return nil, syscall.ECONNREFUSED
	}
	if tr := httptrace.ContextClientTrace(ctx); tr != nil && tr.WroteRequest != nil {
		tr.WroteRequest(httptrace.WroteRequestInfo{})
	}
	if rec.header.Get(abortedHeader) != "" {
		return nil, io.ErrUnexpectedEOF
	}
	if !rec.wrote {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rec.WriteHeader(http.StatusOK) // as a server does for a handler that writes nothing
	}
	return &http.Response{
		Status: strconv.Itoa(rec.status) + " " + http.StatusText(rec.status), StatusCode: rec.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: rec.header, Body: io.NopCloser(bytes.NewReader(rec.body.Bytes())),
		ContentLength: int64(rec.body.Len()), Request: req,
	}, nil
}

// recorder is the http.ResponseWriter of an in-process request.
type recorder struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}
