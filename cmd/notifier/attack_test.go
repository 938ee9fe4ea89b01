package main

// Attacks on the real binary, started the way an operator starts it, under
// the open-file limit the attack report used.

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/pushpoll/pushpoll/internal/redistest"
	"github.com/pushpoll/pushpoll/internal/sioclient"
)

// proc is a notifier process and the JSON log lines it wrote.
type proc struct {
	addr string
	cmd  *exec.Cmd
	logs chan map[string]any
	exit chan error
	out  *strings.Builder // stderr lines that are not JSON
}

// startLimited runs the binary with args under `ulimit -n files` (0: the
// test's own limit) on a free loopback port, and waits for "listening".
func startLimited(t *testing.T, files int, args ...string) *proc {
	t.Helper()
	p := startProc(t, files, args...)
	p.waitLog(t, "listening")
	return p
}

func startProc(t *testing.T, files int, args ...string) *proc {
	t.Helper()
	return startProcEnv(t, files, nil, args...)
}

// startProcEnv is startProc with env added to the process's environment.
func startProcEnv(t *testing.T, files int, env []string, args ...string) *proc {
	t.Helper()
	bin := buildNotifier(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	p := &proc{addr: l.Addr().String(), logs: make(chan map[string]any, 1000), exit: make(chan error, 1), out: &strings.Builder{}}
	l.Close()
	args = append([]string{"--listen", p.addr}, args...)
	if files > 0 {
		// ulimit sets the hard limit too, which the Go runtime would
		// otherwise raise the soft one to.
		p.cmd = exec.Command("sh", append([]string{"-c", `ulimit -n ` + strconv.Itoa(files) + ` && exec "$0" "$@"`, bin}, args...)...)
	} else {
		p.cmd = exec.Command(bin, args...)
	}
	p.cmd.Env = append(os.Environ(), env...)
	stderr, err := p.cmd.StderrPipe()
	must(t, err)
	must(t, p.cmd.Start())
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); <-p.exit })
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				p.out.WriteString(sc.Text() + "\n")
				continue
			}
			select {
			case p.logs <- m:
			default: // nobody waits for it
			}
		}
		p.exit <- p.cmd.Wait()
		close(p.logs)
	}()
	return p
}

// waitLog returns the first log line with msg.
func (p *proc) waitLog(t *testing.T, msg string) map[string]any {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case m, ok := <-p.logs:
			if !ok {
				t.Fatalf("the notifier exited before logging %q: %s", msg, p.out)
			}
			if m["msg"] == msg {
				return m
			}
		case <-timeout:
			t.Fatalf("no %q in the log", msg)
		}
	}
}

