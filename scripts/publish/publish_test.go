// Package publish_test drives the publish helpers (Ruby, Node, Python and the
// shell script) the way an app or an operator runs them, against a real
// redis-server, and checks what reaches Redis and what the notifier accepts.
//
// Every helper has the same command-line shape, so one table drives them all:
//
//	<helper> bump <redis-url> <topic> <version>        prints true or false
//	<helper> token <secret> <sub> <topic,topic> <ttl>  prints a JWT
//	<helper> lua                                       prints its embedded script
//
// bump.sh takes <topic> <version> [redis-url] and only bumps. A missing
// interpreter or library fails the test and names the package to install: a
// skipped test would let a broken helper ship.
package publish_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gomodule/redigo/redis"

	"github.com/pushpoll/pushpoll/internal/redistest"
)

// luaPath is the script the helpers run; go test runs in this directory.
const luaPath = "../../notifier/publish.lua"

// secret is long enough that no JWT library warns about a short HMAC key.
const secret = "publish-test-secret-0123456789abcdef"

// commandTimeout bounds one helper run. Interpreters start in well under a
// second; the margin is for a loaded CI machine, and the bound turns a helper
// that hangs (say, retrying an unreachable Redis forever) into a failure.
const commandTimeout = 60 * time.Second

type helper struct {
	name string
	// cli is the command that runs the helper's command-line interface; nil
	// for bump.sh, which has its own shape.
	cli []string
	// ready fails the test, naming what to install, if the helper cannot run.
	ready func(t *testing.T)
	// numericSub prints a token minted through the library API with the
	// integer subject a Rails or Django user id is, and the default ttl.
	numericSub []string
}

func (h helper) bumpArgs(url, topic, version string) []string {
	if h.cli == nil {
		return []string{"./bump.sh", topic, version, url}
	}
	return append(slices.Clone(h.cli), "bump", url, topic, version)
}

func helpers() []helper {
	py := python()
	return []helper{
		{
			name:  "ruby",
			cli:   []string{"ruby", "-Iruby/lib", "ruby/exe/pushpoll"},
			ready: rubyReady,
			numericSub: []string{"ruby", "-Iruby/lib", "-e",
				`require "pushpoll"; PushPoll.configure(secret: ARGV[0]); print PushPoll.token(sub: 42, topics: ["project:42"])`, secret},
		},
		{
			name:  "node",
			cli:   []string{"node", "node/pushpoll.mjs"},
			ready: nodeReady,
			numericSub: []string{"node", "--input-type=module", "-e",
				`import * as pp from "./node/pushpoll.mjs"; pp.configure({ secret: process.argv[1] }); process.stdout.write(pp.token({ sub: 42, topics: ["project:42"] }));`, secret},
		},
		{
			name:  "python",
			cli:   []string{"env", "PYTHONPATH=python/src", py, "-m", "pushpoll"},
			ready: pythonReady,
			numericSub: []string{"env", "PYTHONPATH=python/src", py, "-c",
				`import sys, pushpoll; pushpoll.configure(secret=sys.argv[1]); sys.stdout.write(pushpoll.token(sub=42, topics=["project:42"]))`, secret},
		},
		{name: "shell", ready: shellReady},
	}
}

// libraries are the helpers that embed the script and mint tokens.
func libraries() []helper {
	return slices.DeleteFunc(helpers(), func(h helper) bool { return h.cli == nil })
}

// python is Debian's interpreter, because python3-redis and python3-jwt
// install for it and not for another python3 (pyenv, Homebrew) that may come
// first on PATH. PUSHPOLL_TEST_PYTHON names another interpreter that has
// redis and jwt.
func python() string {
	if p := os.Getenv("PUSHPOLL_TEST_PYTHON"); p != "" {
		return p
	}
	return "/usr/bin/python3"
}

