package agent

import (
	"net"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/authfsm/authfsm/internal/yamlwalk"
	"github.com/authfsm/authfsm/session/login"
	"github.com/authfsm/authfsm/session/oauth"
)

// LoginFlow is how `authfsm login` logs a profile in.
type LoginFlow string

// The login flows.
const (
	// LoginDevice is the device authorization grant (RFC 8628): the code
	// and where to enter it are printed on the terminal.
	LoginDevice LoginFlow = "device"
	// LoginBrowser is the authorization code grant with PKCE through a
	// loopback redirect (RFC 8252): the browser is opened.
	LoginBrowser LoginFlow = "browser"
)

// LoginConfig is a profile's login block: how `authfsm login --profile NAME`
// obtains the first pair, or a new one when the family was revoked or
// logged out. A profile with one does not need refresh_token_file: while
// its store holds no pair it waits for the login (its session needs a
// login, states.NeedsLogin), and so it does, rather than being revoked,
// when the server refuses its refresh token for good.
type LoginConfig struct {
	// Flow is LoginDevice or LoginBrowser.
	Flow LoginFlow
	// Scopes are requested; nil means the profile's scopes.
	Scopes []string
	// Params are extra parameters of the authorization or device
	// authorization request (prompt, audience, …).
	Params map[string][]string
	// AuthURL (browser) or DeviceURL (device) is the flow's endpoint;
	// empty means the issuer's metadata.
	AuthURL, DeviceURL string
	// Listen is the loopback address the browser flow's redirect comes
	// back to: "127.0.0.1:0" (an ephemeral port) unless set.
	Listen string
	// Timeout bounds the browser flow's wait for the redirect
	// (login.DefaultBrowserTimeout unless set).
	Timeout time.Duration
}

// defaultLoginListen is where the browser flow's redirect comes back to
// unless the login block says otherwise: an ephemeral port on the IPv4
// loopback (RFC 8252 §7.3).
const defaultLoginListen = "127.0.0.1:0"

// login reads a profile's login block; loginURLs checks its URLs once the
// profile's allow_http is known.
func (p *cparser) login(n *yaml.Node, key string) *LoginConfig {
	l := &LoginConfig{Listen: defaultLoginListen, Timeout: login.DefaultBrowserTimeout}
	var flow string
	given := p.Mapping(n, key, []yamlwalk.Field{
		{Key: "flow", Set: p.NonEmpty(&flow)},
		{Key: "scopes", Set: p.Strings(&l.Scopes)},
		{Key: "params", Set: func(n *yaml.Node, k string) { l.Params = p.params(n, k) }},
		{Key: "auth_url", Set: p.NonEmpty(&l.AuthURL)},
		{Key: "device_url", Set: p.NonEmpty(&l.DeviceURL)},
		{Key: "listen", Set: p.NonEmpty(&l.Listen)},
		{Key: "timeout", Set: p.Duration(&l.Timeout, time.Second, time.Hour)},
	})
	at := func(k string) *yaml.Node {
		if g := given[k]; g != nil {
			return g
		}
		return n
	}
	if p.Err != nil {
		return nil
	}
	l.Flow = LoginFlow(flow)
	switch {
	case flow == "":
		p.fail(n, key+".flow", "required: device (a code printed on the terminal) or browser")
	case l.Flow != LoginDevice && l.Flow != LoginBrowser:
		p.fail(at("flow"), key+".flow", "want device or browser")
	case l.Flow == LoginDevice && (l.AuthURL != "" || given["listen"] != nil || given["timeout"] != nil):
		p.fail(n, key+".flow", "auth_url, listen and timeout apply to the browser flow only")
	case l.Flow == LoginBrowser && l.DeviceURL != "":
		p.fail(at("device_url"), key+".device_url", "applies to the device flow only")
	case !loopbackListen(l.Listen):
		p.fail(at("listen"), key+".listen", "want host:port on the loopback (127.0.0.1:8085; port 0 for any): the redirect carries the authorization code")
	}
	if p.Err != nil {
		return nil
	}
	return l
}

// loginURLs checks the URLs of the login block n, l.
func (p *cparser) loginURLs(n *yaml.Node, key string, l *LoginConfig, allowHTTP bool) {
	for _, u := range []struct{ k, raw string }{{"auth_url", l.AuthURL}, {"device_url", l.DeviceURL}} {
		if u.raw == "" || p.Err != nil {
			continue
		}
		p.checkURL(yamlwalk.KeyNode(n, u.k), key+"."+u.k, u.raw, allowHTTP)
	}
}

// loopbackListen reports whether s is host:port on the loopback.
func loopbackListen(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return false
	}
	return loopback(strings.Trim(host, "[]"))
}

// loginHint says how to log a profile in, for its session's errors.
func loginHint(cfgFile, profile string) string {
	return "run authfsm login --profile " + profile + " --config " + cfgFile
}

// loginEndpoint returns the profile's endpoint with its login block's
// endpoints.
func (pr *Profile) loginEndpoint(e oauth.Endpoint) oauth.Endpoint {
	if l := pr.Login; l != nil {
		e.AuthURL, e.DeviceAuthURL = l.AuthURL, l.DeviceURL
	}
	e.RevocationURL = pr.RevocationURL
	return e
}
