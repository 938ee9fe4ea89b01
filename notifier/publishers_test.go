package notifier_test

// The app-side publish helpers in scripts/publish, run for real: each mints a
// token that a socket subscribes with, then bumps through a real Redis, and
// the socket must get the hint. scripts/publish/publish_test.go checks what
// the helpers put into Redis; this checks that the notifier agrees with them.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pushpoll/pushpoll/internal/redistest"
	"github.com/pushpoll/pushpoll/internal/sioclient"
	"github.com/pushpoll/pushpoll/notifier"
)

// repoRoot is where the helpers' paths start; go test runs in notifier/.
const repoRoot = ".."

// publisher is one helper's command line: <cli...> token|bump <args>.
type publisher struct {
	name string
	cli  []string
	// needs says what to install when the helper cannot run.
	needs string
	// probe runs (from the repository root) only when the helper's own
	// dependencies are there.
	probe []string
}

var publishers = []publisher{
	{"ruby", []string{"ruby", "-Iscripts/publish/ruby/lib", "scripts/publish/ruby/exe/pushpoll"}, "apt-get install ruby ruby-redis ruby-jwt (scripts/test installs them)",
		[]string{"ruby", "-e", `require "redis"; require "jwt"`}},
	{"node", []string{"node", "scripts/publish/node/pushpoll.mjs"}, "Node.js 20+, and `npm ci` in scripts/publish/node (scripts/test runs it)",
		[]string{"node", "-e", `require.resolve("./scripts/publish/node/node_modules/redis"); require.resolve("./scripts/publish/node/node_modules/jsonwebtoken")`}},
	// Debian's interpreter: python3-redis and python3-jwt install for it,
	// not for a pyenv or Homebrew python3 that may come first on PATH.
	{"python", []string{"env", "PYTHONPATH=scripts/publish/python/src", "/usr/bin/python3", "-m", "pushpoll"}, "apt-get install python3 python3-redis python3-jwt (scripts/test installs them)",
		[]string{"/usr/bin/python3", "-c", "import redis, jwt"}},
}

// run executes the helper from the repository root and returns its trimmed
// stdout, failing the test on a non-zero exit. The caller's PUSHPOLL_*
// variables are dropped so a developer's shell cannot change the outcome.
func (p publisher) run(t *testing.T, args ...string) string {
	t.Helper()
	// Interpreters start in well under a second; the bound turns a helper
	// that hangs (retrying a Redis that is not there) into a failure.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	argv := append(slices.Clone(p.cli), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = repoRoot
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "PUSHPOLL_") })
	// Importing the pushpoll package would otherwise leave a __pycache__ in the tree.
	cmd.Env = append(cmd.Env, "PYTHONDONTWRITEBYTECODE=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstderr:\n%s\n(the %s helper needs: %s)", p.name, args[0], err, stderr.String(), p.name, p.needs)
	}
	return strings.TrimSpace(stdout.String())
}

// ready skips the test when the helper's interpreter or its libraries are
// missing: a fresh clone's `go test ./notifier` needs no Python, Ruby or
// Node. scripts/test installs them, and go test ./scripts/publish/ fails
// without them.
func (p publisher) ready(t *testing.T) {
	t.Helper()
	cmd := exec.Command(p.probe[0], p.probe[1:]...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("the %s helper cannot run here (%v %s); it needs: %s", p.name, err, bytes.TrimSpace(out), p.needs)
	}
}

func TestPublishersReachSockets(t *testing.T) {
	rs := redistest.Start(t)
	cfg := testConfig()
	cfg.RedisURL = rs.URL
	// Every bump reaches the hub as it arrives, so the marker below follows
	// whatever a stale bump caused; the throttle would hold one that came
	// within a window until that window's end.
	cfg.HintThrottle = 0
	n := startNode(t, cfg)
	settled(t, n)
	for _, p := range publishers {
		t.Run(p.name, func(t *testing.T) {
			p.ready(t)
			t.Parallel()
			topic := "pub:" + p.name + ":42"
			// A prefix grant as an app would mint it, for 5 minutes.
			tok := p.run(t, "token", testSecret, "user-"+p.name, "pub:"+p.name+":*,elsewhere", "300")
			held := int64(0)
			for _, tr := range transports {
				c := dial(t, n, sioclient.Options{Transport: tr})
				// Subscribing with the version already out, so the only hint
				// is the next bump's.
				a := c.subscribe(tok, map[string]int64{topic: held, "pub:" + p.name + ":marker": 0, "pub:nope:1": 0})
				if len(a.Granted) != 2 || a.Denied["pub:nope:1"] != "not in token" {
					t.Fatalf("%s: the %s token got ack %+v", tr, p.name, a)
				}
				held += 10
				if got := p.run(t, "bump", rs.URL, topic, fmt.Sprint(held)); got != "true" {
					t.Fatalf("bump printed %q, want true", got)
				}
				c.waitHint(topic, held, 5*time.Second)
				// An older version changes nothing and hints nobody.
				if got := p.run(t, "bump", rs.URL, topic, "3"); got != "false" {
					t.Fatalf("stale bump printed %q, want false", got)
				}
				marker := "pub:" + p.name + ":marker"
				c.settle(marker, func(v int64) {
					_, err := rs.Do("PUBLISH", "pushpoll:"+marker, fmt.Sprint(v))
					must(t, err)
				})
				n := 0
				for _, h := range c.stale() {
					if _, ok := h[topic]; ok {
						n++
					}
				}
				if n != 1 {
					t.Fatalf("%s: hints %v, want only the bump", tr, c.stale())
				}
			}
		})
	}
}

// A bump that the app publishes through the version table just after a
// browser's subscribe was acked must reach that browser, even when the topic
// is new to the node: either the node's Redis SUBSCRIBE is in place before
// the bump's PUBLISH, or the catch-up read of the version table comes after
// the bump's SET. (The node now waits for Redis to confirm the SUBSCRIBE
// before it reads the table and acks.)
func TestBumpRightAfterSubscribeIsNotLost(t *testing.T) {
	rs := redistest.Start(t)
	cfg := testConfig()
	cfg.RedisURL = rs.URL
	cfg.SubscribeBurst = 100 // 40 subscribes in a row
	n := startNode(t, cfg)
	settled(t, n)
	c := dial(t, n, sioclient.Options{})
	const trials = 40
	for i := range trials {
		topic := fmt.Sprintf("fresh:%d", i)
		c.subscribe(token(t, topic), map[string]int64{topic: 0})
		// The script the publish helpers embed: SET the version, PUBLISH it.
		_, err := rs.Do("EVAL", notifier.PublishScript, "1", "pushpoll:"+topic, "1", `{"v":1}`)
		must(t, err)
	}
	for i := range trials {
		c.waitHint(fmt.Sprintf("fresh:%d", i), 1, 5*time.Second)
	}
}
