package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// serverPkg is the example server the chaos run loads.
const serverPkg = "github.com/grpcjwt/grpcjwt/examples/greeter/server"

// buildServer builds the example server into dir, within the examples
// module (found through this module's replace directive), so that the
// server's own dependencies (its metrics exporter, say) come from that
// module's go.mod rather than bench's.
func buildServer(dir string) (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/grpcjwt/grpcjwt/examples").Output()
	if err != nil {
		return "", fmt.Errorf("finding the examples module: %v", err)
	}
	bin := filepath.Join(dir, "server")
	cmd := exec.Command("go", "build", "-o", bin, serverPkg)
	cmd.Dir = strings.TrimSpace(string(out))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", serverPkg, err, out)
	}
	return bin, nil
}

// server is the example server, running as a process.
type server struct {
	cmd       *exec.Cmd
	addr      string // gRPC
	debugAddr string // net/http/pprof
	logPath   string // its standard error
	exited    chan struct{}
	exitErr   error
}

// startServer runs bin against the issuer and waits until it says it is
// listening.
func startServer(bin, issuerURL, audience, logPath string) (*server, error) {
	debugAddr, err := freePort()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	// The issuer asserts organizations in grpcjwttest's claim: the
	// server's Audit refuses to start with an organization rule (the
	// greeter's GreetOrganization) that no trusted issuer can satisfy.
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-issuer", issuerURL, "-audience", audience,
		"-organization-claim", grpcjwttest.OrganizationClaim, "-debug-addr", debugAddr)
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, debugAddr: debugAddr, logPath: logPath, exited: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				addr <- a
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		s.exitErr = cmd.Wait()
		close(s.exited)
	}()
	select {
	case s.addr = <-addr:
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("the server exited before listening: %v (its log: %s)", s.exitErr, logPath)
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("the server did not say it was listening within 30s (its log: %s)", logPath)
	}
}

// freePort returns a loopback address no one listens on at the moment.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// rss returns the server's resident set size in bytes, from
// /proc/<pid>/status.
func (s *server) rss() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc/<pid>/status")
}

// goroutines returns the server's goroutine count, from the first line of
// /debug/pprof/goroutine?debug=1: "goroutine profile: total N".
func (s *server) goroutines() (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.debugAddr+"/debug/pprof/goroutine?debug=1", nil)
	if err != nil {
		return 0, err
	}
	// No connection is kept: it would be one more goroutine in the server.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("reading the goroutine profile: %w", err)
	}
	n, ok := strings.CutPrefix(strings.TrimSpace(line), "goroutine profile: total ")
	if !ok {
		return 0, fmt.Errorf("goroutine profile starts %q", line)
	}
	return strconv.Atoi(n)
}

// stop sends SIGTERM and waits for the server to exit, returning its exit
// status.
func (s *server) stop() (int, error) {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return -1, errors.New("the server did not exit within 30s of SIGTERM")
	}
	return s.cmd.ProcessState.ExitCode(), nil
}

// logTail returns the last lines of the server's log.
func (s *server) logTail(n int) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
