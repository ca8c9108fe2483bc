package tokenserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/ory/fosite"
)

// Discovery says which metadata documents the server publishes for the
// issuer SetIssuer names.
type Discovery uint8

const (
	// DiscoveryRFC8414 publishes /.well-known/oauth-authorization-server
	// with the issuer's path appended (RFC 8414 §3.1).
	DiscoveryRFC8414 Discovery = 1 << iota
	// DiscoveryOIDC publishes {issuer}/.well-known/openid-configuration
	// (OpenID Connect Discovery 1.0 §4), as Keycloak does and no more.
	DiscoveryOIDC
)

// Metadata is the authorization server metadata the Server publishes.
type Metadata struct {
	Issuer                            string   `json:"issuer"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgs      []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	RevocationEndpoint                string   `json:"revocation_endpoint,omitempty"`
}

// public is the server's public identity: the issuer its clients know it
// by (nginx's URL, usually, with an optional path) and what it publishes.
type public struct {
	issuer  string
	path    string // the issuer's path, without a trailing slash
	publish Discovery
}

// SetIssuer names the server's public identity: issuer is the URL its
// clients reach it by (nginx's URL, optionally with a path such as
// /realms/it). From then on the token endpoint is also served at the
// issuer's path + TokenPath, assertions addressed to issuer+TokenPath are
// accepted as well as those to URL()+TokenPath (fosite's token URLs), and
// the metadata documents publish names are served, naming issuer and
// token_endpoint issuer+TokenPath. The issuer cannot be known before nginx
// runs, and nginx needs the server's address: hence a setter.
func (s *Server) SetIssuer(issuer string, publish Discovery) error {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("tokenserver: issuer %q is not a URL without query or fragment", issuer)
	}
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	s.pub = public{issuer: issuer, path: strings.TrimSuffix(u.EscapedPath(), "/"), publish: publish}
	return nil
}

func (s *Server) public() public {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	return s.pub
}

// Metadata returns the document the server publishes (empty before
// SetIssuer).
func (s *Server) Metadata() Metadata {
	p := s.public()
	if p.issuer == "" {
		return Metadata{}
	}
	return Metadata{
		Issuer:                            p.issuer,
		TokenEndpoint:                     strings.TrimSuffix(p.issuer, "/") + TokenPath,
		GrantTypesSupported:               []string{"password", "refresh_token", "client_credentials"},
		TokenEndpointAuthMethodsSupported: []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		TokenEndpointAuthSigningAlgs:      []string{"ES256", "RS256"},
		RevocationEndpoint:                strings.TrimSuffix(p.issuer, "/") + RevokePath,
	}
}

// tokenURLs are the URLs an assertion's aud may name.
func (s *Server) tokenURLs() []string {
	urls := []string{s.URL() + TokenPath}
	if p := s.public(); p.issuer != "" {
		urls = append(urls, strings.TrimSuffix(p.issuer, "/")+TokenPath)
	}
	return urls
}

// fositeConfig is fosite's Config with the token URLs the Server's
// public identity names (fosite.Config has one fixed TokenURL).
type fositeConfig struct {
	*fosite.Config
	s *Server
}

func (c fositeConfig) GetTokenURLs(context.Context) []string { return c.s.tokenURLs() }

// serveGet answers the published metadata documents, and 404 otherwise.
func (s *Server) serveGet(w http.ResponseWriter, r *http.Request) {
	p := s.public()
	path := r.URL.EscapedPath()
	ok := p.issuer != "" &&
		(p.publish&DiscoveryRFC8414 != 0 && path == "/.well-known/oauth-authorization-server"+p.path ||
			p.publish&DiscoveryOIDC != 0 && path == p.path+"/.well-known/openid-configuration")
	s.stats.mu.Lock()
	if ok {
		s.stats.metadataServed++
	} else {
		s.stats.notFound++
	}
	s.stats.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "max-age=60")
	_ = json.NewEncoder(w).Encode(s.Metadata())
}

// servePost serves the token and revocation endpoints under the issuer's
// path too.
func (s *Server) servePost(stop <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if p := s.public(); p.issuer != "" && p.path != "" && r.URL.EscapedPath() == p.path+TokenPath {
			s.serveToken(w, r, stop)
			return
		}
		if p := s.public(); p.issuer != "" && p.path != "" && r.URL.EscapedPath() == p.path+RevokePath {
			s.serveRevoke(w, r)
			return
		}
		s.stats.mu.Lock()
		s.stats.notFound++
		s.stats.mu.Unlock()
		http.NotFound(w, r)
	}
}