// get fetches path on a fresh connection within d.
func (p *proc) get(path string, d time.Duration) (int, string, error) {
	c := http.Client{Timeout: d, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + p.addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// metric reads one series from /metrics.
func (p *proc) metric(t *testing.T, series string) float64 {
	t.Helper()
	code, body, err := p.get("/metrics", 5*time.Second)
	if err != nil || code != http.StatusOK {
		t.Fatalf("/metrics: %d %v", code, err)
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

const attackSecret = "attack-secret-0123456789abcdef0123"

// bareWebsocket opens a websocket that never subscribes, as the flood did,
// and returns the status of the handshake's answer.
func bareWebsocket(t *testing.T, addr string, h http.Header) (*websocket.Conn, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.DefaultDialer.DialContext(ctx, "ws://"+addr+"/socket.io/?EIO=3&transport=websocket", h)
	if err != nil {
		if resp == nil {
			t.Fatalf("websocket dial: %v", err)
		}
		return nil, resp.StatusCode
	}
	t.Cleanup(func() { c.Close() })
	return c, resp.StatusCode
}

// TestAttackBareWebsocketFlood is the flood of the third attack round:
// under `ulimit -n 600`, with default flags, websockets with no token and no
// subscribe. Now one address gets --max-sockets-per-client of them, many
// addresses behind a trusted balancer together get --max-sockets (from the
// open-file limit), every refusal is a clear status and counted, and
// /healthz answers at once all the while.
func TestAttackBareWebsocketFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("real binary")
	}
	p := startProc(t, 600, "--token-secret", attackSecret, "--trusted-proxies", "127.0.0.1/32")
	started := p.waitLog(t, "listening")
	maxSockets, perClient := int(started["max_sockets"].(float64)), int(started["max_sockets_per_client"].(float64))
	if maxSockets <= 0 || maxSockets > 600 || perClient <= 0 || perClient >= maxSockets {
		t.Fatalf("default caps under ulimit -n 600: %d sockets, %d per client", maxSockets, perClient)
	}
	healthy := func(when string) {
		t.Helper()
		code, _, err := p.get("/healthz", 2*time.Second)
		if err != nil || code != http.StatusOK {
			t.Fatalf("/healthz %s: %d %v", when, code, err)
		}
	}
	sockets := func(want int) {
		t.Helper()
		waitFor(t, 10*time.Second, fmt.Sprintf("%d sockets on the node", want), func() bool {
			return p.metric(t, "pushpoll_sockets") == float64(want)
		})
	}
	// One address: the per-client bound, then 429. A handshake that races
	// the check (its predecessor not yet counted) is accepted and closed at
	// once, and counted the same way: what stays open is the bound exactly.
	accepted, refused := 0, 0
	for range perClient + 20 {
		if _, code := bareWebsocket(t, p.addr, nil); code == http.StatusSwitchingProtocols {
			accepted++
		} else if code == http.StatusTooManyRequests {
			refused++
		} else {
			t.Fatalf("handshake answered %d", code)
		}
	}
	if accepted < perClient || accepted > perClient+5 {
		t.Fatalf("one address: %d accepted, %d refused; want %d accepted and a few closed at once", accepted, refused, perClient)
	}
	sockets(perClient)
	if got := p.metric(t, `pushpoll_wire_rejected_total{reason="per client"}`); got != 20 {
		t.Errorf("per-client refusals counted %v, want 20", got)
	}
	healthy("after one address's flood")
	// Many addresses behind the balancer: the node's bound, then 503.
	full := 0
	for i := 0; full < 50; i++ {
		h := http.Header{"X-Forwarded-For": {fmt.Sprintf("198.18.%d.%d", i/250, i%250+1)}}
		switch _, code := bareWebsocket(t, p.addr, h); code {
		case http.StatusSwitchingProtocols:
			accepted++
		case http.StatusServiceUnavailable:
			full++
		default:
			t.Fatalf("handshake %d answered %d", i, code)
		}
		if i%100 == 0 {
			healthy(fmt.Sprintf("after %d more handshakes", i))
		}
		if i > 1000 {
			t.Fatalf("1000 handshakes from many addresses and the node is not full")
		}
	}
	sockets(maxSockets)
	if got, want := p.metric(t, `pushpoll_wire_rejected_total{reason="per client"}`)+p.metric(t, `pushpoll_wire_rejected_total{reason="full"}`), float64(accepted-maxSockets+refused+full); got != want {
		t.Errorf("refusals counted %v, want %v (every handshake beyond the bounds)", got, want)
	}
	healthy("with the node full")
}

// TestRefusesCapsBeyondTheHost: explicit caps that the open-file limit
// cannot hold stop the start, naming the flags, instead of a node that runs
// out of descriptors at the first flood.
func TestRefusesCapsBeyondTheHost(t *testing.T) {
	if testing.Short() {
		t.Skip("real binary")
	}
	p := startProc(t, 600, "--token-secret", attackSecret, "--max-sockets", "1000")
	select {
	case err := <-p.exit:
		p.exit <- err
		if err == nil {
			t.Fatal("started with --max-sockets 1000 under ulimit -n 600")
		}
		if out := p.out.String(); !strings.Contains(out, "--max-sockets 1000") || !strings.Contains(out, "ulimit -n") {
			t.Fatalf("the refusal does not name the flag and the limit: %s", out)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the notifier did not stop")
	}
}

// sioConn is a socket.io client on a proc that keeps the events it got.
type sioConn struct {
	*sioclient.Client
	mu     sync.Mutex
	events []sioclient.Event
}

func dialProc(t *testing.T, p *proc) *sioConn {
	t.Helper()
	c := &sioConn{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sc, err := sioclient.Dial(ctx, "http://"+p.addr, sioclient.Options{OnEvent: func(e sioclient.Event) {
		c.mu.Lock()
		c.events = append(c.events, e)
		c.mu.Unlock()
	}})
	must(t, err)
	t.Cleanup(func() { sc.Close() })
	c.Client = sc
	return c
}

// named returns the first arguments of the events called name so far.
func (c *sioConn) named(name string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, e := range c.events {
		if e.Name == name && len(e.Args) > 0 {
			out = append(out, string(e.Args[0]))
		}
	}
	return out
}

// subscribe sends a subscribe with a token signed by secret for topic,
// expiring at exp, and returns the ack.
func (c *sioConn) subscribe(t *testing.T, secret, topic string, exp time.Time) (granted []string, denied map[string]string) {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "u", "aud": "pushpoll", "topics": []string{topic}, "exp": exp.Unix(),
	}).SignedString([]byte(secret))
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	args, err := c.EmitAck(ctx, "subscribe", map[string]any{"token": tok, "topics": map[string]int64{topic: 0}})
	must(t, err)
	var ack struct {
		Granted []string
		Denied  map[string]string
	}
	if len(args) != 1 || json.Unmarshal(args[0], &ack) != nil {
		t.Fatalf("ack %s", args)
	}
	return ack.Granted, ack.Denied
}

// publish bumps topic over the HTTP API.
func (p *proc) publish(t *testing.T, secret, topic string, v int64) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+p.addr+"/v1/publish", strings.NewReader(fmt.Sprintf(`{"topic":%q,"v":%d}`, topic, v)))
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("publish: %d", resp.StatusCode)
	}
}