var (
	rubyCheck = sync.OnceValue(func() error {
		if _, err := exec.LookPath("ruby"); err != nil {
			return errors.New("ruby not found: apt-get install ruby ruby-redis ruby-jwt (scripts/test installs them)")
		}
		if out, err := exec.Command("ruby", "-e", `require "redis"; require "jwt"`).CombinedOutput(); err != nil {
			return fmt.Errorf("ruby cannot load the redis and jwt gems: apt-get install ruby-redis ruby-jwt (scripts/test installs them): %v\n%s", err, out)
		}
		return nil
	})
	pythonCheck = sync.OnceValue(func() error {
		py := python()
		if _, err := exec.LookPath(py); err != nil {
			return fmt.Errorf("%s not found: apt-get install python3 python3-redis python3-jwt (scripts/test installs them)", py)
		}
		if out, err := exec.Command(py, "-c", "import redis, jwt").CombinedOutput(); err != nil {
			return fmt.Errorf("%s cannot import redis and jwt: apt-get install python3-redis python3-jwt (scripts/test installs them): %v\n%s", py, err, out)
		}
		return nil
	})
	shellCheck = sync.OnceValue(func() error {
		if _, err := exec.LookPath("redis-cli"); err != nil {
			return errors.New("redis-cli not found: apt-get install redis-tools (scripts/test installs it)")
		}
		return nil
	})
	// nodeCheck installs the pinned packages once per test binary when they
	// are missing, so a fresh checkout passes `go test ./...` on its own.
	nodeCheck = sync.OnceValue(func() error {
		for _, bin := range []string{"node", "npm"} {
			if _, err := exec.LookPath(bin); err != nil {
				return fmt.Errorf("%s not found: install Node.js 18 or later with npm", bin)
			}
		}
		if fileExists("node/node_modules/redis/package.json") && fileExists("node/node_modules/jsonwebtoken/package.json") {
			return nil
		}
		// npm ci fetches from the registry; five minutes covers a slow mirror.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = "node"
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("npm ci in scripts/publish/node: %v\n%s", err, out)
		}
		return nil
	})
)

func rubyReady(t *testing.T)   { t.Helper(); crossLanguage(t); must(t, rubyCheck()) }
func pythonReady(t *testing.T) { t.Helper(); crossLanguage(t); must(t, pythonCheck()) }
func shellReady(t *testing.T)  { t.Helper(); crossLanguage(t); must(t, shellCheck()) }
func nodeReady(t *testing.T)   { t.Helper(); crossLanguage(t); must(t, nodeCheck()) }

// crossLanguage skips, under -short, a test that runs another language's
// interpreter: the fast lane is Go and in-process only.
func crossLanguage(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs another language's helper: skipped under -short")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

type result struct {
	stdout, stderr string
	code           int
}

// run executes argv in this directory with extra environment entries. The
// caller's PUSHPOLL_* variables are dropped so that a developer's shell
// cannot change what a helper does under test.
func run(t *testing.T, env []string, argv ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "PUSHPOLL_") })
	// Importing the pushpoll package would otherwise leave a __pycache__ in the tree.
	cmd.Env = append(cmd.Env, "PYTHONDONTWRITEBYTECODE=1")
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%q did not finish within %s; stderr:\n%s", argv, commandTimeout, stderr.String())
	}
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run %q: %v", argv, err)
	}
	return res
}

// TestEmbeddedScriptMatchesNotifier guards the copies of publish.lua that the
// helpers carry so they can be dropped into an app on their own.
func TestEmbeddedScriptMatchesNotifier(t *testing.T) {
	t.Parallel()
	want, err := os.ReadFile(luaPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range libraries() {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			h.ready(t)
			res := run(t, nil, append(slices.Clone(h.cli), "lua")...)
			if res.code != 0 {
				t.Fatalf("lua: exit %d: %s", res.code, res.stderr)
			}
			if res.stdout != string(want) {
				t.Errorf("the script embedded in the %s helper differs from %s; copy the file into it verbatim", h.name, luaPath)
			}
		})
	}
}

// watcher sees every message published on a Redis server, on any channel.
type watcher struct {
	srv  *redistest.Server
	msgs chan redis.Message
	// markers counts the markers published by quiet.
	markers int
}

