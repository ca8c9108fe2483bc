package agent

import (
	"errors"
	"net/url"
	"slices"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/authfsm/authfsm/declare"
	"github.com/authfsm/authfsm/internal/yamlwalk"
	"github.com/authfsm/authfsm/session/oauth"
)

// grants maps the file's grant names to the session's.
var grants = map[string]oauth.Grant{
	"refresh_token":                  oauth.GrantRefreshToken,
	"client_credentials":             oauth.GrantClientCredentials,
	"token_exchange":                 oauth.GrantTokenExchange,
	string(oauth.GrantTokenExchange): oauth.GrantTokenExchange,
}

// credentialParams are parameter names whose values are credentials or
// that the agent sets itself: params may not carry them.
var credentialParams = []string{"client_secret", "client_assertion", "client_assertion_type", "assertion", "subject_token",
	"subject_token_type", "actor_token", "actor_token_type", "requested_token_type", "password", "refresh_token",
	"access_token", "grant_type", "scope", "client_id"}

func (p *cparser) profile(n *yaml.Node, path string, pr *Profile) {
	var grant, style string
	var sessionNode, loginNode *yaml.Node
	given := p.Mapping(n, path, []yamlwalk.Field{
		{Key: "token_url", Set: p.NonEmpty(&pr.TokenURL)},
		{Key: "issuer", Set: p.NonEmpty(&pr.Issuer)},
		{Key: "allow_http", Set: p.Boolean(&pr.AllowHTTP)},
		{Key: "client_id", Set: p.NonEmpty(&pr.ClientID)},
		inline("client_secret", "client_secret_file or client_secret_env"),
		{Key: "client_secret_file", Set: p.path(&pr.ClientSecretFile)},
		{Key: "client_secret_env", Set: p.envName(&pr.ClientSecretEnv)},
		{Key: "auth_style", Set: p.NonEmpty(&style)},
		{Key: "private_key_jwt", Set: func(n *yaml.Node, key string) {
			pr.PrivateKeyJWT = &PrivateKeyJWT{}
			p.Mapping(n, key, []yamlwalk.Field{
				{Key: "key_file", Set: p.path(&pr.PrivateKeyJWT.KeyFile)},
				{Key: "key_id", Set: p.NonEmpty(&pr.PrivateKeyJWT.KeyID)},
				{Key: "audience", Set: p.NonEmpty(&pr.PrivateKeyJWT.Audience)},
				inline("key", "key_file"),
			})
			if p.Err == nil && pr.PrivateKeyJWT.KeyFile == "" {
				p.fail(n, key+".key_file", "required")
			}
		}},
		inline("private_key", "private_key_jwt: {key_file: FILE}"),
		{Key: "assertion_file", Set: p.path(&pr.AssertionFile)},
		{Key: "assertion_type", Set: p.NonEmpty(&pr.AssertionType)},
		inline("client_assertion", "assertion_file"),
		inline("assertion", "assertion_file"),
		{Key: "grant", Set: p.NonEmpty(&grant)},
		inline("refresh_token", "refresh_token_file or refresh_token_env"),
		{Key: "refresh_token_file", Set: p.path(&pr.RefreshTokenFile)},
		{Key: "refresh_token_env", Set: p.envName(&pr.RefreshTokenEnv)},
		{Key: "login", Set: func(n *yaml.Node, key string) { loginNode, pr.Login = n, p.login(n, key) }},
		{Key: "revocation_url", Set: p.NonEmpty(&pr.RevocationURL)},
		inline("subject_token", "subject_token_file"),
		{Key: "subject_token_file", Set: p.path(&pr.SubjectTokenFile)},
		{Key: "subject_token_type", Set: p.NonEmpty(&pr.SubjectTokenType)},
		{Key: "requested_token_type", Set: p.NonEmpty(&pr.RequestedTokenType)},
		inline("access_token", "a grant and a store; the agent obtains its tokens itself"),
		inline("password", "a grant that needs no password in the file"),
		{Key: "scopes", Set: p.Strings(&pr.Scopes)},
		{Key: "params", Set: func(n *yaml.Node, key string) { pr.Params = p.params(n, key) }},
		{Key: "session", Set: func(n *yaml.Node, key string) { sessionNode = n }},
		{Key: "store", Set: func(n *yaml.Node, key string) { pr.Store = p.store(n, key) }},
		{Key: "proxy", Set: func(n *yaml.Node, key string) { pr.Proxy = p.proxy(n, key) }},
		{Key: "git", Set: func(n *yaml.Node, key string) { pr.Git = p.git(n, key) }},
	})
	if p.Err != nil {
		return
	}
	s, err := declare.ParseNode(p.file, sessionNode, path+".session")
	if err != nil {
		var de *declare.Error
		if errors.As(err, &de) {
			// The session block's messages quote values; this file's never do.
			p.Err = &yamlwalk.Problem{Line: de.Line, Key: de.Key, Msg: quoted.ReplaceAllString(de.Msg, "the value"), Kind: de.Kind}
		} else {
			p.fail(sessionNode, path+".session", "%v", err)
		}
		return
	}
	pr.Session = s
	at := func(key string) *yaml.Node {
		if k := given[key]; k != nil {
			return k
		}
		return n
	}
	if grant == "" {
		grant = "refresh_token"
	}
	g, ok := grants[grant]
	if !ok {
		p.fail(at("grant"), path+".grant", "want refresh_token, client_credentials or token_exchange")
		return
	}
	pr.Grant = g
	switch style {
	case "", "auto":
		pr.AuthStyle = oauth.AuthAutoDetect
	case "basic":
		pr.AuthStyle = oauth.AuthBasic
	case "body":
		pr.AuthStyle = oauth.AuthBody
	default:
		p.fail(at("auth_style"), path+".auth_style", "want auto, basic or body")
		return
	}
	count := func(keys ...string) (n int, names []string) {
		for _, k := range keys {
			if given[k] != nil {
				n++
				names = append(names, k)
			}
		}
		return n, names
	}
	auth, authKeys := count("client_secret_file", "client_secret_env", "private_key_jwt", "assertion_file")
	switch {
	case (pr.TokenURL == "") == (pr.Issuer == ""):
		p.fail(n, path+".token_url", "give token_url or issuer (discovered), one of them")
	case auth > 1:
		p.fail(at(authKeys[1]), path+"."+authKeys[1], "%s authenticates the client already; give one of client_secret_file, client_secret_env, private_key_jwt, assertion_file", authKeys[0])
	case given["assertion_type"] != nil && given["assertion_file"] == nil:
		p.fail(at("assertion_type"), path+".assertion_type", "applies with assertion_file only")
	case auth > 0 && pr.ClientID == "":
		p.fail(n, path+".client_id", "required with %s", authKeys[0])
	case pr.Grant == oauth.GrantClientCredentials && pr.ClientID == "":
		p.fail(n, path+".client_id", "required by the client_credentials grant")
	case pr.Grant == oauth.GrantRefreshToken && pr.Store == nil:
		p.fail(n, path+".store", "required by the refresh_token grant: a rotated refresh token must outlive the agent")
	case pr.Grant != oauth.GrantRefreshToken && (pr.RefreshTokenFile != "" || pr.RefreshTokenEnv != ""):
		p.fail(n, path+".refresh_token_file", "refresh_token_file and refresh_token_env apply to the refresh_token grant only")
	case pr.RefreshTokenFile != "" && pr.RefreshTokenEnv != "":
		p.fail(at("refresh_token_env"), path+".refresh_token_env", "give refresh_token_file or refresh_token_env, not both")
	case pr.Grant == oauth.GrantTokenExchange && pr.SubjectTokenFile == "":
		p.fail(n, path+".subject_token_file", "required by the token_exchange grant")
	case pr.Grant != oauth.GrantTokenExchange && (pr.SubjectTokenFile != "" || pr.SubjectTokenType != "" || pr.RequestedTokenType != ""):
		p.fail(n, path+".subject_token_file", "subject_token_file, subject_token_type and requested_token_type apply to the token_exchange grant only")
	case pr.Session.Fallback && auth == 0:
		p.fail(n, path+".session.fallback", "the client_credentials fallback needs the client's authentication (client_secret_file, client_secret_env, private_key_jwt or assertion_file)")
	case pr.Session.Fallback && pr.ClientID == "":
		p.fail(n, path+".client_id", "required by the client_credentials fallback")
	}
	if loginNode != nil && p.Err == nil {
		switch p.loginURLs(loginNode, path+".login", pr.Login, pr.AllowHTTP); {
		case p.Err != nil:
		case pr.Grant != oauth.GrantRefreshToken:
			p.fail(loginNode, path+".login", "applies to the refresh_token grant only: a login obtains a refresh token")
		case pr.ClientID == "":
			p.fail(n, path+".client_id", "required by login")
		}
	}
	if pr.Grant == oauth.GrantTokenExchange && pr.SubjectTokenType == "" {
		pr.SubjectTokenType = oauth.TokenTypeJWT
	}
	for _, u := range []struct{ key, raw string }{{"token_url", pr.TokenURL}, {"issuer", pr.Issuer}, {"revocation_url", pr.RevocationURL}} {
		if u.raw != "" && p.Err == nil {
			p.checkURL(at(u.key), path+"."+u.key, u.raw, pr.AllowHTTP)
		}
	}
}

