package nginx

import "syscall"

// sysProcAttr puts nginx in its own process group (so a last-resort kill
// reaches its workers) and asks the kernel to send it SIGTERM if the test
// binary dies first, so a crashed test leaves no nginx behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
