package nginx_test

import (
	"fmt"
	"net/http"
	"os"

	"github.com/authfsm/authfsm/integration/nginx"
)

// Launch runs nginx in front of a backend; with the backend down, nginx
// answers its own 502 page. (Not run by go test: it needs nginx; the tests
// use nginx.Start, which skips or fails where nginx is missing.)
func ExampleLaunch() {
	dir, err := os.MkdirTemp("", "nginx-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	p, err := nginx.Launch(dir, nginx.Config{Backend: "127.0.0.1:1"}) // nothing listens there
	if err != nil {
		panic(err)
	}
	defer p.Stop()
	resp, err := http.Get(p.URL() + "/oauth2/token")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
}
