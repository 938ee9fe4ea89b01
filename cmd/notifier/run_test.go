package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/pushpoll/pushpoll/internal/clientip"
	"github.com/pushpoll/pushpoll/internal/sioclient"
	"github.com/pushpoll/pushpoll/internal/version"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestHelpListsEveryFlagWithItsEnvironmentTwin(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, env(nil), &out, &out); err != nil {
		t.Fatalf("--help: %v", err)
	}
	for _, want := range []string{
		"--listen", "PUSHPOLL_LISTEN", ":8080",
		"--redis-url", "PUSHPOLL_REDIS_URL",
		"--advertise-url", "PUSHPOLL_ADVERTISE_URL",
		"--channel-prefix", "PUSHPOLL_CHANNEL_PREFIX", "pushpoll:",
		"--token-secret", "PUSHPOLL_TOKEN_SECRET",
		"--token-public-key", "PUSHPOLL_TOKEN_PUBLIC_KEY",
		"--auth-callback-url", "PUSHPOLL_AUTH_CALLBACK_URL",
		"--auth-callback-ttl", "PUSHPOLL_AUTH_CALLBACK_TTL", "5m0s",
		"--auth-callback-max-ttl", "PUSHPOLL_AUTH_CALLBACK_MAX_TTL", "1h0m0s",
		"--token-audience", "PUSHPOLL_TOKEN_AUDIENCE",
		"--publish-secret", "PUSHPOLL_PUBLISH_SECRET",
		"--allowed-origins", "PUSHPOLL_ALLOWED_ORIGINS",
		"--mode", "PUSHPOLL_MODE",
		"--fast-interval", "PUSHPOLL_FAST_INTERVAL", "5s",
		"--slow-interval", "PUSHPOLL_SLOW_INTERVAL", "1m0s",
		"--drain-timeout", "PUSHPOLL_DRAIN_TIMEOUT", "30s",
		"--hint-throttle", "PUSHPOLL_HINT_THROTTLE", "1s",
		"--spread-factor", "PUSHPOLL_SPREAD_FACTOR",
		"--dev", "--demo",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help does not mention %q", want)
		}
	}
}

func TestRefusesToStartWithoutAVerifier(t *testing.T) {
	err := run(context.Background(), []string{"--listen", "127.0.0.1:0"}, env(nil), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "--token-secret") || !strings.Contains(err.Error(), "--auth-callback-url") {
		t.Fatalf("err = %v, want one naming the missing flags", err)
	}
}

