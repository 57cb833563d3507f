package grpcjwtredis_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a redis-server the test started on loopback.
type redisServer struct {
	Addr   string
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has exited
	out    *output
}

// startRedis starts redis-server (REDIS_SERVER, or redis-server from PATH)
// on a free loopback port, without persistence, and kills it when the test
// ends. Without the binary the test is skipped with a message saying how to
// install it, except under CI=true, where it fails.
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	bin := os.Getenv("REDIS_SERVER")
	if bin == "" {
		p, err := exec.LookPath("redis-server")
		if err != nil {
			missing := "redis-server not found in PATH: install it (Debian: apt-get install redis-server) or set REDIS_SERVER=/path/to/redis-server"
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s\n(CI=true: the Redis tests must run, not skip)", missing)
			}
			t.Skip(missing)
		}
		bin = p
	}
	// The port is free when chosen but could be taken before redis-server
	// binds it; try again with another then.
	var errs []string
	for range 3 {
		s, err := tryStartRedis(t, bin)
		if err == nil {
			return s
		}
		errs = append(errs, err.Error())
	}
	t.Fatalf("starting %s:\n%s", bin, strings.Join(errs, "\n"))
	return nil
}

func tryStartRedis(t testing.TB, bin string) (*redisServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	ready := make(chan struct{})
	s := &redisServer{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), exited: make(chan struct{}), out: &output{ready: ready}}
	s.cmd = exec.Command(bin,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir())
	s.cmd.Stdout = s.out
	s.cmd.Stderr = s.out
	killWithParent(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		s.cmd.Wait()
		close(s.exited)
	}()
	select {
	case <-ready:
		// Cleanups run last-in first-out: kill, then read the output.
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("redis-server output:\n%s", strings.TrimRight(s.out.buf.String(), "\n"))
			}
		})
		t.Cleanup(s.Kill)
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("redis-server on port %d exited early (%v):\n%s", port, s.cmd.ProcessState, s.out.buf.String())
	case <-time.After(10 * time.Second):
		s.Kill()
		return nil, fmt.Errorf("redis-server on port %d not ready after 10s:\n%s", port, s.out.buf.String())
	}
}

// Kill kills redis-server, by its pid, and waits until it has exited. It
// may be called more than once.
func (s *redisServer) Kill() {
	s.cmd.Process.Kill()
	<-s.exited
}

// Client returns a client of s, closed when the test ends.
func (s *redisServer) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	t.Cleanup(func() { c.Close() })
	return c
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// output keeps redis-server's output, stdout and stderr both, and closes
// ready once the server says it accepts connections. Being one comparable
// writer for both, it is written by one goroutine at a time (os/exec); it
// is read only after the process has exited.
type output struct {
	buf   bytes.Buffer
	ready chan struct{}
}

func (o *output) Write(p []byte) (int, error) {
	o.buf.Write(p)
	if o.ready != nil && bytes.Contains(o.buf.Bytes(), []byte("Ready to accept connections")) {
		close(o.ready)
		o.ready = nil
	}
	return len(p), nil
}
