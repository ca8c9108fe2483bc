package login_test

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

	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/login"
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
func ExampleDevice() {
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
		tok, err = login.Device(ctx, client, login.DeviceOptions{
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
func ExampleBrowser() {
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
	tok, err := login.Browser(context.Background(), client, login.BrowserOptions{
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
