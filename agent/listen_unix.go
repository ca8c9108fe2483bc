//go:build unix

package agent

import (
	"net"
	"sync"
	"syscall"
)

// umaskMu serialises the agent's changes of the process's umask.
var umaskMu sync.Mutex

// listenPrivate creates the unix socket at path with mode 0600 from the
// start: the umask is 0177 while it is bound, so that no other user can
// connect in the moment before a chmod. The umask is the process's; the
// agent binds its sockets before it starts anything else that creates
// files, and only narrows what they get meanwhile.
func listenPrivate(path string) (net.Listener, error) {
	umaskMu.Lock()
	defer umaskMu.Unlock()
	old := syscall.Umask(0o177)
	defer syscall.Umask(old)
	return net.Listen("unix", path)
}