// checkURL checks a URL without quoting it: it may carry a secret.
func (p *cparser) checkURL(n *yaml.Node, key, raw string, allowHTTP bool) *url.URL {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		p.fail(n, key, "not an absolute URL")
	case u.User != nil:
		p.fail(n, key, "a URL with user information is refused: credentials belong in files")
	case u.Scheme == "https":
		return u
	case u.Scheme == "http" && (allowHTTP || loopback(u.Hostname())):
		return u
	case u.Scheme == "http":
		p.fail(n, key, "plain HTTP to another host would send tokens in clear; use https (or allow_http: true)")
	default:
		p.fail(n, key, "the scheme must be https")
	}
	return nil
}

func (p *cparser) params(n *yaml.Node, key string) url.Values {
	v := url.Values{}
	if n.Kind != yaml.MappingNode {
		p.fail(n, key, "want a mapping of names to values, got %s", p.Describe(n))
		return v
	}
	for i := 0; i+1 < len(n.Content) && p.Err == nil; i += 2 {
		k, val := n.Content[i], yamlwalk.Resolve(n.Content[i+1])
		name := yamlwalk.Join(key, k.Value)
		if slices.Contains(credentialParams, k.Value) {
			p.fail(k, name, "refused: the agent sets it from the profile's other keys, and credentials belong in files")
			return v
		}
		if v.Has(k.Value) {
			p.fail(k, name, "key given twice")
			return v
		}
		if val.Kind == yaml.SequenceNode {
			var list []string
			p.Strings(&list)(val, name)
			v[k.Value] = list
			continue
		}
		var s string
		p.NonEmpty(&s)(val, name)
		v.Set(k.Value, s)
	}
	return v
}

