// Package redact is how the session packages show what came from outside:
// text a server sent (an error_description, a header), scrubbed of every
// secret the request carried and of characters that could forge a log
// line, and URLs without a password or a query value. It also says which
// hosts are loopback, where plain HTTP is allowed.
package redact

import (
	"encoding/base64"
	"net/url"
	"strings"
)

// redactedText replaces each secret a Scrubber finds.
const redactedText = "[redacted]"

// A Scrubber removes known secrets from text that came from a server (an
// error_description, an error_uri, a header) before it can reach an error,
// a log line or an audit record: a server that echoes the refresh token it
// refused, or the client assertion it could not verify, would otherwise
// have the client print it. The zero Scrubber removes nothing.
type Scrubber struct {
	// forms holds every secret in every encoding scrub looks for.
	forms []string
}

// NewScrubber returns a Scrubber for secrets (empty ones are ignored). Each
// is looked for as it is, in the two URL escapings (the form it was sent
// in, a path) and in base64 with each of its four alphabets.
func NewScrubber(secrets ...string) Scrubber {
	var s Scrubber
	seen := map[string]bool{}
	add := func(f string) {
		if f != "" && !seen[f] {
			seen[f] = true
			s.forms = append(s.forms, f)
		}
	}
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		add(secret)
		add(url.QueryEscape(secret))
		add(url.PathEscape(secret))
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			add(enc.EncodeToString([]byte(secret)))
		}
	}
	return s
}

// Scrub returns text with each stretch covered by an occurrence of a known
// secret replaced by "[redacted]". Occurrences that overlap or touch, of one
// secret or of several, become one "[redacted]", so no part of any secret
// survives. It costs one pass over text per form.
func (s Scrubber) Scrub(text string) string {
	var hidden []bool // allocated at the first occurrence
	for _, f := range s.forms {
		end := 0 // hidden[:end] already holds this form's earlier occurrences
		for i := 0; i+len(f) <= len(text); {
			j := strings.Index(text[i:], f)
			if j < 0 {
				break
			}
			if hidden == nil {
				hidden = make([]bool, len(text))
			}
			start := i + j
			for k := max(start, end); k < start+len(f); k++ {
				hidden[k] = true
			}
			end = start + len(f)
			i = start + 1
		}
	}
	if hidden == nil {
		return text
	}
	var b strings.Builder
	for i := 0; i < len(text); i++ {
		if !hidden[i] {
			b.WriteByte(text[i])
			continue
		}
		b.WriteString(redactedText)
		for i+1 < len(text) && hidden[i+1] {
			i++
		}
	}
	return b.String()
}
