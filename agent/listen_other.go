//go:build !unix

package agent

import "net"

// listenPrivate creates the unix socket at path; listen then sets its mode
// to 0600.
func listenPrivate(path string) (net.Listener, error) {
	return net.Listen("unix", path)
}