// maxIdleConnsLimit is the largest max_idle_conns.
const maxIdleConnsLimit = 10000

func (p *cparser) proxy(n *yaml.Node, key string) *Proxy {
	px := &Proxy{MaxReplayBody: DefaultMaxReplayBody, MaxIdleConns: DefaultMaxIdleConns}
	var upstream string
	var allowHTTP bool
	var maxBody int
	given := p.Mapping(n, key, []yamlwalk.Field{
		{Key: "listen", Set: func(n *yaml.Node, k string) {
			if l := p.listen(n, k); l != nil {
				px.Listen = *l
			}
		}},
		{Key: "upstream", Set: p.NonEmpty(&upstream)},
		{Key: "allow_http", Set: p.Boolean(&allowHTTP)},
		{Key: "allowed_hosts", Set: p.Strings(&px.AllowedHosts)},
		{Key: "max_replay_body", Set: func(n *yaml.Node, k string) {
			s, ok := p.Scalar(n, k)
			if !ok {
				return
			}
			v, err := strconv.Atoi(s)
			if err != nil || v < 0 || v > 64<<20 {
				p.fail(n, k, "want a number of bytes from 0 to %d", 64<<20)
				return
			}
			maxBody = v
		}},
		{Key: "max_idle_conns", Set: func(n *yaml.Node, k string) {
			s, ok := p.Scalar(n, k)
			if !ok {
				return
			}
			v, err := strconv.Atoi(s)
			if err != nil || v < 1 || v > maxIdleConnsLimit {
				p.fail(n, k, "want a number of connections from 1 to %d", maxIdleConnsLimit)
				return
			}
			px.MaxIdleConns = v
		}},
	})
	switch {
	case p.Err != nil:
		return nil
	case given["listen"] == nil:
		p.fail(n, key+".listen", "required")
	case upstream == "":
		p.fail(n, key+".upstream", "required")
	}
	if p.Err != nil {
		return nil
	}
	if given["max_replay_body"] != nil {
		px.MaxReplayBody = int64(maxBody)
	}
	u := p.checkURL(given["upstream"], key+".upstream", upstream, allowHTTP)
	if u != nil && (u.RawQuery != "" || u.Fragment != "") {
		p.fail(given["upstream"], key+".upstream", "a query or fragment does not apply to a proxy's upstream")
	}
	px.Upstream = u
	return px
}
