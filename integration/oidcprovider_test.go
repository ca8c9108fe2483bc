package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// The OpenID Provider of github.com/zitadel/oidc/v3 (its example server: the
// library's op package behind the example's login and device pages), for
// what fosite v0.49.0 does not implement: the device authorization grant
// (RFC 8628). It runs on loopback in real time, can be stopped and
// restarted on the same port with its storage kept (a backend restart),
// and a fault injector in front of its token endpoint answers slow_down on
// demand, as a server does to a client that polls too fast.

const (
	// deviceClientID is a public client (no secret, as a command-line tool
	// is) allowed the device and refresh_token grants.
	deviceClientID = "authfsm-cli"
	// opPollInterval is the interval the provider asks device clients to
	// poll at (a whole number of seconds: RFC 8628's interval is one).
	opPollInterval = time.Second
)

// provider is the running OP.
type provider struct {
	t       *testing.T
	store   *deviceStorage
	handler http.Handler

	mu       sync.Mutex
	addr     string // fixed at the first start
	hs       *http.Server
	slowDown int          // the number of the device poll to answer slow_down, from 1; 0 for none
	polls    []devicePoll // every device token request seen, served or not
}

// devicePoll is one device_code token request as the provider saw it.
type devicePoll struct {
	At     time.Time
	Answer string // "slow_down" when the injector answered, else the OP's status and error code
}

func startProvider(t *testing.T) *provider {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	native := storage.NativeClient(deviceClientID)
	clients := map[string]*storage.Client{deviceClientID: native}
	users := storage.NewUserStore(issuer)
	p := &provider{t: t, addr: ln.Addr().String(),
		store: &deviceStorage{Storage: storage.NewStorageWithClients(users, clients), users: users}}
	router := exampleop.SetupServer(issuer, p.store, nil, false)
	p.handler = router
	p.serve(ln)
	t.Cleanup(p.stop)
	return p
}

func (p *provider) issuer() string { return "http://" + p.addr }

// username and password are the example user store's first user, whose
// name carries the issuer's host.
func (p *provider) username() string { return "test-user@127.0.0.1" }
func (p *provider) password() string { return "verysecure" }

func (p *provider) serve(ln net.Listener) {
	hs := &http.Server{Handler: http.HandlerFunc(p.serveHTTP), ReadHeaderTimeout: 5 * time.Second}
	p.mu.Lock()
	p.hs = hs
	p.mu.Unlock()
	go hs.Serve(ln)
}

// stop closes the listener and every connection; the storage survives.
func (p *provider) stop() {
	p.mu.Lock()
	hs := p.hs
	p.hs = nil
	p.mu.Unlock()
	if hs != nil {
		hs.Close()
	}
}

// restart serves again on the same port, with the same storage.
func (p *provider) restart() {
	p.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger for a moment
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("restarting the provider on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// slowDownAt makes the n-th device poll (from 1) answer 400 slow_down.
func (p *provider) slowDownAt(n int) {
	p.mu.Lock()
	p.slowDown = n
	p.mu.Unlock()
}

func (p *provider) devicePolls() []devicePoll {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]devicePoll(nil), p.polls...)
}

