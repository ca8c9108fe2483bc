package agent

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

var tok = TokenResponse{AccessToken: "eyJhbGciOiJFUzI1NiJ9.e30.sig", TokenType: "Bearer",
	ExpiresAt: time.Date(2025, 6, 1, 12, 30, 45, 900_000_000, time.FixedZone("CEST", 2*3600)), State: "valid"}

func TestExecCredential(t *testing.T) {
	for _, tc := range []struct {
		name, info, golden, err string
	}{
		{"no exec info", "", "exec-credential-v1.golden", ""},
		{"v1", `{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}`, "exec-credential-v1.golden", ""},
		{"v1beta1", `{"apiVersion":"client.authentication.k8s.io/v1beta1"}`, "exec-credential-v1beta1.golden", ""},
		{"alpha", `{"apiVersion":"client.authentication.k8s.io/v1alpha1"}`, "", "want client.authentication.k8s.io/v1 or"},
		{"garbage", `{`, "", "not a JSON ExecCredential"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := ExecCredentialVersion(tc.info)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			var b bytes.Buffer
			if err := WriteExecCredential(&b, tok, v); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, b.Bytes())
			// It decodes as the Kubernetes type, whose expiry is a
			// metav1.Time (RFC 3339, whole seconds) no later than the token's.
			var ec struct {
				Kind, APIVersion string
				Status           struct {
					Token               string
					ExpirationTimestamp time.Time
				}
			}
			if err := json.Unmarshal(b.Bytes(), &ec); err != nil {
				t.Fatal(err)
			}
			exp := ec.Status.ExpirationTimestamp
			if ec.Kind != "ExecCredential" || ec.Status.Token != tok.AccessToken || exp.After(tok.ExpiresAt) || tok.ExpiresAt.Sub(exp) >= time.Second {
				t.Errorf("decoded %+v", ec)
			}
		})
	}
}

func TestGitCredential(t *testing.T) {
	for _, tc := range []struct {
		name, in, golden string
	}{
		{"get", "protocol=https\nhost=git.example\n\n", "git-get.golden"},
		{"get with a user name", "protocol=https\nhost=git.example\nusername=alice\nwwwauth[]=Bearer realm=\"x\"\n", "git-get-username.golden"},
		{"CRLF, no blank line", "protocol=https\r\nhost=git.example\r\n", "git-get.golden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := ReadGitRequest(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := writeGitCredential(&b, req, tok, DefaultGitUsername, tok.ExpiresAt.Add(-time.Hour)); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, b.Bytes())
		})
	}
	// A token served past its advertised instant (the agent's wait for its
	// replacement ran out) expires within a second for git, never before
	// git's now: git drops a password whose expiry has passed and asks the
	// user for one instead.
	for _, tc := range []struct {
		now  time.Time
		want int64
	}{
		{tok.ExpiresAt.Add(-time.Hour), 1748773845},                           // the advertised instant
		{tok.ExpiresAt.Add(-100 * time.Millisecond), 1748773846},              // its second, begun: the next one
		{tok.ExpiresAt, 1748773846},                                           // reached
		{tok.ExpiresAt.Add(10*time.Second + 50*time.Millisecond), 1748773856}, // long past
	} {
		var b bytes.Buffer
		if err := writeGitCredential(&b, nil, tok, DefaultGitUsername, tc.now); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("password_expiry_utc=%d\n", tc.want); !strings.HasSuffix(b.String(), want) {
			t.Errorf("at %v: %q, want it to end %q", tc.now, b.String(), want)
		}
	}
	if _, err := ReadGitRequest(strings.NewReader("protocol https\n")); err == nil {
		t.Error("a line without '=' was accepted")
	}
	bad := tok
	bad.AccessToken = "a\nusername=mallory"
	if err := WriteGitCredential(&bytes.Buffer{}, nil, bad, "x"); err == nil {
		t.Error("a token with a newline was written")
	}
}
