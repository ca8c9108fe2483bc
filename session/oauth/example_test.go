package oauth_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"

	"golang.org/x/oauth2"

	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/oauth"
)

// loginServer is an authorization server on loopback for the login
// examples: a device flow that the user approves at once, an authorization
// endpoint that redirects straight back with a code, and a token endpoint
// for both (and for refreshes).
func loginServer() *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /device", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"device_code":"dc","user_code":"WDJB-MJHT","verification_uri":"https://auth.example/device",`+
			`"verification_uri_complete":"https://auth.example/device?user_code=WDJB-MJHT","expires_in":600,"interval":1}`)
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		// A real server shows a login page first.
		q := r.URL.Query()
		http.Redirect(w, r, q.Get("redirect_uri")+"?code=the-code&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"at","token_type":"Bearer","expires_in":3600,"refresh_token":"rt","id_token":"eyJ.id.token"}`)
	})
	return httptest.NewServer(mux)
}

// A command-line tool logs in once with the device flow, saves the pair,
// and keeps it alive from then on: the next run finds it in the store.
func ExampleLoginDevice() {
	srv := loginServer()
	defer srv.Close()
	ctx := context.Background()
	client, err := oauth.NewClient(oauth.Endpoint{
		TokenURL:      srv.URL + "/token",
		DeviceAuthURL: srv.URL + "/device", // or Issuer, to discover both
		ClientID:      "my-cli",            // a public client: no secret
	})
	if err != nil {
		log.Fatal(err)
	}
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	store := &session.FileStore{Path: filepath.Join(dir, "token.json")}

	tok, err := store.Load(ctx)
	if errors.Is(err, session.ErrNoToken) { // the first run
		tok, err = oauth.LoginDevice(ctx, client, oauth.DeviceOptions{
			Scopes: []string{"openid", "offline_access"},
			// nil writes the same to os.Stderr.
			Prompt: func(d oauth.DeviceCode) error {
				fmt.Printf("open %s and check the code %s\n", d.VerificationURIComplete, d.UserCode)
				return nil
			},
		})
		if err == nil {
			err = store.Save(ctx, tok)
		}
	}
	if err != nil {
		log.Fatal(err)
	}
	s, err := session.New(ctx, client, tok, session.WithStore(store))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	t, err := s.Token(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("access token:", t.Access.Reveal(), "id_token:", t.Extra("id_token"))
	// Output:
	// open https://auth.example/device?user_code=WDJB-MJHT and check the code WDJB-MJHT
	// access token: at id_token: eyJ.id.token
}

// A desktop tool logs in through the user's browser. OpenBrowser is left
// nil in a real program (the default opens the system's browser); here it
// plays the browser.
func ExampleLoginBrowser() {
	srv := loginServer()
	defer srv.Close()
	client, err := oauth.NewClient(oauth.Endpoint{
		TokenURL: srv.URL + "/token",
		AuthURL:  srv.URL + "/authorize",
		ClientID: "my-cli",
	})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := oauth.LoginBrowser(context.Background(), client, oauth.BrowserOptions{
		Scopes: []string{"openid", "offline_access"},
		OpenBrowser: func(u string) error {
			resp, err := http.Get(u) // the server redirects to http://127.0.0.1:PORT/callback
			if err != nil {
				return err
			}
			return resp.Body.Close()
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("refresh token obtained:", tok.Refresh != "")
	// Output:
	// refresh token obtained: true
}

// One line gives an *http.Client that authenticates as the client itself.
func ExampleClientCredentials() {
	srv := loginServer()
	defer srv.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "called with", r.Header.Get("Authorization"))
	}))
	defer api.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // closes the session behind the client
	hc, err := oauth.ClientCredentials(ctx, oauth.Endpoint{TokenURL: srv.URL + "/token", ClientID: "robot", ClientSecret: "s3cret"})
	if err != nil {
		log.Fatal(err)
	}
	resp, err := hc.Get(api.URL)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status)
	// Output:
	// 200 OK
}

// Code built on golang.org/x/oauth2 keeps its oauth2.Config and the token
// its login obtained; a Session keeps that token alive from then on.
func ExampleEndpointFromOAuth2() {
	srv := loginServer()
	defer srv.Close()
	conf := &oauth2.Config{ClientID: "my-app", ClientSecret: "s3cret",
		Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", AuthURL: srv.URL + "/authorize"}}
	otok, err := conf.Exchange(context.Background(), "the-code") // the existing login
	if err != nil {
		log.Fatal(err)
	}
	client, err := oauth.NewClient(oauth.EndpointFromOAuth2(conf))
	if err != nil {
		log.Fatal(err)
	}
	s, err := session.New(context.Background(), client, oauth.FromOAuth2(otok))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	tok, err := s.Token(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.Access.Reveal(), tok.Extra("id_token"))
	// Output:
	// at eyJ.id.token
}
