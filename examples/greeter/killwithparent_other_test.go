//go:build !linux

package main

import "os/exec"

// killWithParent does nothing where the kernel cannot kill a child with
// its parent; the test's cleanup stops Prometheus or Chromium.
func killWithParent(*exec.Cmd) {}
