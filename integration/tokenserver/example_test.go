package tokenserver_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/authfsm/authfsm/integration/tokenserver"
)

// A refresh token works once: replaying it is refused and revokes the
// family, including the token that replaced it.
func Example() {
	srv, err := tokenserver.New(tokenserver.Config{})
	if err != nil {
		panic(err)
	}
	if err := srv.Start(); err != nil {
		panic(err)
	}
	defer srv.Close()

	ctx := context.Background()
	first, err := srv.Login(ctx)
	if err != nil {
		panic(err)
	}
	refresh := func(rt string) (tokenserver.TokenResponse, error) {
		return tokenserver.RequestToken(ctx, http.DefaultClient, srv.URL()+tokenserver.TokenPath,
			srv.ClientID(), srv.ClientSecret(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	}
	second, err := refresh(first.RefreshToken)
	fmt.Println("rotated:", err == nil && second.RefreshToken != first.RefreshToken)

	_, err = refresh(first.RefreshToken)
	var re *tokenserver.ResponseError
	fmt.Println("replay:", errors.As(err, &re), re.Status, re.Code)
	_, err = refresh(second.RefreshToken)
	fmt.Println("successor:", err)
	fmt.Println("reuse detected:", srv.Counts().Reuse)
	// Output:
	// rotated: true
	// replay: true 400 invalid_grant
	// successor: tokenserver: token request answered 400 invalid_grant
	// reuse detected: 2
}
