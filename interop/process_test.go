package interop_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stopGrace is how long a provider has to exit after SIGTERM before it is
// killed.
const stopGrace = 10 * time.Second

// requireProvider checks that provider name ("hydra" or "oidc-provider")
// can run here and returns the program to start: the Hydra binary, or node.
// When it cannot, the test is skipped with a message saying how to enable
// it, except under CI=true, where it fails: CI runs every interop test.
func requireProvider(t *testing.T, name string) string {
	t.Helper()
	var path, missing string
	switch name {
	case "hydra":
		path, missing = findHydra(t)
	case "oidc-provider":
		path, missing = findNode()
	default:
		t.Fatalf("unknown provider %q", name)
	}
	if missing == "" {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s\n(CI=true: the interop tests must run, not skip)", missing)
	}
	t.Skip(missing)
	return ""
}

// findHydra returns the Hydra binary named by GRPCJWT_HYDRA, or else the one
// interop/hydra/build leaves in its cache, or a message saying how to get
// one. It never builds Hydra.
func findHydra(t *testing.T) (path, missing string) {
	if p := os.Getenv("GRPCJWT_HYDRA"); p != "" {
		if !isExecutable(p) {
			return "", fmt.Sprintf("GRPCJWT_HYDRA=%s is not an executable file: build Ory Hydra with `interop/hydra/build` and set GRPCJWT_HYDRA to the path it prints last", p)
		}
		warnIfStale(t, p)
		return p, ""
	}
	cache := os.Getenv("GRPCJWT_INTEROP_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", "Ory Hydra not found (GRPCJWT_HYDRA is unset and there is no home directory): run `interop/hydra/build` and set GRPCJWT_HYDRA to the path it prints last"
		}
		cache = filepath.Join(home, ".cache", "grpcjwt-interop")
	}
	p := filepath.Join(cache, "hydra")
	if !isExecutable(p) {
		return "", fmt.Sprintf("Ory Hydra not found (GRPCJWT_HYDRA is unset and %s does not exist): run `interop/hydra/build` (about 5 minutes the first time), or set GRPCJWT_HYDRA=/path/to/hydra", p)
	}
	warnIfStale(t, p)
	return p, ""
}

// warnIfStale logs when the Hydra binary is older than the module that pins
// its version, as interop/hydra/build would rebuild it.
func warnIfStale(t *testing.T, bin string) {
	b, err := os.Stat(bin)
	if err != nil {
		return
	}
	for _, f := range []string{"hydra/go.mod", "hydra/go.sum"} {
		if s, err := os.Stat(f); err == nil && s.ModTime().After(b.ModTime()) {
			t.Logf("note: %s is older than interop/%s; `interop/hydra/build` would rebuild it", bin, f)
			return
		}
	}
}

// findNode returns node's path once node-oidc-provider is installed, or a
// message saying how to install what is missing.
func findNode() (path, missing string) {
	node, err := exec.LookPath("node")
	if err != nil {
		return "", "node not found in PATH: install Node.js 20 or later, then run `cd interop/oidc-provider && npm ci`"
	}
	if _, err := os.Stat(filepath.Join("oidc-provider", "node_modules", "oidc-provider", "package.json")); err != nil {
		return "", "node-oidc-provider is not installed: run `cd interop/oidc-provider && npm ci`"
	}
	return node, ""
}

func isExecutable(path string) bool {
	s, err := os.Stat(path)
	return err == nil && s.Mode().IsRegular() && s.Mode()&0o111 != 0
}

// process is a provider running as a child process.
type process struct {
	cmd     *exec.Cmd
	cancel  context.CancelFunc
	exited  chan struct{} // closed once the process has exited
	waitErr error         // valid after exited is closed
}

// startProcess starts bin with args, with env added to the test binary's
// environment. Its stdout and stderr go to out; stdout also goes to stdout
// when that is not nil. The caller must call stop.
func startProcess(out, stdout io.Writer, env []string, bin string, args ...string) (*process, error) {
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = out
	cmd.Stdout = out
	if stdout != nil {
		cmd.Stdout = io.MultiWriter(out, stdout)
	}
	// Stopping is SIGTERM (both providers exit cleanly on it), then SIGKILL
	// after stopGrace.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = stopGrace
	killWithParent(cmd)
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, err
	}
	p := &process{cmd: cmd, cancel: cancel, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// stop sends SIGTERM and waits until the process has exited. It may be
// called more than once.
func (p *process) stop() {
	p.cancel()
	<-p.exited
}

// exitError describes how a process that should still be running ended.
func (p *process) exitError() string {
	return fmt.Sprintf("exited early (%v)", p.waitErr)
}

// syncBuffer is a bytes.Buffer safe for concurrent use: a provider's output
// is written by os/exec's copying goroutines and read by the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logOnFailure registers a cleanup that prints a provider's output when t
// has failed.
func logOnFailure(t *testing.T, name string, out *syncBuffer) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s output:\n%s", name, strings.TrimRight(out.String(), "\n"))
		}
	})
}

// lineWatcher is an io.Writer that sends the rest of the first line starting
// with prefix on found, and discards everything.
type lineWatcher struct {
	prefix  string
	found   chan string // buffered, capacity 1
	partial []byte
	sent    bool
}

func newLineWatcher(prefix string) *lineWatcher {
	return &lineWatcher{prefix: prefix, found: make(chan string, 1)}
}

// Write is called only by os/exec's single copying goroutine.
func (w *lineWatcher) Write(p []byte) (int, error) {
	if w.sent {
		return len(p), nil
	}
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(bytes.TrimRight(w.partial[:i], "\r"))
		w.partial = w.partial[i+1:]
		if rest, ok := strings.CutPrefix(line, w.prefix); ok {
			w.sent = true
			w.partial = nil
			w.found <- rest
			return len(p), nil
		}
	}
}
