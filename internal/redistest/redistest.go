// Package redistest runs a real redis-server on a free loopback port for
// tests, and lets a test kill, freeze and restart it to exercise faults.
//
// There are no mocks here on purpose: the failures that matter (a restart
// that drops every subscription, a frozen server that keeps its sockets open)
// only happen with the real binary. scripts/test installs redis-server, so a
// missing binary fails the test rather than skipping it.
package redistest

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is one redis-server process owned by a test.
type Server struct {
	// Addr is host:port, stable across Restart.
	Addr string
	// URL is the redis:// form of Addr, as the notifier's --redis-url takes it.
	URL string

	t   testing.TB
	dir string
	// argv is the redis-server command line after the binary name.
	argv []string
	// tls is set for a server that only speaks TLS (StartTLS).
	tls *tls.Config

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Start launches redis-server on a free port and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t)
}

// StartWith is Start with extra redis-server options, e.g. "--replicaof",
// "127.0.0.1", "6379".
func StartWith(t testing.TB, extra ...string) *Server {
	t.Helper()
	return launch(t, func(port, dir string) []string {
		return append([]string{
			"--bind", "127.0.0.1",
			"--port", port,
			"--save", "",
			"--appendonly", "no",
			"--dir", dir,
			// Large fan-out tests publish faster than a slow subscriber reads;
			// the default pubsub output limit would cut the notifier off.
			"--client-output-buffer-limit", "pubsub 0 0 0",
		}, extra...)
	})
}

// launch starts redis-server with the command line argv builds for a free
// port and a private directory.
func launch(t testing.TB, argv func(port, dir string) []string) *Server {
	t.Helper()
	return launchTLS(t, nil, argv)
}

// launchTLS is launch for a server that speaks TLS (with tc) when tc is set.
func launchTLS(t testing.TB, tc *tls.Config, argv func(port, dir string) []string) *Server {
	t.Helper()
	if testing.Short() {
		// The fast lane (go test -short) is unit and in-process tests;
		// scripts/test runs every real-process suite.
		t.Skip("starts a real redis-server: skipped under -short")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server not found (scripts/test installs it): %v", err)
	}
	port, err := FreePort()
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	s := &Server{
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		t:    t,
		dir:  t.TempDir(),
		tls:  tc,
	}
	s.argv = argv(strconv.Itoa(port), s.dir)
	s.URL = "redis://" + s.Addr
	s.start()
	t.Cleanup(s.Kill)
	return s
}

// dial opens a connection for setup and assertions, over TLS if the
// server speaks only that.
func (s *Server) dial() (net.Conn, error) {
	d := &net.Dialer{Timeout: time.Second}
	if s.tls != nil {
		return tls.DialWithDialer(d, "tcp", s.Addr, s.tls)
	}
	return d.Dial("tcp", s.Addr)
}

// FreePort asks the kernel for a loopback port nobody is listening on.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) start() {
	s.t.Helper()
	cmd := exec.Command("redis-server", s.argv...)
	cmd.Stdout = nil
	cmd.Stderr = nil
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	go func() { _ = cmd.Wait() }()

	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := s.ping(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("redis-server on %s did not answer PING within 10s", s.Addr)
}

func (s *Server) ping() error {
	c, err := s.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("unexpected reply %q", line)
	}
	return nil
}

// Kill ends the server with SIGKILL, as a crash would, and waits until the
// port is closed. Safe to call twice.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT) // a frozen process must still die
	_ = cmd.Process.Kill()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", s.Addr, 100*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
}

// Restart starts a fresh, empty server on the same address.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}

// Freeze stops the process with SIGSTOP: its sockets stay open but nothing
// is answered, the "silent link" failure.
func (s *Server) Freeze() { s.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server.
func (s *Server) Thaw() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig os.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(sig)
	}
}

// Do runs one command on a fresh connection and returns the raw RESP reply
// line(s). It is for test setup and assertions, not for speed.
func (s *Server) Do(args ...string) (string, error) {
	c, err := s.dial()
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	req := fmt.Sprintf("*%d\r\n", len(args))
	for _, a := range args {
		req += fmt.Sprintf("$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(req)); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	return readReply(r)
}

func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if len(line) < 3 {
		return "", fmt.Errorf("short reply %q", line)
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+', ':':
		return body, nil
	case '-':
		return "", fmt.Errorf("redis: %s", body)
	case '$':
		n, _ := strconv.Atoi(body)
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, _ := strconv.Atoi(body)
		out := ""
		for i := 0; i < n; i++ {
			v, err := readReply(r)
			if err != nil {
				return "", err
			}
			if i > 0 {
				out += "\n"
			}
			out += v
		}
		return out, nil
	}
	return "", fmt.Errorf("unknown reply %q", line)
}

// Pipe sends newline-separated inline commands on one connection without
// waiting between them (a burst, as a busy app would publish), then reads
// every reply. It returns the replies in order.
func (s *Server) Pipe(commands string) ([]string, error) {
	c, err := s.dial()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	lines := strings.Split(strings.TrimSpace(commands), "\n")
	w := bufio.NewWriter(c)
	for _, l := range lines {
		w.WriteString(strings.TrimSpace(l) + "\r\n")
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	r := bufio.NewReader(c)
	out := make([]string, 0, len(lines))
	for range lines {
		v, err := readReply(r)
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Save writes the dataset to disk; the next Restart loads it, as a real
// server with persistence would come back with its keys.
func (s *Server) Save() error {
	_, err := s.Do("SAVE")
	return err
}

// AddUser creates an ACL user with every permission, for tests of the
// [user]:password@ URL forms. The default user keeps working.
func (s *Server) AddUser(name, password string) error {
	_, err := s.Do("ACL", "SETUSER", name, "on", ">"+password, "~*", "&*", "+@all")
	return err
}
