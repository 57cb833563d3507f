package interop_test

import (
	"os/exec"
	"syscall"
)

// killWithParent makes the kernel kill the provider if the test binary dies
// without running its cleanups (a panic, a -timeout, a SIGKILL), so that no
// provider outlives it.
func killWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
