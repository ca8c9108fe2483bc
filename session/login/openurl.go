package login

import (
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"runtime"
)

// OpenURL opens u in the user's browser, the default BrowserOptions
// OpenBrowser: with xdg-open on Linux and the BSDs, open on macOS, and
// rundll32's FileProtocolHandler on Windows. The URL is passed as one
// argument, never through a shell, and must be http or https. It returns
// once the opener has started, without waiting for the browser.
func OpenURL(u string) error {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") {
		return errors.New("login: OpenURL opens only http and https URLs")
	}
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", u)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	case "linux", "freebsd", "openbsd", "netbsd", "dragonfly", "solaris", "illumos":
		cmd = exec.Command("xdg-open", u)
	default:
		return fmt.Errorf("login: no known way to open a browser on %s", runtime.GOOS)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("login: opening a browser: %w", err)
	}
	go cmd.Wait() // reap the opener; its exit status says nothing reliable
	return nil
}
