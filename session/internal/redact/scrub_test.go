package redact

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
)

func TestScrubber(t *testing.T) {
	const rt = "rt/secret+1=="
	b64 := base64.StdEncoding.EncodeToString([]byte(rt))
	tests := []struct {
		name    string
		secrets []string
		in      string
		want    string
	}{
		{"no secrets", nil, "refresh token rt/secret+1== unknown", "refresh token rt/secret+1== unknown"},
		{"empty secrets are ignored", []string{"", ""}, "nothing to hide", "nothing to hide"},
		{"as it is", []string{rt}, "refresh token rt/secret+1== unknown", "refresh token [redacted] unknown"},
		{"every occurrence", []string{rt}, rt + " and " + rt, "[redacted] and [redacted]"},
		{"query-escaped, as the form sent it", []string{rt}, "bad refresh_token=" + url.QueryEscape(rt), "bad refresh_token=[redacted]"},
		{"path-escaped", []string{"a b/c"}, "at /token/a%20b%2Fc", "at /token/[redacted]"},
		{"base64", []string{rt}, "got " + b64, "got [redacted]"},
		{"base64 without padding", []string{rt}, "got " + strings.TrimRight(b64, "=") + ".", "got [redacted]."},
		{"base64url", []string{"??>>"}, "got " + base64.URLEncoding.EncodeToString([]byte("??>>")), "got [redacted]"},
		{"overlapping secrets leave nothing of either", []string{"xab", "abcdef"}, "1xabcdef2", "1[redacted]2"},
		{"a secret inside another", []string{"secret", "my-secret-token"}, "is my-secret-token?", "is [redacted]?"},
		{"adjacent occurrences", []string{"ab"}, "ababab", "[redacted]"},
		{"overlapping occurrences of one secret", []string{"aa"}, "xaaay", "x[redacted]y"},
		{"several secrets", []string{"at-1", "rt-1", "cs-1"}, "at-1 rt-1 cs-1 ok", "[redacted] [redacted] [redacted] ok"},
		{"text shorter than a secret", []string{"long-secret"}, "long", "long"},
		{"empty text", []string{"s"}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NewScrubber(tc.secrets...).Scrub(tc.in); got != tc.want {
				t.Errorf("scrub(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	if got := (Scrubber{}).Scrub("x"); got != "x" {
		t.Errorf("the zero scrubber changed %q to %q", "x", got)
	}
}
