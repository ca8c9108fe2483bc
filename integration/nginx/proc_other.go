//go:build unix && !linux

package nginx

import "syscall"

// sysProcAttr puts nginx in its own process group, so a last-resort kill
// reaches its workers.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
