package login

import "net/http"

// testURL is the token endpoint of the login tests' servers.
const testURL = "https://auth.example/oauth/token"

// roundTripFunc is an http.RoundTripper of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