// TestAttackGrantOutlivesItsKey: a socket subscribed with a key that a
// SIGHUP then removed kept receiving hints until its token's exp, which
// could be the year 9999. Now such a token is refused at the door
// (--max-token-ttl), and on a reload the grants of removed keys end with
// `expired` while the grants of kept keys go on.
func TestAttackGrantOutlivesItsKey(t *testing.T) {
	if testing.Short() {
		t.Skip("real binary")
	}
	const (
		oldSecret = "old-secret-0123456789abcdef0123456789"
		newSecret = "new-secret-0123456789abcdef0123456789"
		publish   = "publish-secret-0123456789"
	)
	secrets := filepath.Join(t.TempDir(), "secrets")
	must(t, os.WriteFile(secrets, []byte(oldSecret+"\n"+newSecret+"\n"), 0o600))
	p := startLimited(t, 0, "--token-secret-file", secrets, "--publish-secret", publish)
	forever := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	attacker, user := dialProc(t, p), dialProc(t, p)
	if g, d := attacker.subscribe(t, oldSecret, "a", forever); len(g) != 0 || d["a"] != "lifetime too long" {
		t.Fatalf("exp in the year 9999: granted %v, denied %v", g, d)
	}
	if got := p.metric(t, `pushpoll_auth_denied_total{reason="lifetime too long"}`); got != 1 {
		t.Errorf("lifetime refusals counted %v, want 1", got)
	}
	hour := time.Now().Add(time.Hour)
	if g, _ := attacker.subscribe(t, oldSecret, "a", hour); len(g) != 1 {
		t.Fatalf("old key before the rotation: granted %v", g)
	}
	if g, _ := user.subscribe(t, newSecret, "b", hour); len(g) != 1 {
		t.Fatalf("new key: granted %v", g)
	}
	must(t, os.WriteFile(secrets, []byte(newSecret+"\n"), 0o600))
	must(t, p.cmd.Process.Signal(syscall.SIGHUP))
	waitFor(t, 20*time.Second, "the old key's grant expired", func() bool {
		return len(attacker.named("expired")) == 1
	})
	if got := attacker.named("expired")[0]; got != `{"topics":["a"]}` {
		t.Fatalf("expired notice %s", got)
	}
	p.publish(t, publish, "a", 5)
	p.publish(t, publish, "b", 5)
	waitFor(t, 10*time.Second, "the kept key's grant still gets hints", func() bool {
		return len(user.named("stale")) == 1
	})
	if got := attacker.named("stale"); len(got) != 0 {
		t.Fatalf("the removed key's socket still got hints: %v", got)
	}
	if got := user.named("expired"); len(got) != 0 {
		t.Fatalf("the kept key's grant expired: %v", got)
	}
	if got := p.metric(t, "pushpoll_grants_revoked_total"); got != 1 {
		t.Errorf("revoked grants counted %v, want 1", got)
	}
}

// TestForwardingToHTTPSAdvertisedNode: a node may advertise an https URL
// (a TLS proxy in front of it); its peers forward polls there, verify its
// certificate against the roots they trust, and sign with the node secret.
func TestForwardingToHTTPSAdvertisedNode(t *testing.T) {
	if testing.Short() {
		t.Skip("real binary and redis-server")
	}
	const nodeSecret = "node-secret-0123456789abcdef0123456789"
	rs := redistest.Start(t)
	var ownerAddr atomic.Value
	tlsFront := httptest.NewTLSServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(&url.URL{Scheme: "http", Host: ownerAddr.Load().(string)})
		pr.Out.Host = pr.In.Host
	}})
	t.Cleanup(tlsFront.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	must(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsFront.Certificate().Raw}), 0o600))

	common := []string{"--token-secret", attackSecret, "--redis-url", rs.URL, "--node-secret", nodeSecret}
	owner := startLimited(t, 0, append(common, "--advertise-url", tlsFront.URL)...)
	ownerAddr.Store(owner.addr)
	forwarder := startProcEnv(t, 0, []string{"SSL_CERT_FILE=" + ca}, common...)
	forwarder.waitLog(t, "listening")

	// A long-polling session on the owner, polled through the other node.
	code, open, err := owner.get("/socket.io/?EIO=3&transport=polling&b64=1", 5*time.Second)
	if err != nil || code != http.StatusOK || !strings.Contains(open, `"sid":"`) {
		t.Fatalf("handshake: %d %q %v", code, open, err)
	}
	sid := open[strings.Index(open, `"sid":"`)+7:]
	sid = sid[:strings.IndexByte(sid, '"')]
	code, body, err := forwarder.get("/socket.io/?EIO=3&transport=polling&b64=1&sid="+sid, 10*time.Second)
	if err != nil || code != http.StatusOK || !strings.Contains(body, "40") {
		t.Fatalf("poll through the other node: %d %q %v", code, body, err)
	}
	if got := forwarder.metric(t, `pushpoll_forwarded_requests_total{result="ok"}`); got != 1 {
		t.Errorf("forwarded ok = %v, want 1", got)
	}
}
