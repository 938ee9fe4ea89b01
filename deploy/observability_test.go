package deploy

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushpoll/pushpoll/internal/redistest"
	"github.com/pushpoll/pushpoll/notifier"
)

const (
	rulesFile     = "prometheus/pushpoll-rules.yml"
	dashboardFile = "grafana/pushpoll-dashboard.json"
)

// dashboardQueries returns every PromQL expression of the dashboard.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var out []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out = append(out, tg.Expr)
		}
	}
	if len(out) == 0 {
		t.Fatal("the dashboard has no queries")
	}
	return out
}

// The alert rules pass promtool, so do the dashboard's queries (checked as
// recording rules with Grafana's variables filled in), and every pushpoll_
// metric either names exists on a running node's /metrics.
func TestDashboardAndAlertRules(t *testing.T) {
	if testing.Short() {
		t.Skip("runs promtool and a node on redis-server")
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus; scripts/test installs it)")
	}
	check := func(file string) {
		out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput()
		if err != nil {
			t.Errorf("promtool check rules %s: %v\n%s", file, err, out)
		}
	}
	check(rulesFile)

	queries := dashboardQueries(t)
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	fill := strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*")
	for i, q := range queries {
		js, _ := json.Marshal(fill.Replace(q)) // a JSON string is a YAML string
		rules.WriteString("      - record: dashboard:query_" + strconv.Itoa(i) + "\n        expr: " + string(js) + "\n")
	}
	asRules := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	must(t, os.WriteFile(asRules, []byte(rules.String()), 0o600))
	check(asRules)

	rulesText, err := os.ReadFile(rulesFile)
	must(t, err)
	named := metricNames(string(rulesText) + "\n" + strings.Join(queries, "\n"))
	exported := nodeMetrics(t)
	var missing []string
	for _, m := range named {
		if !exported[m] {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		t.Errorf("named in %s or %s but not on a node's /metrics: %v", rulesFile, dashboardFile, missing)
	}
	if len(named) < 20 {
		t.Errorf("only %d metrics named: %v", len(named), named)
	}
}

// metricNames are the pushpoll_ families text refers to; histogram series
// (_bucket, _sum, _count) count as their family.
func metricNames(text string) []string {
	set := map[string]bool{}
	for _, m := range regexp.MustCompile(`\bpushpoll_[a-z_]+[a-z]`).FindAllString(text, -1) {
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if f, ok := strings.CutSuffix(m, suffix); ok && strings.HasSuffix(f, "_seconds") {
				m = f
			}
		}
		set[m] = true
	}
	var out []string
	for m := range set {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// nodeMetrics runs a node on a real redis-server (the broker's link
// metrics exist only with Redis) with --admin-listen, and returns the
// families its admin /metrics lists.
func nodeMetrics(t *testing.T) map[string]bool {
	t.Helper()
	rs := redistest.Start(t)
	cfg := notifier.Default()
	cfg.TokenSecret = strings.Repeat("k", 32)
	cfg.PublishSecretFile = filepath.Join(t.TempDir(), "publish-secret")
	must(t, os.WriteFile(cfg.PublishSecretFile, []byte(strings.Repeat("p", 16)), 0o600))
	cfg.RedisURL = rs.URL
	pub, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	adm, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	cfg.Listen, cfg.AdminListen = pub.Addr().String(), adm.Addr().String()
	srv, err := notifier.New(cfg)
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeAdmin(ctx, pub, adm) }()
	t.Cleanup(func() { cancel(); <-done })

	exported := map[string]bool{}
	deadline := time.Now().Add(20 * time.Second)
	for {
		// The canary's lag is known once its first round trip is done.
		body := get(t, "http://"+adm.Addr().String()+"/metrics")
		for _, line := range strings.Split(body, "\n") {
			if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
				exported[strings.Fields(f)[0]] = true
			}
		}
		if strings.Contains(body, "pushpoll_canary_lag_seconds{") || time.Now().After(deadline) {
			return exported
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