func (p *provider) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Path == "/device_authorization" {
		// The example asks for 5 s between polls; the tests ask for
		// opPollInterval, so that a slow_down is 5 s on top of 1 s.
		rec := httptest.NewRecorder()
		p.handler.ServeHTTP(rec, r)
		body := strings.Replace(rec.Body.String(), `"interval":5`, fmt.Sprintf(`"interval":%d`, int(opPollInterval/time.Second)), 1)
		maps.Copy(w.Header(), rec.Header())
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		io.WriteString(w, body)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/oauth/token" {
		p.handler.ServeHTTP(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	if r.PostForm.Get("grant_type") != string(oidc.GrantTypeDeviceCode) {
		p.handler.ServeHTTP(w, r)
		return
	}
	p.mu.Lock()
	slow := p.slowDown == len(p.polls)+1
	if slow {
		p.polls = append(p.polls, devicePoll{At: time.Now(), Answer: "slow_down"})
	}
	p.mu.Unlock()
	if slow {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"slow_down","error_description":"polling too fast"}`)
		return
	}
	rec := &pollRecorder{ResponseWriter: w}
	p.handler.ServeHTTP(rec, r)
	p.mu.Lock()
	p.polls = append(p.polls, devicePoll{At: time.Now(), Answer: rec.answer()})
	p.mu.Unlock()
}

// pollRecorder passes an answer through and keeps its status and body.
type pollRecorder struct {
	http.ResponseWriter
	status int
	body   strings.Builder
}

func (r *pollRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *pollRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

var errorCode = regexp.MustCompile(`"error":"([a-z_]+)"`)

func (r *pollRecorder) answer() string {
	if m := errorCode.FindStringSubmatch(r.body.String()); m != nil {
		return fmt.Sprintf("%d %s", r.status, m[1])
	}
	return fmt.Sprint(r.status)
}

// deviceStorage is the example's storage with what a public device client
// needs and the example leaves out: the client may use the device and
// refresh_token grants; the tokens of a device authorization belong to
// that client (the example files them under no client, and then refuses
// their refresh token to every client); and the approving user is named by
// their id, as the id_token's subject must be (the example's device pages
// pass the user name, and the id_token then fails with "user not found").
type deviceStorage struct {
	*storage.Storage
	users storage.UserStore
}

func (s *deviceStorage) CompleteDeviceAuthorization(ctx context.Context, userCode, username string) error {
	u := s.users.GetUserByUsername(username)
	if u == nil {
		return errors.New("no such user")
	}
	return s.Storage.CompleteDeviceAuthorization(ctx, userCode, u.ID)
}

func (s *deviceStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil || id != deviceClientID {
		return c, err
	}
	return deviceGrants{c}, nil
}

func (s *deviceStorage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	if d, ok := req.(*op.DeviceAuthorizationState); ok {
		req = &storage.AuthRequest{ApplicationID: d.ClientID, UserID: d.Subject, Scopes: d.Scopes, ResponseType: oidc.ResponseTypeCode}
	}
	return s.Storage.CreateAccessAndRefreshTokens(ctx, req, current)
}

// deviceGrants is the native client with the device grant added.
type deviceGrants struct{ op.Client }

func (c deviceGrants) GrantTypes() []oidc.GrantType {
	return append(c.Client.GrantTypes(), oidc.GrantTypeDeviceCode)
}

// user plays the person at the browser: a cookie jar, and the provider's
// device pages.
type user struct {
	t  *testing.T
	p  *provider
	hc *http.Client
}

func newUser(t *testing.T, p *provider) *user {
	jar, _ := cookiejar.New(nil)
	return &user{t: t, p: p, hc: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

var formAction = regexp.MustCompile(`<form[^>]*action="([^"]+)"`)

// answerDevice opens the verification URI, signs in and allows or denies
// the device, as the provider's pages ask; it returns the last page.
func (u *user) answerDevice(ctx context.Context, verification string, allow bool) (string, error) {
	page, err := u.get(ctx, verification)
	if err != nil {
		return "", err
	}
	code := regexp.MustCompile(`name="user_code"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="user_code"`).FindStringSubmatch(page)
	if code == nil {
		return "", fmt.Errorf("the verification page has no user code:\n%s", page)
	}
	userCode := code[1] + code[2]
	login := u.action(page, verification)
	page, err = u.post(ctx, login, url.Values{"user_code": {userCode}, "username": {u.p.username()}, "password": {u.p.password()}})
	if err != nil {
		return "", err
	}
	// The confirmation page's buttons go to ./confirm?action=allowed or
	// ./confirm?action=denied.
	want := "denied"
	if allow {
		want = "allowed"
	}
	for _, m := range confirmButton.FindAllStringSubmatch(page, -1) {
		if strings.HasSuffix(m[1], "action="+want) {
			b, _ := url.Parse(login)
			target, err := b.Parse(m[1])
			if err != nil {
				return "", err
			}
			return u.get(ctx, target.String())
		}
	}
	return "", fmt.Errorf("the sign-in did not lead to a confirmation page with %q:\n%s", want, page)
}

var confirmButton = regexp.MustCompile(`location\.href='([^']+)'`)

// action resolves the first form's action on page against base.
func (u *user) action(page, base string) string {
	m := formAction.FindStringSubmatch(page)
	if m == nil {
		u.t.Fatalf("no form on the page:\n%s", page)
	}
	b, _ := url.Parse(base)
	a, err := b.Parse(m[1])
	if err != nil {
		u.t.Fatalf("form action %q: %v", m[1], err)
	}
	return a.String()
}

func (u *user) get(ctx context.Context, where string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, where, nil)
	if err != nil {
		return "", err
	}
	return u.do(req)
}

func (u *user) post(ctx context.Context, where string, form url.Values) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, where, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return u.do(req)
}

func (u *user) do(req *http.Request) (string, error) {
	resp, err := u.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", errors.New(resp.Status + ": " + string(b))
	}
	return string(b), nil
}
