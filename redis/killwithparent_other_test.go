//go:build !linux

package grpcjwtredis_test

import "os/exec"

// killWithParent does nothing here: only Linux can tie a child's life to its
// parent's. The tests' cleanups still kill every redis-server they start.
func killWithParent(*exec.Cmd) {}
