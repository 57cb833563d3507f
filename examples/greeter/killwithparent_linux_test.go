package main

import (
	"os/exec"
	"syscall"
)

// killWithParent makes the kernel kill a child if the test binary dies
// without running its cleanups, so that no Prometheus or Chromium
// outlives it.
func killWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
