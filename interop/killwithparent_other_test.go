//go:build !linux

package interop_test

import "os/exec"

// killWithParent does nothing here: only Linux can tie a child's life to its
// parent's. The tests' cleanups still stop every provider they start.
func killWithParent(*exec.Cmd) {}
