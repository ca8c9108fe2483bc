package oauth_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"golang.org/x/oauth2"

	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/oauth"
)

// tokenServer is a token endpoint on loopback (plain HTTP is allowed
// there) that answers every grant with one token pair and an id_token.
func tokenServer() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"at","token_type":"Bearer","expires_in":3600,"refresh_token":"rt","id_token":"eyJ.id.token"}`)
	}))
}

// One line gives an *http.Client that authenticates as the client itself.
func ExampleClientCredentials() {
	srv := tokenServer()
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
	srv := tokenServer()
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