func watch(t *testing.T, srv *redistest.Server) *watcher {
	t.Helper()
	c, err := redis.Dial("tcp", srv.Addr, redis.DialConnectTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	psc := redis.PubSubConn{Conn: c}
	// A pattern on everything, so a publish on a channel the test did not
	// think of (a wrong prefix, a mangled topic) is caught too.
	if err := psc.PSubscribe("*"); err != nil {
		t.Fatal(err)
	}
	// Wait for the confirmation: after it, nothing published can be missed.
	switch v := psc.Receive().(type) {
	case redis.Subscription:
	case error:
		t.Fatalf("psubscribe: %v", v)
	default:
		t.Fatalf("psubscribe: unexpected reply %#v", v)
	}
	// Buffered so the reader rarely waits on the test; stop lets it give up
	// on a message nobody will read when the test ends.
	w := &watcher{srv: srv, msgs: make(chan redis.Message, 16)}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		defer close(w.msgs)
		for {
			switch v := psc.Receive().(type) {
			case redis.Message:
				select {
				case w.msgs <- v:
				case <-stop:
					return
				}
			case error:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		c.Close()
		<-done
	})
	return w
}

// next returns the next published message. Ten seconds is far more than a
// local publish takes; it only bounds a test whose message never comes.
func (w *watcher) next(t *testing.T) redis.Message {
	t.Helper()
	select {
	case m, ok := <-w.msgs:
		if !ok {
			t.Fatal("subscriber connection closed")
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message published within 10s")
	}
	panic("unreachable")
}

// quiet asserts that nothing was published since the last message read. It
// publishes a marker and expects it next: Redis delivers to a subscriber in
// publish order, and the helper has exited, so anything it published would
// come first. No sleeping, no guessing how long "nothing" takes.
func (w *watcher) quiet(t *testing.T) {
	t.Helper()
	w.markers++
	marker := "marker-" + strconv.Itoa(w.markers)
	if _, err := w.srv.Do("PUBLISH", "publish-test:marker", marker); err != nil {
		t.Fatal(err)
	}
	if m := w.next(t); string(m.Data) != marker {
		t.Fatalf("unexpected publish on %q: %s", m.Channel, m.Data)
	}
}

func get(t *testing.T, srv *redistest.Server, key string) string {
	t.Helper()
	v, err := srv.Do("GET", key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func dbsize(t *testing.T, srv *redistest.Server) string {
	t.Helper()
	v, err := srv.Do("DBSIZE")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// checkPayload asserts the publish payload as the helpers write it:
// exactly {"v":<version>,"ts":<unix ms>}, with v the exact decimal (no float
// rounding past 2^53) and ts taken while the helper ran.
func checkPayload(t *testing.T, data []byte, version string, before, after time.Time) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("payload %s is not a JSON object: %v", data, err)
	}
	if len(m) != 2 || m["v"] == nil || m["ts"] == nil {
		t.Fatalf("payload %s: want exactly the fields v and ts", data)
	}
	if got := string(m["v"]); got != version {
		t.Errorf("payload v = %s, want the number %s", got, version)
	}
	ts, err := strconv.ParseInt(string(m["ts"]), 10, 64)
	if err != nil {
		t.Fatalf("payload ts = %s, want an integer of unix milliseconds", m["ts"])
	}
	// A second of slack on either side absorbs clock granularity, not delay.
	if lo, hi := before.UnixMilli()-1000, after.UnixMilli()+1000; ts < lo || ts > hi {
		t.Errorf("payload ts = %d, want between %d and %d (the time of the bump)", ts, lo, hi)
	}
}

func TestBump(t *testing.T) {
	t.Parallel()
	// The steps run in order against one Redis, each building on the
	// version the previous ones left under pushpoll:project:42.
	steps := []struct {
		name           string
		env            []string
		topic, version string
		// invalid: the helper must refuse with exit status 2, touching nothing.
		invalid bool
		raised  bool
		// key is where the version must be afterwards; value is what it holds.
		key, value string
	}{
		{name: "first bump raises", topic: "project:42", version: "7", raised: true, key: "pushpoll:project:42", value: "7"},
		{name: "older version is ignored", topic: "project:42", version: "5", key: "pushpoll:project:42", value: "7"},
		{name: "same version is ignored", topic: "project:42", version: "7", key: "pushpoll:project:42", value: "7"},
		{name: "topic with a space", topic: "bad topic!", version: "8", invalid: true},
		{name: "empty topic", topic: "", version: "8", invalid: true},
		{name: "topic of 201 characters", topic: strings.Repeat("a", 201), version: "8", invalid: true},
		{name: "topic with a trailing newline", topic: "project:42\n", version: "8", invalid: true},
		{name: "topic with a non-ASCII letter", topic: "projekt:é", version: "8", invalid: true},
		{name: "the reserved topic", topic: "mode", version: "1", invalid: true},
		{name: "version not a number", topic: "project:42", version: "x", invalid: true},
		{name: "version zero", topic: "project:42", version: "0", invalid: true},
		{name: "version negative", topic: "project:42", version: "-1", invalid: true},
		{name: "version with a fraction", topic: "project:42", version: "8.5", invalid: true},
		{name: "version with a leading zero", topic: "project:42", version: "08", invalid: true},
		{name: "version with a sign", topic: "project:42", version: "+8", invalid: true},
		{name: "version empty", topic: "project:42", version: "", invalid: true},
		{name: "version past int64", topic: "project:42", version: "9223372036854775808", invalid: true},
		{name: "version past 2^53 stays exact", topic: "project:42", version: "9007199254740993", raised: true, key: "pushpoll:project:42", value: "9007199254740993"},
		{name: "largest int64 version", topic: "project:42", version: "9223372036854775807", raised: true, key: "pushpoll:project:42", value: "9223372036854775807"},
		{name: "every allowed character", topic: "aZ09_.:/@-", version: "1", raised: true, key: "pushpoll:aZ09_.:/@-", value: "1"},
		{name: "topic of 200 characters", topic: strings.Repeat("t", 200), version: "2", raised: true, key: "pushpoll:" + strings.Repeat("t", 200), value: "2"},
		{name: "prefix from the environment", env: []string{"PUSHPOLL_CHANNEL_PREFIX=app1:"}, topic: "project:42", version: "3", raised: true, key: "app1:project:42", value: "3"},
	}
	for _, h := range helpers() {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			h.ready(t)
			srv := redistest.Start(t)
			w := watch(t, srv)
			for _, s := range steps {
				// Not subtests: each step depends on the ones before it.
				keysBefore := dbsize(t, srv)
				versionBefore := get(t, srv, "pushpoll:project:42")
				before := time.Now()
				res := run(t, s.env, h.bumpArgs(srv.URL, s.topic, s.version)...)
				after := time.Now()
				if s.invalid {
					if res.code != 2 {
						t.Fatalf("%s: exit %d, want 2 (bad arguments); stdout %q stderr %q", s.name, res.code, res.stdout, res.stderr)
					}
					if strings.TrimSpace(res.stderr) == "" {
						t.Errorf("%s: refused without saying why on stderr", s.name)
					}
					if got := dbsize(t, srv); got != keysBefore {
						t.Errorf("%s: key count went from %s to %s", s.name, keysBefore, got)
					}
					if got := get(t, srv, "pushpoll:project:42"); got != versionBefore {
						t.Errorf("%s: pushpoll:project:42 went from %q to %q", s.name, versionBefore, got)
					}
					w.quiet(t)
					continue
				}
				if res.code != 0 {
					t.Fatalf("%s: exit %d; stderr:\n%s", s.name, res.code, res.stderr)
				}
				if got, want := strings.TrimSpace(res.stdout), strconv.FormatBool(s.raised); got != want {
					t.Errorf("%s: printed %q, want %q", s.name, got, want)
				}
				if got := get(t, srv, s.key); got != s.value {
					t.Errorf("%s: %s = %q, want %q", s.name, s.key, got, s.value)
				}
				if s.raised {
					m := w.next(t)
					if m.Channel != s.key {
						t.Errorf("%s: published on %q, want %q", s.name, m.Channel, s.key)
					}
					checkPayload(t, m.Data, s.version, before, after)
				}
				w.quiet(t)
			}
		})
	}
}

// TestBumpUnreachableRedis checks that a helper fails, rather than hangs or
// reports success, when Redis is not there.
func TestBumpUnreachableRedis(t *testing.T) {
	t.Parallel()
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	url := "redis://127.0.0.1:" + strconv.Itoa(port)
	for _, h := range helpers() {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			h.ready(t)
			res := run(t, nil, h.bumpArgs(url, "project:42", "7")...)
			if res.code != 1 {
				t.Errorf("exit %d, want 1; stdout %q stderr %q", res.code, res.stdout, res.stderr)
			}
		})
	}
}

