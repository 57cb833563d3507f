package main

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// requireCommand returns the path of a program the test needs: $env if
// set, else name from PATH, both installed by Debian's package name. When
// it is missing, the test skips with a message, except under CI=true,
// where it fails: .ci/run installs every such package.
func requireCommand(t *testing.T, env, name, pkg string) string {
	t.Helper()
	bin := os.Getenv(env)
	if bin == "" {
		bin = name
	}
	path, err := exec.LookPath(bin)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s not found (%v): install it (Debian: apt-get install %s) or set %s=/path/to/%s", name, err, pkg, env, name)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s\n(CI=true: this test must run, not skip)", msg)
	}
	t.Skip(msg)
	return ""
}
