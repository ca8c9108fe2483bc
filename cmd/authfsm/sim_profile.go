package main

import (
	"errors"
	"strings"

	"github.com/authfsm/authfsm/agent"
	"github.com/authfsm/authfsm/sim"
)

// loadProfileSession reads the session block of the profile that spec
// names for `sim --profile`: the agent's configuration FILE, or FILE#NAME
// when it has several profiles. It returns the block and how the report
// names the profile: "NAME of FILE".
func loadProfileSession(spec string) (sim.Session, string, error) {
	file, name := spec, ""
	if i := strings.LastIndexByte(spec, '#'); i >= 0 {
		file, name = spec[:i], spec[i+1:]
	}
	cfg, err := agent.Load(file)
	if err != nil {
		return sim.Session{}, "", err
	}
	p, err := cfg.Profile(name)
	if err != nil {
		return sim.Session{}, "", err
	}
	return p.Session, p.Name + " of " + file, nil
}

// errProfileAndPolicy refuses to change what --profile simulates.
var errProfileAndPolicy = errors.New("authfsm sim: --profile simulates the profile's own policy; drop --policy")
