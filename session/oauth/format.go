package oauth

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"

	"github.com/authfsm/authfsm/session/internal/redact"
)

// The Client and the Endpoint hold secrets (the client secret, the Params
// that are credentials), so each formats itself without them.

// Format implements fmt.Formatter: every verb prints the redacted endpoint
// URL, the client id, the grant, the authentication style and the names of
// the extra parameters, never the client secret or a parameter's value. Its
// receiver is a value, so a Client printed by value is covered too.
func (c Client) Format(f fmt.State, _ rune) { describeEndpoint(f, "Client{URL", c.url, c.e) }

// Format implements fmt.Formatter like Client's: every verb prints the
// redacted token URL, the client id, the grant, the authentication style
// and the names of the extra parameters, never the client secret or a
// parameter's value (an assertion, a password).
func (e Endpoint) Format(f fmt.State, _ rune) {
	describeEndpoint(f, "Endpoint{TokenURL", redact.URL(e.TokenURL), e)
}

// describeEndpoint writes what Client and Endpoint show of themselves; head
// names the type and its URL field.
func describeEndpoint(w io.Writer, head, shown string, e Endpoint) {
	style := "auto"
	switch e.AuthStyle {
	case AuthAutoDetect:
	case AuthBasic:
		style = "basic"
	case AuthBody:
		style = "body"
	default:
		style = "AuthStyle(" + strconv.Itoa(int(e.AuthStyle)) + ")"
	}
	fmt.Fprintf(w, "oauth.%s: %q, ClientID: %q, Grant: %q, AuthStyle: %s, Params: %q}",
		head, shown, e.ClientID, string(e.Grant), style, slices.Sorted(maps.Keys(e.Params)))
}
