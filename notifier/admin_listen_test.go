package notifier_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pushpoll/pushpoll/notifier"
)

// startAdminNode runs a node with --admin-listen on two real loopback
// listeners and returns their base URLs.
func startAdminNode(t *testing.T, cfg notifier.Config) (public, admin string) {
	t.Helper()
	pub, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adm, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.AdminListen = adm.Addr().String()
	srv, err := notifier.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeAdmin(ctx, pub, adm) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	public, admin = "http://"+pub.Addr().String(), "http://"+adm.Addr().String()
	waitFor(t, 10*time.Second, "both listeners ready", func() bool {
		return status(t, public+"/readyz", "") == 200 && status(t, admin+"/readyz", "") == 200
	})
	return public, admin
}

func status(t *testing.T, url, bearer string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestAdminListenSplitsPaths(t *testing.T) {
	cfg := testConfig()
	cfg.AdminSecret = adminSecret
	cfg.Pprof = true
	public, admin := startAdminNode(t, cfg)
	cases := []struct {
		path          string
		public, admin int
	}{
		{"/healthz", 200, 200},
		{"/readyz", 200, 200},
		{"/metrics", 404, 200},
		{"/v1/admin/mode", 404, 200},
		{"/debug/pprof/", 404, 200},
		{"/debug/pprof/goroutine", 404, 200},
		{"/pushpoll.js", 200, 404},
		{"/socket.io/?EIO=3&transport=polling", 200, 404},
	}
	for _, c := range cases {
		t.Run(strings.Trim(c.path, "/"), func(t *testing.T) {
			if got := status(t, public+c.path, adminSecret); got != c.public {
				t.Errorf("public %s = %d, want %d", c.path, got, c.public)
			}
			if got := status(t, admin+c.path, adminSecret); got != c.admin {
				t.Errorf("admin %s = %d, want %d", c.path, got, c.admin)
			}
		})
	}
}

// Without --admin-listen the operator's paths stay where they were, and the
// profiler is nowhere.
func TestNoAdminListenKeepsPaths(t *testing.T) {
	cfg := testConfig()
	cfg.AdminSecret = adminSecret
	n := startNode(t, cfg)
	for path, want := range map[string]int{"/metrics": 200, "/v1/admin/mode": 200, "/debug/pprof/": 404} {
		if got := status(t, n.url+path, adminSecret); got != want {
			t.Errorf("%s = %d, want %d", path, got, want)
		}
	}
}

func TestAdminListenRefused(t *testing.T) {
	cases := []struct {
		name string
		set  func(*notifier.Config)
		want string
	}{
		{"not an address", func(c *notifier.Config) { c.AdminListen = "9090" }, "--admin-listen"},
		{"bad port", func(c *notifier.Config) { c.AdminListen = ":99999" }, "--admin-listen"},
		{"same as listen", func(c *notifier.Config) { c.Listen = ":8080"; c.AdminListen = ":8080" }, "--admin-listen must differ"},
		{"pprof without admin", func(c *notifier.Config) { c.Pprof = true }, "--pprof needs --admin-listen"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig()
			c.set(&cfg)
			_, err := notifier.New(cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New = %v, want an error with %q", err, c.want)
			}
		})
	}
}
