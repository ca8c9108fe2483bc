package nginx

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
	"time"
)

// Config describes the proxy to run.
type Config struct {
	// Backend is the upstream's host:port (loopback): the authorization
	// server, behind every path but /resource.
	Backend string
	// Resource, if set, is the host:port of a separate resource server that
	// nginx proxies /resource to (the 429 switch does not apply there).
	Resource string
	// ProxyReadTimeout is how long nginx waits for the backend's answer
	// before it sends its own 504 page; default 10s.
	ProxyReadTimeout time.Duration
	// ProxyConnectTimeout bounds connecting to the backend; default 1s. A
	// stopped loopback backend refuses at once, so this only matters for a
	// backend that does not accept.
	ProxyConnectTimeout time.Duration
	// RetryAfter is the Retry-After value, in seconds, of the 429 that
	// SetRateLimited switches on; default 1.
	RetryAfter int
	// ProxySetHeaders are proxy_set_header directives for every proxied
	// request, a header's name to its value in nginx's syntax, as a
	// reverse proxy in front of a service commonly sets them
	// ("X-Forwarded-For": "$proxy_add_x_forwarded_for"). nginx itself
	// rewrites Host to the backend's host:port (proxy_pass's default).
	ProxySetHeaders map[string]string
}

func (c *Config) defaults() {
	if c.ProxyReadTimeout <= 0 {
		c.ProxyReadTimeout = 10 * time.Second
	}
	if c.ProxyConnectTimeout <= 0 {
		c.ProxyConnectTimeout = time.Second
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = 1
	}
}

// rateLimitMarker is the file whose presence makes nginx answer 429. nginx
// checks it on every request (no open_file_cache), so toggling it takes
// effect at once without a reload.
const rateLimitMarker = "rate-limited"

// confTemplate is the whole nginx configuration. Everything nginx writes —
// pid, temp files, access log — goes under the harness's directory, the
// error log goes to stderr, and it listens on loopback only.
var confTemplate = template.Must(template.New("nginx.conf").Funcs(template.FuncMap{
	"ms": func(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) },
}).Parse(`# Written by the authfsm integration harness.
{{if .Root}}# The harness runs as root: keep the worker as root so it can read the
# harness's private temp directory.
user root;
{{end -}}
daemon off;
worker_processes 1;
pid {{.Dir}}/nginx.pid;
error_log stderr notice;

events {
    worker_connections 1024;
}

http {
    default_type application/octet-stream;
    log_format harness '$msec $status "$upstream_status" $request_method $uri';
    access_log {{.Dir}}/access.log harness;
    client_body_temp_path {{.Dir}}/tmp/client_body;
    proxy_temp_path {{.Dir}}/tmp/proxy;
{{- range .ExtraTemp}}
    {{.}}_temp_path {{$.Dir}}/tmp/{{.}};
{{- end}}

    server {
        listen {{.Listen}};
        server_name localhost;

{{- if .Resource}}

        location = /resource {
            proxy_pass http://{{.Resource}};
            proxy_connect_timeout {{ms .ConnectTimeout}};
{{- range $name, $value := .SetHeaders}}
            proxy_set_header {{$name}} "{{$value}}";
{{- end}}
        }
{{- end}}

        location / {
            if (-f {{.Dir}}/{{.Marker}}) {
                add_header Retry-After {{.RetryAfter}} always;
                return 429;
            }
            proxy_pass http://{{.Backend}};
            proxy_connect_timeout {{ms .ConnectTimeout}};
            proxy_read_timeout {{ms .ReadTimeout}};
            proxy_send_timeout {{ms .ReadTimeout}};
{{- range $name, $value := .SetHeaders}}
            proxy_set_header {{$name}} "{{$value}}";
{{- end}}
        }
    }
}
`))

type confData struct {
	Root                           bool
	Dir, Listen, Backend, Resource string
	Marker                         string
	RetryAfter                     int
	SetHeaders                     map[string]string
	ConnectTimeout, ReadTimeout    time.Duration
	// ExtraTemp lists the modules built into this nginx whose temp paths
	// must be redirected: nginx creates every configured module's temp
	// directory at startup, and the compiled-in defaults under /var/lib are
	// not writable for an unprivileged user.
	ExtraTemp []string
}

// headerName is what ProxySetHeaders' names may be.
var headerName = regexp.MustCompile(`^[A-Za-z0-9-]+$`)

// writeConfig writes dir/nginx.conf for cfg listening on listen and returns
// its path.
func writeConfig(bin, dir, listen string, cfg Config) (string, error) {
	if strings.ContainsAny(dir, " ;{}\"'\\$") {
		return "", fmt.Errorf("nginx: directory %q has characters nginx.conf cannot hold unquoted", dir)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return "", fmt.Errorf("nginx: %w", err)
	}
	for name, value := range cfg.ProxySetHeaders {
		if !headerName.MatchString(name) || strings.ContainsAny(value, "\"\\\n\r") {
			return "", fmt.Errorf("nginx: ProxySetHeaders: %q: %q cannot be written into nginx.conf", name, value)
		}
	}
	extra, err := extraTempModules(bin)
	if err != nil {
		return "", err
	}
	data := confData{
		Root: os.Geteuid() == 0, Dir: dir, Listen: listen, Backend: cfg.Backend, Resource: cfg.Resource,
		Marker: rateLimitMarker, RetryAfter: cfg.RetryAfter, SetHeaders: cfg.ProxySetHeaders,
		ConnectTimeout: cfg.ProxyConnectTimeout, ReadTimeout: cfg.ProxyReadTimeout,
		ExtraTemp: extra,
	}
	var b strings.Builder
	if err := confTemplate.Execute(&b, data); err != nil {
		return "", fmt.Errorf("nginx: rendering nginx.conf: %w", err)
	}
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return "", fmt.Errorf("nginx: %w", err)
	}
	return path, nil
}

// extraTempModules reads `nginx -V` to learn which of the fastcgi, uwsgi and
// scgi modules the binary was built with.
func extraTempModules(bin string) ([]string, error) {
	out, err := exec.Command(bin, "-V").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("nginx: %s -V: %w: %s", bin, err, out)
	}
	var mods []string
	for _, m := range []string{"fastcgi", "uwsgi", "scgi"} {
		if !strings.Contains(string(out), "--without-http_"+m+"_module") {
			mods = append(mods, m)
		}
	}
	return mods, nil
}