// claims is what the notifier reads from a token.
type claims struct {
	Topics []string `json:"topics"`
	jwt.RegisteredClaims
}

// verify parses a token as the notifier does: HS256 only, the audience
// required, exp required. It returns the claims after checking that exp is
// ttl seconds after iat and about ttl seconds from now.
func verify(t *testing.T, token, audience string, ttl int64) claims {
	t.Helper()
	var c claims
	_, err := jwt.ParseWithClaims(strings.TrimSpace(token), &c,
		func(*jwt.Token) (any, error) { return []byte(secret), nil },
		jwt.WithValidMethods([]string{"HS256"}),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	)
	if err != nil {
		t.Fatalf("token %q does not verify: %v", token, err)
	}
	if c.IssuedAt == nil {
		t.Fatal("token has no iat")
	}
	if got := c.ExpiresAt.Unix() - c.IssuedAt.Unix(); got != ttl {
		t.Errorf("exp - iat = %ds, want %d", got, ttl)
	}
	// Five seconds covers the helper's start-up; a wrong unit (ms) or a
	// missing ttl would be off by far more.
	if d := time.Until(c.ExpiresAt.Time) - time.Duration(ttl)*time.Second; d < -5*time.Second || d > 5*time.Second {
		t.Errorf("exp is %s from now, want about %ds", time.Until(c.ExpiresAt.Time).Round(time.Second), ttl)
	}
	return c
}

