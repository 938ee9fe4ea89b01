package notifier_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/pushpoll/pushpoll/internal/sioclient"
	"github.com/pushpoll/pushpoll/notifier"
)

// kubeSecret writes files the way the kubelet updates a Secret volume: the
// visible name is a symlink through ..data to a timestamped directory, and
// an update swaps ..data atomically. The file itself is never rewritten.
type kubeSecret struct {
	t   *testing.T
	dir string
	gen int
}

func newKubeSecret(t *testing.T, files map[string]string) *kubeSecret {
	k := &kubeSecret{t: t, dir: t.TempDir()}
	k.update(files)
	for name := range files {
		must(t, os.Symlink(filepath.Join("..data", name), filepath.Join(k.dir, name)))
	}
	return k
}

func (k *kubeSecret) path(name string) string { return filepath.Join(k.dir, name) }

func (k *kubeSecret) update(files map[string]string) {
	k.gen++
	gen := filepath.Join(k.dir, "..gen"+strings.Repeat("x", k.gen))
	must(k.t, os.Mkdir(gen, 0o700))
	for name, content := range files {
		must(k.t, os.WriteFile(filepath.Join(gen, name), []byte(content), 0o600))
	}
	tmp := filepath.Join(k.dir, "..data_tmp")
	must(k.t, os.Symlink(filepath.Base(gen), tmp))
	must(k.t, os.Rename(tmp, filepath.Join(k.dir, "..data")))
}

const (
	publishSecret2 = "second-publish-secret-0123"
	adminSecret2   = "second-admin-secret-0123"
)

func TestSecretFilesReloadWithoutASignal(t *testing.T) {
	sec := newKubeSecret(t, map[string]string{"publish": publishSecret + "\n", "admin": adminSecret + "\n", "token": testSecret + "\n"})
	cfg := testConfig()
	cfg.PublishSecret, cfg.TokenSecret = "", ""
	cfg.PublishSecretFile, cfg.AdminSecretFile, cfg.TokenSecretFile = sec.path("publish"), sec.path("admin"), sec.path("token")
	cfg.SecretPoll = 20 * time.Millisecond
	n := startNode(t, cfg)
	bump := `{"topic":"t","v":1}`
	if code, body := publishHTTP(t, n, publishSecret, bump); code != 202 {
		t.Fatalf("publish with the file's secret = %d %s", code, body)
	}
	if got := status(t, n.url+"/v1/admin/mode", adminSecret); got != 200 {
		t.Fatalf("admin with the file's secret = %d", got)
	}
	newToken := func() string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"sub": "u", "aud": "pushpoll", "topics": []string{"t"}, "exp": time.Now().Add(time.Hour).Unix(),
		}).SignedString([]byte(testSecret + "-rotated"))
		must(t, err)
		return s
	}

	sec.update(map[string]string{"publish": publishSecret2, "admin": adminSecret2, "token": testSecret + "-rotated\n"})
	waitFor(t, 10*time.Second, "new publish secret in use", func() bool {
		code, _ := publishHTTP(t, n, publishSecret2, bump)
		return code == 202
	})
	if code, _ := publishHTTP(t, n, publishSecret, bump); code != 401 {
		t.Errorf("old publish secret = %d after rotation, want 401", code)
	}
	waitFor(t, 10*time.Second, "new admin secret in use", func() bool {
		return status(t, n.url+"/v1/admin/mode", adminSecret2) == 200
	})
	waitFor(t, 10*time.Second, "rotated token key in use", func() bool {
		c := dial(t, n, sioclient.Options{})
		defer c.Close()
		return len(c.subscribe(newToken(), map[string]int64{"t": 0}).Granted) == 1
	})
	for _, flag := range []string{"publish-secret-file", "admin-secret-file", "token-secret-file"} {
		if v := metricValue(t, n, `pushpoll_secret_file_reloads_total{flag="`+flag+`",result="ok"}`); v != 1 {
			t.Errorf("%s reloads ok = %v, want 1", flag, v)
		}
	}

	// Bad content, then a missing file: the node keeps what it had, says
	// so once per problem and counts it.
	sec.update(map[string]string{"publish": "short", "admin": "two\nlines-of-secret-here", "token": "# only a comment\n"})
	for _, flag := range []string{"publish-secret-file", "admin-secret-file", "token-secret-file"} {
		waitFor(t, 10*time.Second, flag+" refusal counted", func() bool {
			return metricValue(t, n, `pushpoll_secret_file_reloads_total{flag="`+flag+`",result="failed"}`) == 1
		})
	}
	must(t, os.Remove(sec.path("publish")))
	waitFor(t, 10*time.Second, "missing file counted", func() bool {
		return metricValue(t, n, `pushpoll_secret_file_reloads_total{flag="publish-secret-file",result="failed"}`) == 2
	})
	if code, body := publishHTTP(t, n, publishSecret2, bump); code != 202 {
		t.Errorf("publish after bad files = %d %s, want the last good secret kept", code, body)
	}
	if got := status(t, n.url+"/v1/admin/mode", adminSecret2); got != 200 {
		t.Errorf("admin after a bad file = %d, want the last good secret kept", got)
	}
	c := dial(t, n, sioclient.Options{})
	if len(c.subscribe(newToken(), map[string]int64{"t": 0}).Granted) != 1 {
		t.Error("token keys lost after a bad key file")
	}
	if code, _ := publishHTTP(t, n, publishSecret2, bump); code != 202 {
		t.Fatal("node stopped serving")
	}
}

func TestSecretFileRefusedAtStart(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	must(t, os.WriteFile(short, []byte("short\n"), 0o600))
	cases := []struct {
		name string
		set  func(*notifier.Config)
		want string
	}{
		{"missing", func(c *notifier.Config) { c.PublishSecret = ""; c.PublishSecretFile = filepath.Join(dir, "none") }, "--publish-secret-file"},
		{"short", func(c *notifier.Config) { c.AdminSecretFile = short }, "--admin-secret-file " + short + ": bad secret file: shorter than 16"},
		{"both", func(c *notifier.Config) { c.PublishSecretFile = short }, "--publish-secret and --publish-secret-file exclude each other"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig()
			c.set(&cfg)
			_, err := notifier.New(cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New = %v, want %q", err, c.want)
			}
		})
	}
}
