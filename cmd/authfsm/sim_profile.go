package main

import (
	"errors"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/authfsm/authfsm/agent"
	"github.com/authfsm/authfsm/declare"
)

// loadProfileSession reads the session that spec names for `sim
// --profile`: a profile's session block in the agent's configuration
// FILE, or FILE#NAME when it has several profiles; or, in a FILE without
// profiles, a declared session (declare.Load: the session block's keys at
// the top level), as a program that embeds it reads it. It returns the
// session and how the report names it: "NAME of FILE" for a profile, FILE
// for a declared session.
func loadProfileSession(spec string) (declare.Session, string, error) {
	file, name := spec, ""
	if i := strings.LastIndexByte(spec, '#'); i >= 0 {
		file, name = spec[:i], spec[i+1:]
	}
	if name == "" && !agentConfig(file) {
		s, err := declare.Load(file)
		return s, file, err
	}
	cfg, err := agent.Load(file)
	if err != nil {
		return declare.Session{}, "", err
	}
	p, err := cfg.Profile(name)
	if err != nil {
		return declare.Session{}, "", err
	}
	return p.Session, p.Name + " of " + file, nil
}

// agentConfig reports whether file holds an agent's configuration: a
// mapping with profiles. A file it cannot read or parse is left to the
// agent's parser, whose messages name the problem.
func agentConfig(file string) bool {
	data, err := os.ReadFile(file)
	if err != nil || len(data) > declare.MaxFileSize {
		return true
	}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return true
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return true
	}
	for i := 0; i < len(top.Content); i += 2 {
		if k := top.Content[i].Value; k == "profiles" || k == "listen" {
			return true
		}
	}
	return false
}

// errProfileAndPolicy refuses to change what --profile simulates.
var errProfileAndPolicy = errors.New("authfsm sim: --profile simulates the profile's own policy; drop --policy")
