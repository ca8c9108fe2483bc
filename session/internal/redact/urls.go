package redact

import (
	"net"
	"net/url"
	"strings"
)

// How the package shows URLs: never a password, never a query value.

// IsLoopback reports whether host certainly names this machine: "localhost"
// itself or a literal loopback address (127.0.0.0/8, ::1). Names under
// .localhost are not trusted: RFC 6761 asks resolvers to keep them local,
// but many send them to ordinary DNS, where anyone may answer.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// URL returns a URL (a token endpoint's, an issuer's) as the session packages show it: without the
// password of its userinfo and with the values of its query redacted.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return RawURL(raw)
	}
	shown := *u
	shown.RawQuery = redactQuery(u.RawQuery)
	return shown.Redacted()
}

// RawURL hides the password of a URL that url.Parse refused, the way
// url.URL.Redacted does for one it accepted: the userinfo of the authority
// keeps its user name and loses the rest. The query's values are hidden as
// redactQuery hides them.
func RawURL(raw string) string {
	i := strings.Index(raw, "://")
	if i < 0 {
		// No authority in the usual form ("user:pw@host" parses as an
		// opaque URL): with an @ anywhere, a password may be in it.
		if j := strings.IndexByte(raw, '@'); j >= 0 {
			return "[unparsable URL, redacted]"
		}
		return redactRawQuery(raw)
	}
	start := i + len("://")
	end := len(raw)
	if j := strings.IndexAny(raw[start:], "/?#"); j >= 0 {
		end = start + j
	}
	at := strings.LastIndexByte(raw[start:end], '@')
	if at < 0 {
		return redactRawQuery(raw)
	}
	user := raw[start : start+at]
	if c := strings.IndexByte(user, ':'); c >= 0 {
		user = user[:c] + ":xxxxx"
	}
	return raw[:start] + user + redactRawQuery(raw[start+at:])
}

// redactRawQuery hides the values of the query in a raw URL, the part
// between the first "?" and the fragment, as redactQuery does.
func redactRawQuery(raw string) string {
	q := strings.IndexByte(raw, '?')
	if q < 0 {
		return raw
	}
	if h := strings.IndexByte(raw, '#'); h >= 0 && h < q {
		return raw // the "?" is in the fragment
	}
	end := len(raw)
	if h := strings.IndexByte(raw[q:], '#'); h >= 0 {
		end = q + h
	}
	return raw[:q+1] + redactQuery(raw[q+1:end]) + raw[end:]
}

// redactQuery replaces each value of a raw query with "xxxxx" and keeps the
// keys ("tenant=acme&key=k" becomes "tenant=xxxxx&key=xxxxx"): a token URL
// may carry an API key or a signature. A part without "=" may be a bare
// value, and is hidden whole; an empty value stays empty.
func redactQuery(q string) string {
	if q == "" {
		return q
	}
	parts := strings.Split(q, "&")
	for i, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		switch {
		case !ok && p != "":
			parts[i] = "xxxxx"
		case v != "":
			parts[i] = k + "=xxxxx"
		}
	}
	return strings.Join(parts, "&")
}
