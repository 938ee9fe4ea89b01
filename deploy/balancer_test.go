package deploy

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// upstream stands in for the nodes: it answers 200 to every path and
// records the forwarding headers, so a 404 can only come from the balancer.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen http.Header
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = r.Header.Clone()
		u.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(u.Close)
	return u
}

// balancerConfig is deploy/<file> with its node addresses and listen port
// replaced, as client-js/e2e/balancers.mjs does.
func balancerConfig(t *testing.T, file, listen, replacement string, node string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	must(t, err)
	text := regexp.MustCompile(`node\d\.internal:8080`).ReplaceAllString(string(b), node)
	if !strings.Contains(text, listen) {
		t.Fatalf("%s has no %q", file, listen)
	}
	return strings.Replace(text, listen, replacement, 1)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// The shipped balancer files never route the operator's paths, and they
// forward the client's address and scheme.
func TestBalancersHideAdminPathsAndForwardTheClient(t *testing.T) {
	if testing.Short() {
		t.Skip("runs nginx and haproxy")
	}
	run := map[string]func(t *testing.T, dir, node string, port int) *exec.Cmd{
		"nginx": func(t *testing.T, dir, node string, port int) *exec.Cmd {
			site := balancerConfig(t, "nginx/pushpoll.conf", "listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", port), node)
			must(t, os.WriteFile(filepath.Join(dir, "site.conf"), []byte(site), 0o600))
			main := fmt.Sprintf("pid %[1]s/nginx.pid;\nerror_log stderr;\ndaemon off;\nevents {}\nhttp {\n access_log off;\n"+
				" client_body_temp_path %[1]s; proxy_temp_path %[1]s; fastcgi_temp_path %[1]s; uwsgi_temp_path %[1]s; scgi_temp_path %[1]s;\n"+
				" include %[1]s/site.conf;\n}\n", dir)
			must(t, os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o600))
			return exec.Command("nginx", "-c", filepath.Join(dir, "nginx.conf"), "-p", dir)
		},
		"haproxy": func(t *testing.T, dir, node string, port int) *exec.Cmd {
			cfg := balancerConfig(t, "haproxy/haproxy.cfg", "bind :80\n", fmt.Sprintf("bind 127.0.0.1:%d\n", port), node)
			must(t, os.WriteFile(filepath.Join(dir, "haproxy.cfg"), []byte(cfg), 0o600))
			return exec.Command("haproxy", "-db", "-f", filepath.Join(dir, "haproxy.cfg"))
		},
	}
	for name, start := range run {
		t.Run(name, func(t *testing.T) {
			if _, err := exec.LookPath(name); err != nil {
				t.Skipf("%s not installed", name)
			}
			up := newUpstream(t)
			port := freePort(t)
			cmd := start(t, t.TempDir(), strings.TrimPrefix(up.URL, "http://"), port)
			var logs strings.Builder
			cmd.Stdout, cmd.Stderr = &logs, &logs
			// SIGTERM, not SIGKILL: nginx's master takes its workers down
			// with it only when it can. WaitDelay stops waiting on a pipe a
			// stray child still holds.
			cmd.WaitDelay = 5 * time.Second
			must(t, cmd.Start())
			t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
			client := &http.Client{Timeout: 5 * time.Second}
			base := fmt.Sprintf("http://127.0.0.1:%d", port)
			get := func(path string) int {
				req, _ := http.NewRequest(http.MethodGet, base+path, nil)
				req.Header.Set("X-Forwarded-For", "203.0.113.9") // a client's claim, kept as the first hop
				resp, err := client.Do(req)
				if err != nil {
					return 0
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			deadline := time.Now().Add(10 * time.Second)
			for get("/healthz") != 200 {
				if time.Now().After(deadline) {
					t.Fatalf("%s not serving:\n%s", name, logs.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			up.mu.Lock()
			seen := up.seen
			up.mu.Unlock()
			// One header or several (HAProxy adds its own line): the last
			// hop is the address the balancer saw.
			if xff := strings.Join(seen.Values("X-Forwarded-For"), ", "); !strings.HasSuffix(xff, "127.0.0.1") {
				t.Errorf("X-Forwarded-For = %q, want the client's address appended", xff)
			}
			if proto := seen.Get("X-Forwarded-Proto"); proto != "http" {
				t.Errorf("X-Forwarded-Proto = %q, want http", proto)
			}
			for path, want := range map[string]int{
				"/metrics": 404, "/v1/admin/mode": 404, "/debug/pprof/": 404, "/metrics/x": 404,
				"/healthz": 200, "/readyz": 200, "/pushpoll.js": 200, "/socket.io/?EIO=3&transport=polling": 200, "/v1/publish": 200,
			} {
				if got := get(path); got != want {
					t.Errorf("%s %s = %d, want %d", name, path, got, want)
				}
			}
		})
	}
}