func TestEnvironmentTwinsAndFlagPrecedence(t *testing.T) {
	cfg, _, err := parseConfig([]string{"--mode", "shadow"}, env(map[string]string{
		"PUSHPOLL_MODE":            "poll",
		"PUSHPOLL_FAST_INTERVAL":   "2s",
		"PUSHPOLL_ALLOWED_ORIGINS": "https://a.example, https://b.example",
	}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Mode != "shadow" {
		t.Errorf("mode = %q: a flag must win over its environment twin", cfg.Mode)
	}
	if cfg.FastInterval != 2*time.Second {
		t.Errorf("fast interval = %v, want 2s from the environment", cfg.FastInterval)
	}
	if len(cfg.AllowedOrigins) != 2 || cfg.AllowedOrigins[1] != "https://b.example" {
		t.Errorf("origins = %q", cfg.AllowedOrigins)
	}
	_, _, err = parseConfig(nil, env(map[string]string{"PUSHPOLL_FAST_INTERVAL": "soon"}), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "PUSHPOLL_FAST_INTERVAL") {
		t.Fatalf("bad environment value: err = %v, want one naming the variable", err)
	}
}

func TestBadSettingsNameTheFlag(t *testing.T) {
	cases := map[string][]string{
		"--mode":             {"--mode", "turbo"},
		"--redis-url":        {"--redis-url", "localhost:6379"},
		"--token-secret":     {"--token-secret", "short"},
		"--token-public-key": {"--token-public-key", "/nonexistent.pem"},
		"--allowed-origins":  {"--allowed-origins", "app.example.com"},
		// Durations outside their bounds: the message names the bound too.
		"--slow-interval 900h is out of range: it must be between 1s and 1h": {"--slow-interval", "900h"},
		"--fast-interval 1ms is out of range: it must be between 1s and 5m":  {"--fast-interval", "1ms"},
		"--hint-throttle 2s must not exceed --fast-interval 1s":              {"--fast-interval", "1s", "--hint-throttle", "2s"},
		"--ping-interval 0s is out of range":                                 {"--ping-interval", "0s"},
		"--drain-timeout -1s is out of range":                                {"--drain-timeout", "-1s"},
		"--spread-factor -1 is out of range":                                 {"--spread-factor", "-1"},
		"--spread-factor 11 is out of range":                                 {"--spread-factor", "11"},
		"--spread-factor NaN is out of range":                                {"--spread-factor", "NaN"},
		"--advertise-url":                                                    {"--advertise-url", "http://10.0.0.7:8080/socket.io/"},
		// A number without its unit: the message says what a duration is.
		`"5" has no unit: use a duration such as 5s, 1m or 250ms`: {"--fast-interval", "5"},
		`"soon" is not a duration: use one such as 5s`:            {"--drain-timeout", "soon"},
		"--admin-listen":                          {"--admin-listen", "9090"},
		"--pprof needs --admin-listen":            {"--pprof"},
		"--publish-secret-file":                   {"--publish-secret-file", "/nonexistent"},
		"--admin-secret-file":                     {"--admin-secret-file", "/nonexistent"},
		"--redis-url-file":                        {"--redis-url-file", "/nonexistent"},
		"--redis-password-file needs --redis-url": {"--redis-password-file", "/nonexistent"},
		"--version-ttl 1m0s is out of range":      {"--redis-url", "redis://127.0.0.1:1", "--version-ttl", "1m"},
		"--redis-tls-* need a rediss:// URL":      {"--redis-url", "redis://127.0.0.1:1", "--redis-tls-server-name", "r"},
		"is not a wildcard origin":                {"--allowed-origins", "https://*.com"},
	}
	for want, args := range cases {
		t.Run(want, func(t *testing.T) {
			args := append([]string{"--listen", "127.0.0.1:0", "--auth-callback-url", "http://app.internal/authorize"}, args...)
			err := run(context.Background(), args, env(nil), &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want one saying %q", err, want)
			}
		})
	}
	t.Run("a duration without its unit from the environment", func(t *testing.T) {
		err := run(context.Background(), []string{"--listen", "127.0.0.1:0", "--auth-callback-url", "http://app.internal/authorize"},
			env(map[string]string{"PUSHPOLL_FAST_INTERVAL": "5"}), &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), `PUSHPOLL_FAST_INTERVAL: "5" has no unit: use a duration such as 5s`) {
			t.Fatalf("err = %v, want the unit named", err)
		}
	})
	t.Run("from the environment", func(t *testing.T) {
		err := run(context.Background(), []string{"--listen", "127.0.0.1:0", "--auth-callback-url", "http://app.internal/authorize"},
			env(map[string]string{"PUSHPOLL_SLOW_INTERVAL": "900h"}), &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "--slow-interval 900h is out of range") {
			t.Fatalf("err = %v, want the flag named for its environment twin", err)
		}
	})
}

// The real binary: --dev prints its generated secret and says it is for
// trials only; SIGTERM drains and exits 0; a second signal forces exit 1.
func TestSignals(t *testing.T) {
	bin := buildNotifier(t)
	start := func(args ...string) (*exec.Cmd, string, *bufio.Scanner) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		cmd := exec.Command(bin, append([]string{"--dev", "--listen", addr}, args...)...)
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		lines := bufio.NewScanner(stderr)
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
				resp.Body.Close()
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		return cmd, addr, lines
	}

	cmd, _, lines := start()
	sawSecret := false
	for lines.Scan() {
		if strings.Contains(lines.Text(), "for local trials only") && strings.Contains(lines.Text(), "--token-secret") {
			sawSecret = true
		}
		if strings.Contains(lines.Text(), `"msg":"listening"`) {
			break
		}
	}
	if !sawSecret {
		t.Error("--dev did not print its generated secret with a warning")
	}
	go func() {
		for lines.Scan() {
		}
	}()
	must(t, cmd.Process.Signal(syscall.SIGTERM))
	if err := waitExit(cmd, 10*time.Second); err != nil {
		t.Fatalf("after SIGTERM: %v, want exit status 0", err)
	}

	// A long drain window, interrupted by a second signal.
	cmd, addr, lines := start("--drain-timeout", "30s")
	go func() {
		for lines.Scan() {
		}
	}()
	// A socket that ignores `drain` keeps the node waiting for the window.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	moded := make(chan struct{}, 1)
	c, err := sioclient.Dial(ctx, "http://"+addr, sioclient.Options{OnEvent: func(e sioclient.Event) {
		if e.Name == "mode" {
			select {
			case moded <- struct{}{}:
			default:
			}
		}
	}})
	must(t, err)
	defer c.Close()
	// Dial returns once the handshake is in; the mode follows once the
	// node holds the socket. A signal before that drains an empty node.
	select {
	case <-moded:
	case <-ctx.Done():
		t.Fatal("no mode event: the node never took the socket")
	}
	must(t, cmd.Process.Signal(syscall.SIGTERM))
	// The second signal must land while the node drains, not before it has
	// taken the first (a loaded machine may take a while to deliver it).
	waitFor(t, 10*time.Second, "readiness to fail after SIGTERM", func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	must(t, cmd.Process.Signal(syscall.SIGTERM))
	err = waitExit(cmd, 10*time.Second)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("after a second signal: %v, want exit status 1", err)
	}
}

