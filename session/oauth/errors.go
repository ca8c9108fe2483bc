package oauth

import "errors"

// ErrInsecureTokenURL is returned by NewClient for a token URL that is
// neither HTTPS nor loopback when Endpoint.AllowHTTP is false: the request
// carries the client secret and the refresh token.
var ErrInsecureTokenURL = errors.New("oauth: token URL is not HTTPS")
