package agent

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/authfsm/authfsm/internal/yamlwalk"
)

// Store is where a profile's token pair is kept: a file, or a token
// family in Redis.
type Store struct {
	// Path is the file (session.FileStore), or the token family's file
	// with a coordinator; empty with Redis.
	Path string
	// Coordinator "file" shares the pair with the other processes of the
	// host that use the same file (session.FileCoordinator); "" for none.
	Coordinator string
	// Redis, when set, keeps the pair in a token family on a Redis server
	// (coordinator/rediscore), shared with every process, on any host,
	// that uses the same server and key.
	Redis *RedisStore
}

// String names the store for messages: its file, or the Redis server and
// the family's key.
func (s *Store) String() string {
	if s.Redis != nil {
		return "redis " + s.Redis.Addr + " key " + s.Redis.Key
	}
	return s.Path
}

// RedisStore is a token family on a Redis server (rediscore.Client and
// rediscore.Coordinator).
type RedisStore struct {
	// Addr is the server: host:port, or unix:PATH.
	Addr string
	// Key names the family: the agents (and programs) that share the
	// family use the same key, and two families never share one. It must
	// not hold a token; on Redis Cluster put the id in braces.
	Key string
	// DB is the database; 0 by default.
	DB int
	// Username (an ACL user) and the password, from PasswordFile or
	// PasswordEnv, authenticate the connections.
	Username, PasswordFile, PasswordEnv string
	// TLS connects over TLS, verifying the server with CAFile's
	// certificates (PEM) or, without one, the system's.
	TLS    bool
	CAFile string
	// AllowPlaintext lets a connection without TLS reach a host that is
	// not loopback: the token pair then crosses the network in clear.
	AllowPlaintext bool
}

// maxRedisDB bounds store.redis.db.
const maxRedisDB = 1 << 16

// store reads a profile's store block.
func (p *cparser) store(n *yaml.Node, key string) *Store {
	st := &Store{}
	given := p.Mapping(n, key, []yamlwalk.Field{
		{Key: "path", Set: p.path(&st.Path)},
		{Key: "coordinator", Set: p.NonEmpty(&st.Coordinator)},
		{Key: "redis", Set: func(n *yaml.Node, k string) { st.Redis = p.redis(n, k) }},
	})
	switch {
	case p.Err != nil:
	case st.Redis != nil && given["path"] != nil:
		p.fail(given["path"], key+".path", "give path (a file) or redis (a family shared through Redis), not both")
	case st.Redis != nil && given["coordinator"] != nil:
		p.fail(given["coordinator"], key+".coordinator", "applies to a file store; a redis store is shared through Redis")
	case st.Redis == nil && st.Path == "":
		p.fail(n, key+".path", "required: the file that keeps the token pair (or give redis: {addr, key})")
	case st.Coordinator == "none":
		st.Coordinator = ""
	case st.Coordinator != "" && st.Coordinator != "file":
		p.fail(given["coordinator"], key+".coordinator", "want file or none (to share the family across hosts, give redis: {addr, key} instead of path)")
	}
	if p.Err != nil {
		return nil
	}
	return st
}

// redis reads a store's redis block.
func (p *cparser) redis(n *yaml.Node, key string) *RedisStore {
	rs := &RedisStore{}
	given := p.Mapping(n, key, []yamlwalk.Field{
		{Key: "addr", Set: p.NonEmpty(&rs.Addr)},
		{Key: "key", Set: p.NonEmpty(&rs.Key)},
		{Key: "db", Set: func(n *yaml.Node, k string) {
			s, ok := p.Scalar(n, k)
			if !ok {
				return
			}
			v, err := strconv.Atoi(s)
			if err != nil || v < 0 || v > maxRedisDB {
				p.fail(n, k, "want a database number from 0 to %d", maxRedisDB)
				return
			}
			rs.DB = v
		}},
		{Key: "username", Set: p.NonEmpty(&rs.Username)},
		{Key: "password_file", Set: p.path(&rs.PasswordFile)},
		{Key: "password_env", Set: p.envName(&rs.PasswordEnv)},
		inline("password", "password_file or password_env"),
		{Key: "tls", Set: p.Boolean(&rs.TLS)},
		{Key: "ca_file", Set: p.path(&rs.CAFile)},
		{Key: "allow_plaintext", Set: p.Boolean(&rs.AllowPlaintext)},
	})
	at := func(k string) *yaml.Node {
		if g := given[k]; g != nil {
			return g
		}
		return n
	}
	if p.Err != nil {
		return nil
	}
	host, bad := redisHost(rs.Addr)
	switch {
	case rs.Addr == "":
		p.fail(n, key+".addr", "required: the Redis server, host:port or unix:PATH")
	case bad != "":
		p.fail(at("addr"), key+".addr", "%s", bad)
	case rs.Key == "":
		p.fail(n, key+".key", "required: the key that names the token family (such as authfsm:family:{billing}); never a token")
	case rs.PasswordFile != "" && rs.PasswordEnv != "":
		p.fail(at("password_env"), key+".password_env", "give password_file or password_env, not both")
	case rs.Username != "" && rs.PasswordFile == "" && rs.PasswordEnv == "":
		p.fail(at("username"), key+".username", "applies with password_file or password_env")
	case rs.CAFile != "" && given["tls"] != nil && !rs.TLS:
		p.fail(at("ca_file"), key+".ca_file", "applies with TLS; it is on by default with ca_file")
	case rs.CAFile != "" && rs.AllowPlaintext:
		p.fail(at("allow_plaintext"), key+".allow_plaintext", "contradicts ca_file, which asks for TLS")
	}
	if p.Err != nil {
		return nil
	}
	if rs.CAFile != "" {
		rs.TLS = true
	}
	if strings.HasPrefix(rs.Addr, "unix:") {
		if path := strings.TrimPrefix(rs.Addr, "unix:"); !filepath.IsAbs(path) {
			rs.Addr = "unix:" + p.abs(path)
		}
	} else if !rs.TLS && !rs.AllowPlaintext && !loopback(host) {
		p.fail(at("addr"), key+".addr", "without TLS the token pair would cross the network in clear; set tls: true (or allow_plaintext: true)")
		return nil
	}
	return rs
}

// redisHost checks a Redis address, host:port or unix:PATH, and returns
// its host; the message says what is wrong, never quoting the address.
func redisHost(addr string) (host, bad string) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if path == "" {
			return "", "unix: needs the socket's path"
		}
		return "", ""
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || strings.Contains(addr, "/") {
		return "", "want host:port (redis.internal:6379) or unix:PATH, not a URL"
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return "", "the port is not a number from 1 to 65535"
	}
	return host, ""
}