func TestToken(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name             string
		env              []string
		sub, topics, ttl string
		audience         string
		wantTopics       []string
		invalid          bool
	}{
		{name: "exact topics and a prefix", sub: "user-7", topics: "project:42,user:7:*", ttl: "300", audience: "pushpoll", wantTopics: []string{"project:42", "user:7:*"}},
		{name: "one topic, a day", sub: "7", topics: "project:42", ttl: "86400", audience: "pushpoll", wantTopics: []string{"project:42"}},
		{name: "audience from the environment", env: []string{"PUSHPOLL_TOKEN_AUDIENCE=other-app"}, sub: "7", topics: "project:42", ttl: "60", audience: "other-app", wantTopics: []string{"project:42"}},
		{name: "no topics", sub: "7", topics: "", ttl: "300", invalid: true},
		{name: "bad topic", sub: "7", topics: "bad topic!", ttl: "300", invalid: true},
		{name: "empty item", sub: "7", topics: "project:42,,project:43", ttl: "300", invalid: true},
		{name: "star inside a topic", sub: "7", topics: "user:*:x", ttl: "300", invalid: true},
		{name: "empty sub", sub: "", topics: "project:42", ttl: "300", invalid: true},
		{name: "zero ttl", sub: "7", topics: "project:42", ttl: "0", invalid: true},
		{name: "negative ttl", sub: "7", topics: "project:42", ttl: "-5", invalid: true},
		{name: "ttl with a unit", sub: "7", topics: "project:42", ttl: "5m", invalid: true},
	}
	for _, h := range libraries() {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			h.ready(t)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					res := run(t, tc.env, append(slices.Clone(h.cli), "token", secret, tc.sub, tc.topics, tc.ttl)...)
					if tc.invalid {
						if res.code != 2 {
							t.Fatalf("exit %d, want 2 (bad arguments); stdout %q stderr %q", res.code, res.stdout, res.stderr)
						}
						return
					}
					if res.code != 0 {
						t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
					}
					ttl, _ := strconv.ParseInt(tc.ttl, 10, 64)
					c := verify(t, res.stdout, tc.audience, ttl)
					if c.Subject != tc.sub {
						t.Errorf("sub = %q, want %q", c.Subject, tc.sub)
					}
					if !slices.Equal(c.Topics, tc.wantTopics) {
						t.Errorf("topics = %q, want %q", c.Topics, tc.wantTopics)
					}
				})
			}
		})
	}
}

// TestTokenNumericSubject mints through the library API with an integer
// subject, as the README's `sub: current_user.id` does: the claim must come
// out a string, or the notifier refuses the token.
func TestTokenNumericSubject(t *testing.T) {
	t.Parallel()
	for _, h := range libraries() {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			h.ready(t)
			res := run(t, nil, h.numericSub...)
			if res.code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
			}
			c := verify(t, res.stdout, "pushpoll", 300) // 300: the documented default ttl
			if c.Subject != "42" {
				t.Errorf("sub = %q, want \"42\"", c.Subject)
			}
			if !slices.Equal(c.Topics, []string{"project:42"}) {
				t.Errorf("topics = %q, want [project:42]", c.Topics)
			}
		})
	}
}
