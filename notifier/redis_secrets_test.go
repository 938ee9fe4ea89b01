package notifier_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushpoll/pushpoll/internal/redistest"
	"github.com/pushpoll/pushpoll/internal/sioclient"
)

// A Redis password rotated in its file reaches the connections the node
// dials after it, with no restart and no signal; a URL file that moves to
// other servers is refused and the node stays on the ones it has.
func TestRedisPasswordFileRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	rs := redistest.Start(t)
	acl := func(pass string) {
		t.Helper()
		if _, err := rs.Do("ACL", "SETUSER", "pushpoll", "on", "resetpass", ">"+pass, "~*", "&*", "+@all"); err != nil {
			t.Fatal(err)
		}
	}
	acl("first-password")
	dir := t.TempDir()
	urlFile, pwFile := filepath.Join(dir, "url"), filepath.Join(dir, "password")
	must(t, os.WriteFile(urlFile, []byte("redis://pushpoll:not-this-one@"+rs.Addr+"\n"), 0o600))
	must(t, os.WriteFile(pwFile, []byte("first-password\n"), 0o600))
	cfg := testConfig()
	cfg.RedisURLFile, cfg.RedisPasswordFile = urlFile, pwFile
	cfg.SecretPoll = 20 * time.Millisecond
	n := startNode(t, cfg)
	settled(t, n)

	acl("second-password")
	must(t, os.WriteFile(pwFile, []byte("second-password\n"), 0o600))
	waitFor(t, 10*time.Second, "new password read", func() bool {
		return metricValue(t, n, `pushpoll_secret_file_reloads_total{flag="redis-password-file",result="ok"}`) == 1
	})
	// Open connections stay authenticated; cut them so the node must dial
	// again, with the new password.
	if _, err := rs.Do("CLIENT", "KILL", "USER", "pushpoll"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "link back with the new password", func() bool {
		return metricValue(t, n, `pushpoll_broker_reconnects_total{link="redis"}`) > 0 &&
			metricValue(t, n, `pushpoll_broker_up{link="redis"}`) == 1
	})
	c := dial(t, n, sioclient.Options{})
	c.subscribe(token(t, "t"), map[string]int64{"t": 0})
	if code, body := publishHTTP(t, n, publishSecret, `{"topic":"t","v":7}`); code != 202 {
		t.Fatalf("publish after rotation = %d %s", code, body)
	}
	c.waitHint("t", 7, 10*time.Second)

	other := strings.Replace(rs.Addr, "127.0.0.1", "127.0.0.2", 1)
	must(t, os.WriteFile(urlFile, []byte("redis://pushpoll:x@"+other), 0o600))
	waitFor(t, 10*time.Second, "server change refused", func() bool {
		return metricValue(t, n, `pushpoll_secret_file_reloads_total{flag="redis-url-file",result="failed"}`) == 1
	})
	if code, _ := publishHTTP(t, n, publishSecret, `{"topic":"t","v":8}`); code != 202 {
		t.Fatal("node lost Redis after a refused URL file")
	}
}