func waitExit(cmd *exec.Cmd, d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		_ = cmd.Process.Kill()
		return errors.New("did not exit in time")
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A trial prints its secrets and allows any origin, so it listens on
// loopback unless told otherwise.
func TestDevAndDemoListenOnLoopbackByDefault(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"dev", []string{"--dev"}, nil, "127.0.0.1:8080"},
		{"demo", []string{"--demo"}, nil, "127.0.0.1:8080"},
		{"dev with --listen", []string{"--dev", "--listen", ":9000"}, nil, ":9000"},
		{"demo with PUSHPOLL_LISTEN", []string{"--demo"}, map[string]string{"PUSHPOLL_LISTEN": "0.0.0.0:9001"}, "0.0.0.0:9001"},
		{"production", nil, nil, ":8080"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, _, err := parseConfig(c.args, env(c.env), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Listen != c.want {
				t.Errorf("listen = %q, want %q", cfg.Listen, c.want)
			}
		})
	}
}

// The version a release build stamps with -ldflags, as the README shows.
const (
	stampedVersion = "9.9.9-test"
	stampedCommit  = "feedface"
)

var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
	out  []byte
}

// buildNotifier builds the real binary once per test run, stamped with a
// version and commit.
func buildNotifier(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the notifier binary: skipped under -short")
	}
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "notifier-test")
		if built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "notifier")
		const pkg = "github.com/pushpoll/pushpoll/internal/version"
		build := exec.Command("go", "build", "-o", built.bin,
			"-ldflags", "-X "+pkg+".version="+stampedVersion+" -X "+pkg+".commit="+stampedCommit, ".")
		built.out, built.err = build.CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("build: %v\n%s", built.err, built.out)
	}
	return built.bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// What the user asked to read goes to stdout, so `notifier --version | cat`
// and `notifier --help | less` work; a mistake goes to stderr and fails.
func TestVersionAndHelpOnStdout(t *testing.T) {
	bin := buildNotifier(t)
	cases := []struct {
		args       []string
		wantCode   int
		wantStdout string // prefix
		wantStderr string // substring
	}{
		{[]string{"--version"}, 0, "pushpoll notifier " + stampedVersion + " (commit " + stampedCommit + ", go", ""},
		{[]string{"--help"}, 0, "Usage: notifier [flags]", ""},
		{[]string{"-h"}, 0, "Usage: notifier [flags]", ""},
		{[]string{"--no-such-flag"}, 1, "", "flag provided but not defined: -no-such-flag (see --help)"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin, c.args...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			if exit, ok := err.(*exec.ExitError); ok {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != c.wantCode {
				t.Errorf("exit %d, want %d; stderr %q", code, c.wantCode, stderr.String())
			}
			if !strings.HasPrefix(stdout.String(), c.wantStdout) || (c.wantStdout == "" && stdout.Len() > 0) {
				t.Errorf("stdout %q, want it to start with %q", stdout.String(), c.wantStdout)
			}
			if c.wantStderr == "" && stderr.Len() > 0 || !strings.Contains(stderr.String(), c.wantStderr) {
				t.Errorf("stderr %q, want %q", stderr.String(), c.wantStderr)
			}
		})
	}
}

