package agent

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// The ExecCredential versions a Kubernetes client may ask for.
const (
	ExecCredentialV1      = "client.authentication.k8s.io/v1"
	ExecCredentialV1beta1 = "client.authentication.k8s.io/v1beta1"
)

// ExecCredentialVersion returns the apiVersion that a client's
// KUBERNETES_EXEC_INFO asks for: v1 when it is empty, v1 or v1beta1 as
// named, an error for any other.
func ExecCredentialVersion(execInfo string) (string, error) {
	if strings.TrimSpace(execInfo) == "" {
		return ExecCredentialV1, nil
	}
	var info struct {
		APIVersion string `json:"apiVersion"`
	}
	if err := json.Unmarshal([]byte(execInfo), &info); err != nil {
		return "", errors.New("KUBERNETES_EXEC_INFO is not a JSON ExecCredential")
	}
	switch info.APIVersion {
	case "", ExecCredentialV1:
		return ExecCredentialV1, nil
	case ExecCredentialV1beta1:
		return ExecCredentialV1beta1, nil
	}
	return "", fmt.Errorf("KUBERNETES_EXEC_INFO asks for %q; want %s or %s", info.APIVersion, ExecCredentialV1, ExecCredentialV1beta1)
}

// execCredential is the Kubernetes ExecCredential, as much of it as a
// credential plugin answers (k8s.io/client-go/pkg/apis/clientauthentication).
type execCredential struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	Spec       struct {
		Interactive bool `json:"interactive"`
	} `json:"spec"`
	Status struct {
		// ExpirationTimestamp is a metav1.Time: RFC 3339 in UTC, whole
		// seconds. It is rounded down, so the client never keeps the token
		// past the instant the agent advertised.
		ExpirationTimestamp string `json:"expirationTimestamp"`
		Token               string `json:"token"`
	} `json:"status"`
}

// WriteExecCredential writes t as the ExecCredential of apiVersion (see
// ExecCredentialVersion) that kubectl and client-go read from a credential
// plugin: status.token and status.expirationTimestamp, which is
// t.ExpiresAt (the instant the agent stops handing the token out, before
// the refresh that may revoke it; not the token's own expiry) rounded
// down to the second. client-go runs the plugin again once that instant
// has passed; an instant already past (the agent served the token while
// its replacement was late) makes it use the token for one request and
// run the plugin again for the next.
func WriteExecCredential(w io.Writer, t TokenResponse, apiVersion string) error {
	var ec execCredential
	ec.Kind, ec.APIVersion = "ExecCredential", apiVersion
	ec.Status.Token = t.AccessToken
	ec.Status.ExpirationTimestamp = t.ExpiresAt.UTC().Truncate(time.Second).Format(time.RFC3339)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(ec)
}

// maxGitRequest bounds what ReadGitRequest reads.
const maxGitRequest = 64 << 10

// ReadGitRequest reads a git credential helper's request: key=value lines
// up to a blank line or the end of input (gitcredentials(7)). A repeated
// key (wwwauth[]) keeps its first value.
func ReadGitRequest(r io.Reader) (map[string]string, error) {
	req := map[string]string{}
	sc := bufio.NewScanner(io.LimitReader(r, maxGitRequest))
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			break
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, errors.New("git credential request: a line without '='")
		}
		if _, seen := req[k]; !seen {
			req[k] = v
		}
	}
	return req, sc.Err()
}

// DefaultGitUsername is the user name answered to git when its request
// names none: GitLab's for OAuth2 tokens; GitHub and Azure DevOps accept
// any.
const DefaultGitUsername = "oauth2"

// WriteGitCredential answers a git credential helper's get: the request's
// user name (or username when it names none), the token as the password,
// and t.ExpiresAt (the instant the agent stops handing the token out, not
// the token's own expiry) as password_expiry_utc in Unix seconds, after
// which git asks again rather than use a cached token (git 2.41 and
// later). It is never before the next whole second: git drops a password
// whose expiry has passed and asks the user instead, so a token served
// past its advertised instant is written to expire within a second.
func WriteGitCredential(w io.Writer, req map[string]string, t TokenResponse, username string) error {
	return writeGitCredential(w, req, t, username, time.Now())
}

func writeGitCredential(w io.Writer, req map[string]string, t TokenResponse, username string, now time.Time) error {
	if u := req["username"]; u != "" {
		username = u
	}
	if strings.ContainsAny(username, "\n\x00") || strings.ContainsAny(t.AccessToken, "\n\x00") {
		return errors.New("git credential: a value holds a newline or NUL")
	}
	_, err := fmt.Fprintf(w, "username=%s\npassword=%s\npassword_expiry_utc=%s\n",
		username, t.AccessToken, strconv.FormatInt(max(t.ExpiresAt.Unix(), now.Unix()+1), 10))
	return err
}
