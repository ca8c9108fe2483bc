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
	fi, err := os.Lstat(l.Address)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	case fi.Mode()&os.ModeSocket == 0:
		return nil, fmt.Errorf("agent: %s exists and is not a socket", l.Address)
	default:
		c, err := net.Dial("unix", l.Address)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("agent: %s: another process listens on it", l.Address)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("agent: %s: %w", l.Address, err)
		}
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
