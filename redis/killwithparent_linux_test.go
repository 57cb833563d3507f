package grpcjwtredis_test

import (
	"os/exec"
	"syscall"
)

// killWithParent makes the kernel kill redis-server if the test binary dies
// without running its cleanups (a panic, a -timeout, a SIGKILL).
func killWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
