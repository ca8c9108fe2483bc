package redact

import (
	"strings"
	"unicode"
)

// MaxDescription bounds the error_description and error_uri kept from a
// server's answer, in runes; MaxCode bounds its error code. fosite's
// descriptions (RFC 6749's sentence for the code, then a hint) run to about
// 260 runes, and the hint is what tells its answers apart: "…Please retry
// the request." (see policy.Classify).
const (
	MaxDescription = 400
	MaxCode        = 64
)

// Text makes text from a server fit for an error message: every
// secret sc knows is replaced by "[redacted]", characters that could forge
// a log line or hide in one (controls, format characters such as bidi
// overrides, line and paragraph separators) are dropped, other spaces
// become U+0020, and the result is cut to at most n runes. sc runs before
// and after the clean-up, so a secret the server broke up with control
// characters is found too, and before the cut, so no prefix of one is left.
func Text(sc Scrubber, s string, n int) string {
	s = sc.Scrub(s)
	var b strings.Builder
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Zs, r):
			b.WriteByte(' ')
		case unicode.IsPrint(r):
			b.WriteRune(r)
		}
	}
	s = sc.Scrub(b.String())
	b.Reset()
	for _, r := range s {
		if n == 0 {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
		n--
	}
	return b.String()
}
