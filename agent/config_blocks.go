package agent

import (
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/authfsm/authfsm/internal/yamlwalk"
)

// quoted matches a Go-quoted string in a message.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

var profileName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// logLevels are log_level's values.
var logLevels = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}

func (p *cparser) config(n *yaml.Node, c *Config) {
	p.MappingEach(n, "", []yamlwalk.Field{
		{Key: "listen", Set: func(n *yaml.Node, key string) { c.Listen = p.listen(n, key) }},
		{Key: "audit", Set: func(n *yaml.Node, key string) {
			c.Audit = &Audit{}
			p.Mapping(n, key, []yamlwalk.Field{
				{Key: "path", Set: p.path(&c.Audit.Path)},
				{Key: "key_file", Set: p.path(&c.Audit.KeyFile)},
				inline("key", "key_file"),
			})
			if p.Err == nil && c.Audit.Path == "" {
				p.fail(n, key+".path", "required")
			}
		}},
		{Key: "shutdown_timeout", Set: p.Duration(&c.ShutdownTimeout, time.Second, time.Hour)},
		{Key: "log_level", Set: func(n *yaml.Node, key string) {
			var level string
			if p.NonEmpty(&level)(n, key); level == "" {
				return
			}
			l, ok := logLevels[level]
			if !ok {
				p.fail(n, key, "want debug, info, warn or error")
				return
			}
			c.LogLevel = l
		}},
		{Key: "profiles", Set: func(n *yaml.Node, key string) {
			if n.Kind != yaml.MappingNode {
				p.fail(n, key, "want a mapping of profile names to profiles, got %s", p.Describe(n))
				return
			}
			// Each profile is read on its own: a problem in one does not
			// hide another's.
			var names []string
			for i := 0; i+1 < len(n.Content); i += 2 {
				p.Settle()
				k := n.Content[i]
				name := yamlwalk.Join(key, k.Value)
				if !profileName.MatchString(k.Value) {
					p.fail(k, name, "a profile's name is 1 to 64 letters, digits, '-' or '_'")
					continue
				}
				if slices.Contains(names, k.Value) {
					p.fail(k, name, "profile given twice")
					continue
				}
				names = append(names, k.Value)
				pr := &Profile{Name: k.Value}
				p.profile(yamlwalk.Resolve(n.Content[i+1]), name, pr)
				if p.Err == nil {
					c.Profiles = append(c.Profiles, pr)
				}
			}
		}},
	})
	p.Settle()
	if len(p.Errs) > 0 {
		// What follows relates keys to one another; with one of them
		// unread, it would report what is only a consequence.
		return
	}
	if len(c.Profiles) == 0 {
		p.fail(n, "profiles", "required: at least one profile")
		return
	}
	// Every address is taken once.
	seen := map[string]string{}
	claim := func(l *Listen, who string) {
		if l == nil || p.Err != nil {
			return
		}
		key := l.String()
		if l.Network == "tcp" && strings.HasSuffix(l.Address, ":0") {
			return // a port chosen by the system each time
		}
		if other, ok := seen[key]; ok {
			p.fail(nil, who, "listens on %s, as %s does", key, other)
		}
		seen[key] = who
	}
	claim(c.Listen, "listen")
	served := c.Listen != nil
	for _, pr := range c.Profiles {
		if pr.Proxy != nil {
			claim(&pr.Proxy.Listen, "profiles."+pr.Name+".proxy.listen")
			served = true
		}
	}
	if p.Err == nil && !served {
		p.fail(n, "listen", "nothing to serve: give listen (the token API) or a profile's proxy")
	}
}

// listen reads host:port (a loopback host) or unix:PATH.
func (p *cparser) listen(n *yaml.Node, key string) *Listen {
	s, ok := p.Scalar(n, key)
	if !ok {
		return nil
	}
	l, msg := parseListen(s, p.dir)
	if msg != "" {
		p.fail(n, key, "%s", msg)
		return nil
	}
	return &l
}

// ParseListen reads an address as the configuration file writes it:
// host:port on loopback, or unix:PATH.
func ParseListen(s string) (Listen, error) {
	l, msg := parseListen(s, ".")
	if msg != "" {
		return Listen{}, errors.New(msg)
	}
	return l, nil
}

// parseListen reads host:port (a loopback host) or unix:PATH, a relative
// PATH being relative to dir; it returns what is wrong, never quoting s.
func parseListen(s, dir string) (Listen, string) {
	if path, ok := strings.CutPrefix(s, "unix:"); ok {
		if path == "" {
			return Listen{}, "unix: needs the socket's path"
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		return Listen{Network: "unix", Address: path}, ""
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return Listen{}, "want host:port on loopback (127.0.0.1:8180) or unix:PATH"
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return Listen{}, "the port is not a number from 0 to 65535"
	}
	if !loopback(host) {
		return Listen{}, "the agent listens on loopback only (127.0.0.1, [::1] or localhost) or a unix socket: the tokens it serves must not leave the host"
	}
	return Listen{Network: "tcp", Address: s}, ""
}

// loopback reports whether host is certainly this machine.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
