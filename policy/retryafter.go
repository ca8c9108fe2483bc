package policy

import (
	"strings"
	"time"
)

// maxRetryAfterSeconds caps a delay-seconds value so that the conversion to
// time.Duration cannot overflow; a day is far beyond any useful wait.
const maxRetryAfterSeconds = 86400

// httpDateLayouts are the three date forms RFC 9110 §5.6.7 requires a
// recipient to accept: IMF-fixdate, RFC 850 and asctime.
var httpDateLayouts = [...]string{
	"Mon, 02 Jan 2006 15:04:05 GMT",
	"Monday, 02-Jan-06 15:04:05 GMT",
	"Mon Jan _2 15:04:05 2006",
}

// ParseRetryAfter parses a Retry-After header value (RFC 9110 §10.2.3): either
// delay-seconds or an HTTP-date, which is measured from now. It reports false
// for an empty or unparsable value. A date in the past yields 0 and true.
// Delays are capped at one day.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		n := 0
		for i := 0; i < len(v); i++ {
			c := v[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			if n < maxRetryAfterSeconds {
				n = n*10 + int(c-'0')
			}
		}
		return time.Duration(min(n, maxRetryAfterSeconds)) * time.Second, true
	}
	for _, layout := range httpDateLayouts {
		t, err := time.Parse(layout, v)
		if err != nil {
			continue
		}
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return min(d, maxRetryAfterSeconds*time.Second), true
	}
	return 0, false
}
