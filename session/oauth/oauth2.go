package oauth

import (
	"reflect"
	"slices"

	"github.com/authfsm/authfsm/session"
	"golang.org/x/oauth2"
)

// FromOAuth2 converts a golang.org/x/oauth2 token, such as the one
// oauth2.Config.Exchange returns after an authorization-code login, into the
// session.Token that session.New or Session.SetToken takes: a Session can
// then keep alive what an oauth2.Config login obtained. The members of the
// token response that t.Extra returns (an id_token, a server's own) become
// the Token's Extra members, except those Token holds in fields; so do
// those of a map[string]any or url.Values given to t.WithExtra.
func FromOAuth2(t *oauth2.Token) session.Token {
	if t == nil {
		return session.Token{}
	}
	tok := session.Token{Access: session.Secret(t.AccessToken), Refresh: session.Secret(t.RefreshToken), Type: t.TokenType, Expiry: t.Expiry}
	return tok.WithExtra(oauth2Extra(t))
}

// oauth2Extra returns the members t.Extra knows of, besides the ones
// session.Token holds in fields. x/oauth2 keeps them in an unexported field and offers no
// way to list them, so their names come from that field's map keys, read
// by reflection (names only, never a value: those come from t.Extra).
// Should a release of x/oauth2 rename the field, the well-known members are
// asked for by name instead.
func oauth2Extra(t *oauth2.Token) map[string]any {
	var names []string
	if raw := reflect.ValueOf(t).Elem().FieldByName("raw"); raw.IsValid() && raw.Kind() == reflect.Interface {
		if m := raw.Elem(); m.IsValid() && m.Kind() == reflect.Map && m.Type().Key().Kind() == reflect.String {
			for _, k := range m.MapKeys() {
				names = append(names, k.String())
			}
		}
	} else {
		names = wellKnownExtra
	}
	extra := map[string]any{}
	for _, k := range names {
		if v := t.Extra(k); v != nil && !slices.Contains(tokenMembers, k) {
			extra[k] = v
		}
	}
	return extra
}

// wellKnownExtra are the members FromOAuth2 asks for by name when it cannot
// list them: OpenID Connect's id_token and the refresh token lifetimes
// that Keycloak and Azure AD send.
var wellKnownExtra = []string{"id_token", "refresh_expires_in", "refresh_token_expires_in", "ext_expires_in", "not-before-policy", "session_state"}

// EndpointFromOAuth2 returns the Endpoint that describes the client of an
// oauth2.Config: its token, authorization and device authorization URLs,
// client id and secret, and authentication style (oauth2.AuthStyleInHeader
// is AuthBasic, AuthStyleInParams AuthBody, AuthStyleAutoDetect
// AuthAutoDetect). conf.Scopes are not copied: x/oauth2 sends them in the
// authorization request only, where Endpoint.Scopes go with every refresh
// too; give them to login.Device or login.Browser in their options. NewClient
// takes the Endpoint as it is, or after setting what x/oauth2 has no field
// for (Issuer, Grant, Params, …). A Session built on it keeps alive what
// conf's login obtained (see FromOAuth2).
func EndpointFromOAuth2(conf *oauth2.Config) Endpoint {
	if conf == nil {
		return Endpoint{}
	}
	e := Endpoint{TokenURL: conf.Endpoint.TokenURL, AuthURL: conf.Endpoint.AuthURL, DeviceAuthURL: conf.Endpoint.DeviceAuthURL,
		ClientID: conf.ClientID, ClientSecret: session.Secret(conf.ClientSecret)}
	switch conf.Endpoint.AuthStyle {
	case oauth2.AuthStyleInHeader:
		e.AuthStyle = AuthBasic
	case oauth2.AuthStyleInParams:
		e.AuthStyle = AuthBody
	}
	return e
}
