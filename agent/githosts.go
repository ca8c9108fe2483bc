package agent

import (
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/authfsm/authfsm/internal/yamlwalk"
)

// Git is what a profile's token answers git for, through the credential
// helper `authfsm token --format git`.
type Git struct {
	// Hosts are the hosts the helper answers for, as git's credential
	// requests name them: NAME or NAME:PORT. The helper answers for them
	// over https, and over plain http only when the host is loopback
	// (127.0.0.1, [::1], localhost): a token sent in clear to another host
	// is a token handed to the network.
	Hosts []string
}

// GitHosts returns the hosts the git credential helper answers for with
// the profile's token: its git.hosts, then its proxy's upstream's host
// (the token is for that API already). A profile with neither answers
// git for no host.
func (pr *Profile) GitHosts() []string {
	var hosts []string
	if pr.Git != nil {
		hosts = append(hosts, pr.Git.Hosts...)
	}
	if pr.Proxy != nil && pr.Proxy.Upstream != nil {
		if h := pr.Proxy.Upstream.Host; !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// AnswersGit reports whether the git credential helper may answer a
// request of git's for protocol and host (its credential request's fields)
// with the profile's token: host is one of GitHosts (names compared
// without case, a port equal to the protocol's default matching none),
// and protocol is https, or http with a loopback host. Any other protocol,
// an empty host, a host the profile does not name: false.
func (pr *Profile) AnswersGit(protocol, host string) bool {
	name, port, ok := splitGitHost(host)
	switch {
	case !ok:
		return false
	case protocol == "https":
	case protocol == "http" && loopback(name):
	default:
		return false
	}
	def := map[string]string{"https": "443", "http": "80"}[protocol]
	norm := func(p string) string {
		if p == def {
			return ""
		}
		return p
	}
	for _, h := range pr.GitHosts() {
		n, p, ok := splitGitHost(h)
		if ok && n == name && norm(p) == norm(port) {
			return true
		}
	}
	return false
}

// splitGitHost splits NAME or NAME:PORT (as git and URLs write it, an IPv6
// address in brackets) into a lower-case name without a trailing dot and
// the port; false when host is not one.
func splitGitHost(host string) (name, port string, ok bool) {
	u, err := url.Parse("https://" + host)
	if err != nil || host == "" || u.Host != host || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return "", "", false
	}
	name, port = u.Hostname(), u.Port()
	if name == "" || strings.ContainsAny(name, "*/@") {
		return "", "", false
	}
	if port != "" {
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return "", "", false
		}
	} else if strings.HasSuffix(host, ":") {
		return "", "", false
	}
	if ip := net.ParseIP(name); ip != nil {
		return ip.String(), port, true
	}
	return strings.TrimSuffix(strings.ToLower(name), "."), port, true
}

// git reads a profile's git block.
func (p *cparser) git(n *yaml.Node, key string) *Git {
	g := &Git{}
	given := p.Mapping(n, key, []yamlwalk.Field{
		{Key: "hosts", Set: p.Strings(&g.Hosts)},
	})
	if p.Err != nil {
		return nil
	}
	if given["hosts"] == nil || len(g.Hosts) == 0 {
		p.fail(n, key+".hosts", "required: the hosts git's credential helper answers for (git.example.com, or 127.0.0.1:3000)")
		return nil
	}
	for i, h := range g.Hosts {
		if _, _, ok := splitGitHost(h); !ok {
			p.fail(given["hosts"], key+".hosts["+strconv.Itoa(i)+"]",
				"want a host as git names it, NAME or NAME:PORT, without a scheme or a path (https is implied; plain http is answered for a loopback host only)")
			return nil
		}
	}
	return g
}

// gitScope lets a /v1/token request go on (true) unless it names git's
// protocol and host (as the credential helper does) and the profile does
// not answer git for them; then it answers 403, which the helper turns
// into an empty answer to git.
func (a *Agent) gitScope(w http.ResponseWriter, r *http.Request, p *profile) bool {
	q := query(r)
	if !q.Has("protocol") && !q.Has("host") {
		return true
	}
	protocol, host := q.Get("protocol"), q.Get("host")
	if p.cfg.AnswersGit(protocol, host) {
		return true
	}
	p.n.tokenRefused.Add(1)
	hosts := p.cfg.GitHosts()
	var why string
	switch name, _, ok := splitGitHost(host); {
	case len(hosts) == 0:
		why = "it names no git host (give it git: {hosts: [HOST]})"
	case ok && protocol == "http" && !loopback(name):
		why = "plain http is answered for a loopback host only: the token would cross the network in clear"
	case protocol != "https" && protocol != "http":
		why = "git's protocol must be https (or http to a loopback host)"
	default:
		why = "it answers for " + strings.Join(hosts, ", ") + " (git.hosts and its proxy's upstream)"
	}
	if len(host) > 256 {
		host = host[:256] + "…"
	}
	writeError(w, http.StatusForbidden, "authfsm agent: profile "+p.cfg.Name+" does not answer git for "+protocol+"://"+host+": "+why, "")
	return false
}