// Without -ldflags, a build reports the source tree's version.
func TestVersionUnstamped(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"--version"}, env(nil), &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if want := "pushpoll notifier " + version.Default + " (commit "; !strings.HasPrefix(stdout.String(), want) || stderr.Len() > 0 {
		t.Fatalf("stdout %q, stderr %q; want stdout to start with %q", stdout.String(), stderr.String(), want)
	}
}

// TestKeyRotationOnSIGHUP: the real binary reloads --token-secret-file on
// SIGHUP. A socket connected before the reload stays connected and, with
// the old secret retired, subscribes with a token signed by the new one.
func TestKeyRotationOnSIGHUP(t *testing.T) {
	const (
		oldSecret = "old-secret-0123456789abcdef0123456789"
		newSecret = "new-secret-0123456789abcdef0123456789"
	)
	bin := buildNotifier(t)
	secrets := filepath.Join(t.TempDir(), "secrets")
	must(t, os.WriteFile(secrets, []byte("# the app signs with the first\n"+oldSecret+"\n"), 0o600))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "--listen", addr, "--token-secret-file", secrets)
	stderr, _ := cmd.StderrPipe()
	must(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	logs := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs <- sc.Text()
		}
		close(logs)
	}()
	waitLog := func(want string) {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case line, ok := <-logs:
				if !ok {
					t.Fatalf("the notifier exited before logging %q", want)
				}
				if strings.Contains(line, want) {
					return
				}
			case <-timeout:
				t.Fatalf("no %q in the log", want)
			}
		}
	}
	waitLog(`"msg":"listening"`)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := sioclient.Dial(ctx, "http://"+addr, sioclient.Options{OnEvent: func(sioclient.Event) {}})
	must(t, err)
	defer c.Close()
	subscribe := func(secret, topic string) []string {
		t.Helper()
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"sub": "u", "aud": "pushpoll", "topics": []string{topic}, "exp": time.Now().Add(time.Hour).Unix(),
		}).SignedString([]byte(secret))
		must(t, err)
		args, err := c.EmitAck(ctx, "subscribe", map[string]any{"token": tok, "topics": map[string]int64{topic: 0}})
		must(t, err)
		var ack struct{ Granted []string }
		if len(args) != 1 || json.Unmarshal(args[0], &ack) != nil {
			t.Fatalf("ack %s", args)
		}
		return ack.Granted
	}
	if g := subscribe(oldSecret, "a"); len(g) != 1 {
		t.Fatalf("old secret before the rotation: granted %v", g)
	}
	if g := subscribe(newSecret, "b"); len(g) != 0 {
		t.Fatalf("new secret before the reload: granted %v", g)
	}
	must(t, os.WriteFile(secrets, []byte(newSecret+"\n"), 0o600))
	must(t, cmd.Process.Signal(syscall.SIGHUP))
	waitLog("token keys reloaded")
	if g := subscribe(newSecret, "c"); len(g) != 1 {
		t.Fatalf("new secret after the reload: granted %v", g)
	}
	if g := subscribe(oldSecret, "d"); len(g) != 0 {
		t.Fatalf("retired secret after the reload: granted %v", g)
	}
	select {
	case <-c.Done():
		t.Fatal("the socket was dropped by the reload")
	default:
	}
}

// Behind a balancer every socket comes from its address: unless the balancers
// of the operator's network are believed by default, --max-sockets-per-client
// would count every browser as one client.
func TestTrustedProxiesDefaultToPrivateNetworks(t *testing.T) {
	cfg, _, err := parseConfig(nil, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.TrustedProxies, []string{"private"}) {
		t.Errorf("default --trusted-proxies = %q, want [private]", cfg.TrustedProxies)
	}
	cfg, _, err = parseConfig(nil, env(map[string]string{"PUSHPOLL_TRUSTED_PROXIES": "none"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := clientip.ParseTrusted(cfg.TrustedProxies); err != nil || r.Trusted(netip.MustParseAddr("127.0.0.1")) {
		t.Errorf("PUSHPOLL_TRUSTED_PROXIES=none gave %q (err %v), want no trusted proxy", cfg.TrustedProxies, err)
	}
}
