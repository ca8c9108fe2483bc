package agent

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authfsm/authfsm/internal/benchkit"
)

// This file is the harness of the load benchmarks (bench_test.go): an
// upstream that costs nothing, the floors (a bare reverse proxy, a bare
// token handler) and keep-alive clients that drive two servers in
// alternating rounds, so that whatever else loads the machine falls on
// both alike and their ratios hold.

// loadClients is how many keep-alive clients drive a server at once.
const loadClients = 16

// loadRound is how many requests a side serves before the other's turn:
// a few milliseconds' worth, shorter than the bursts of other work on a
// shared machine (rounds of 200 and 500 let p99 ratios swing by 20%).
const loadRound = 50

// upstreamBody is what rawUpstream answers, a small JSON document.
const upstreamBody = `{"items":[{"id":1,"name":"one"},{"id":2,"name":"two"}]}` + "\n"

// rawUpstream starts an HTTP/1.1 server on loopback that answers every
// request with upstreamBody and allocates nothing per request, so that
// the allocations and CPU the benchmarks measure are the proxies' own. It
// reads requests without a body (the benchmarks send GETs) and returns its
// base URL.
func rawUpstream(tb testing.TB) *url.URL {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	answer := []byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(upstreamBody), upstreamBody))
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				defer c.Close()
				br := bufio.NewReaderSize(c, 4096)
				for {
					line, err := br.ReadSlice('\n')
					if err != nil {
						return
					}
					if len(line) <= 2 { // the blank line that ends a request's header
						if _, err := c.Write(answer); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return &url.URL{Scheme: "http", Host: ln.Addr().String()}
}

// serveLoopback serves h on a loopback port as the agent serves its
// listeners (a plain http.Server) until the benchmark ends, and returns
// the port's address.
func serveLoopback(tb testing.TB, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// benchBufferPool is the floor's BufferPool: a sync.Pool of 32 KiB
// buffers, kept as array pointers so that Put allocates nothing.
type benchBufferPool struct{ p sync.Pool }

func (bp *benchBufferPool) Get() []byte {
	if b, ok := bp.p.Get().(*[32 << 10]byte); ok {
		return b[:]
	}
	return make([]byte, 32<<10)
}

func (bp *benchBufferPool) Put(b []byte) {
	if cap(b) == 32<<10 {
		bp.p.Put((*[32 << 10]byte)(b[:32<<10]))
	}
}

// bareProxy is the floor of the agent's proxy: an httputil.ReverseProxy to
// upstream tuned as the agent's is (idle upstream connections kept per
// host, a pool of copy buffers), doing nothing else.
func bareProxy(upstream *url.URL, idle int) http.Handler {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = idle
	tr.MaxIdleConns = max(idle, tr.MaxIdleConns)
	return &httputil.ReverseProxy{
		Rewrite:    func(pr *httputil.ProxyRequest) { pr.SetURL(upstream) },
		Transport:  tr,
		BufferPool: &benchBufferPool{},
	}
}

// loadSide is one server the load benchmarks drive with loadClients
// keep-alive clients, each on a connection of its own, sending the same
// request over and over.
type loadSide struct {
	name    string
	reqs    []*http.Request
	rts     []*http.Transport
	lat     []time.Duration // every request's, from sending to the answer's last byte
	elapsed time.Duration
	n       int
	mallocs uint64 // the process's, while the side ran
	bytes   uint64
	cpu     time.Duration // the process's CPU time, while the side ran
}

func newLoadSide(tb testing.TB, name, target string, header http.Header) *loadSide {
	s := &loadSide{name: name}
	for range loadClients {
		req, err := http.NewRequest(http.MethodGet, target, nil)
		if err != nil {
			tb.Fatal(err)
		}
		req.Header = header.Clone()
		if req.Header == nil {
			req.Header = http.Header{}
		}
		tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
		tb.Cleanup(tr.CloseIdleConnections)
		s.reqs, s.rts = append(s.reqs, req), append(s.rts, tr)
	}
	return s
}

// round sends n requests, loadClients at a time.
func (s *loadSide) round(tb testing.TB, n int) {
	var next atomic.Int64
	var failed atomic.Value
	lats := make([][]time.Duration, loadClients)
	for i := range lats {
		lats[i] = make([]time.Duration, 0, 2*n/loadClients+16)
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0, _ := benchkit.CPUTime()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range loadClients {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				t0 := time.Now()
				resp, err := s.rts[i].RoundTrip(s.reqs[i])
				if err != nil {
					failed.Store(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Store(errors.New(resp.Status))
					return
				}
				lats[i] = append(lats[i], time.Since(t0))
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	cpu1, _ := benchkit.CPUTime()
	runtime.ReadMemStats(&ms1)
	if err, _ := failed.Load().(error); err != nil {
		tb.Fatalf("%s: %v", s.name, err)
	}
	s.n, s.elapsed, s.cpu = s.n+n, s.elapsed+took, s.cpu+cpu1-cpu0
	s.mallocs += ms1.Mallocs - ms0.Mallocs
	s.bytes += ms1.TotalAlloc - ms0.TotalAlloc
	for _, l := range lats {
		s.lat = append(s.lat, l...)
	}
}

// perSecond is the side's throughput over all its rounds.
func (s *loadSide) perSecond() float64 { return float64(s.n) / s.elapsed.Seconds() }

// quantile returns the latency below which a fraction q of lat lies; it
// sorts lat.
func quantile(lat []time.Duration, q float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	return lat[min(int(q*float64(len(lat))), len(lat)-1)]
}

// compare drives the agent's side a and its floor f with b.N requests
// each, in rounds of loadRound requests, a's and f's taking turns to go
// first. It reports each side's throughput, p50 and p99 latency over all
// its rounds, and its CPU time and allocations per request (the whole
// process's: the clients', the server's and, for a proxy, its upstream
// transport's; rawUpstream allocates nothing), then a's ratios to f:
// throughput (a goal ≥), p50 and p99 latency (goals ≤), and CPU time per
// request, which other work on the machine does not change. A machine
// shared with other work slows whatever runs during its bursts: rounds
// this short, alternating, spread that load over both sides alike.
func compare(b *testing.B, a, f *loadSide) {
	b.ResetTimer()
	for i, left := 0, b.N; left > 0; i, left = i+1, left-loadRound {
		n := min(loadRound, left)
		if i%2 == 0 {
			a.round(b, n)
			f.round(b, n)
		} else {
			f.round(b, n)
			a.round(b, n)
		}
	}
	b.StopTimer()
	for _, s := range []*loadSide{a, f} {
		b.ReportMetric(s.perSecond(), s.name+"-req/s")
		b.ReportMetric(float64(quantile(s.lat, 0.50).Microseconds()), s.name+"-p50-µs")
		b.ReportMetric(float64(quantile(s.lat, 0.99).Microseconds()), s.name+"-p99-µs")
		b.ReportMetric(float64(s.mallocs)/float64(s.n), s.name+"-allocs/req")
		b.ReportMetric(float64(s.bytes)/float64(s.n), s.name+"-B/req")
		b.ReportMetric(float64(s.cpu.Microseconds())/float64(s.n), s.name+"-cpu-µs/req")
	}
	b.ReportMetric(a.perSecond()/f.perSecond(), "throughput-ratio")
	b.ReportMetric(float64(quantile(a.lat, 0.50))/float64(quantile(f.lat, 0.50)), "p50-ratio")
	b.ReportMetric(float64(quantile(a.lat, 0.99))/float64(quantile(f.lat, 0.99)), "p99-ratio")
	b.ReportMetric(float64(a.cpu)/float64(f.cpu), "cpu-ratio")
}
