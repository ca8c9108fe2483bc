package agent

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
)

// listen opens l: loopback TCP, or a unix socket with mode 0600. A stale
// socket file that nothing answers on (a crashed agent's) is replaced; a
// live one, or a file that is not a socket, is an error.
func listen(l Listen) (net.Listener, error) {
	if l.Network != "unix" {
		return net.Listen("tcp", l.Address)
	}
	stale, err := staleSocket(l.Address)
	if err != nil {
		return nil, err
	}
	if stale {
		if err := os.Remove(l.Address); err != nil {
			return nil, err
		}
	}
	ln, err := listenPrivate(l.Address)
	if err != nil {
		return nil, err
	}
	// Belt and braces: whatever the umask did, the mode is 0600.
	if err := os.Chmod(l.Address, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// staleSocket reports whether path is a socket nothing answers on (a
// crashed agent's), which listen replaces; it is an error when path is a
// live socket or a file that is not a socket. A path that does not exist
// is neither.
func staleSocket(path string) (bool, error) {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	case fi.Mode()&os.ModeSocket == 0:
		return false, fmt.Errorf("agent: %s exists and is not a socket", path)
	}
	c, err := net.Dial("unix", path)
	if err == nil {
		c.Close()
		return false, fmt.Errorf("agent: %s: another process listens on it", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return false, fmt.Errorf("agent: %s: %w", path, err)
	}
	return true, nil
}
