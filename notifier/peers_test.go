package notifier_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpoll/pushpoll/internal/redistest"
	"github.com/pushpoll/pushpoll/internal/sioclient"
)

// roundRobin is a load balancer without affinity: each request goes to the
// next node in turn, whatever session it belongs to.
func roundRobin(t *testing.T, nodes ...*node) *node {
	t.Helper()
	var next atomic.Uint64
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		n := nodes[next.Add(1)%uint64(len(nodes))]
		u, _ := url.Parse(n.url)
		pr.SetURL(u)
		pr.Out.Host = pr.In.Host
	}}
	ts := httptest.NewServer(proxy)
	t.Cleanup(ts.Close)
	return &node{url: ts.URL, addr: strings.TrimPrefix(ts.URL, "http://")}
}

// cluster starts n nodes on one redis-server.
func cluster(t testing.TB, n int) (*redistest.Server, []*node) {
	t.Helper()
	rs := redistest.Start(t)
	var nodes []*node
	for range n {
		cfg := testConfig()
		cfg.RedisURL = rs.URL
		cfg.DrainTimeout = 500 * time.Millisecond // the clients here do not move on drain
		nodes = append(nodes, startNode(t, cfg))
	}
	return rs, nodes
}

// advertised is the registry as Redis holds it: node id -> URL.
func advertised(t *testing.T, rs *redistest.Server) map[string]string {
	t.Helper()
	keys, err := rs.Do("KEYS", "pushpoll#node:*")
	must(t, err)
	out := map[string]string{}
	for _, k := range strings.Fields(keys) {
		v, err := rs.Do("GET", k)
		must(t, err)
		out[strings.TrimPrefix(k, "pushpoll#node:")] = v
	}
	return out
}

func forwardedOK(t *testing.T, nodes []*node) float64 {
	var sum float64
	for _, n := range nodes {
		sum += metricValue(t, n, `pushpoll_forwarded_requests_total{result="ok"}`)
	}
	return sum
}

func TestLongPollingWithoutAffinity(t *testing.T) {
	rs, nodes := cluster(t, 3)
	reg := advertised(t, rs)
	if len(reg) != 3 {
		t.Fatalf("registry holds %v, want the 3 nodes", reg)
	}
	for _, n := range nodes {
		found := false
		for _, u := range reg {
			found = found || u == n.url
		}
		if !found {
			t.Errorf("node %s is not advertised at its listen address: %v", n.url, reg)
		}
	}

	c := pollThroughBalancer(t, nodes)
	if _, ok := reg[c.SID()[:8]]; !ok {
		t.Fatalf("sid %q does not name a registered node (%v)", c.SID(), reg)
	}

	// A node that stops withdraws its address.
	nodes[2].stop()
	if reg := advertised(t, rs); len(reg) != 2 {
		t.Errorf("after one node stopped the registry holds %v", reg)
	}
}

// pollThroughBalancer connects a long-polling client through a balancer
// without affinity in front of nodes, subscribes, and checks that a bump
// reaches it and that requests were forwarded.
func pollThroughBalancer(t *testing.T, nodes []*node) *client {
	t.Helper()
	lb := roundRobin(t, nodes...)
	c := dial(t, lb, sioclient.Options{Transport: "polling"})
	if a := c.subscribe(token(t, "lb"), map[string]int64{"lb": 0}); len(a.Granted) != 1 {
		t.Fatalf("subscribe through the balancer: %+v", a)
	}
	code, _ := publishHTTP(t, nodes[1], publishSecret, `{"topic":"lb","v":7}`)
	if code != http.StatusAccepted {
		t.Fatalf("publish = %d", code)
	}
	c.waitHint("lb", 7, 5*time.Second)
	if forwardedOK(t, nodes) == 0 {
		t.Error("no request was forwarded: the test balancer is not spreading requests")
	}
	total := 0
	for _, n := range nodes {
		total += n.srv.Sockets()
	}
	if total != 1 {
		t.Errorf("%d sockets across the nodes, want 1", total)
	}
	return c
}

// On Redis Cluster the advertisements live on their keys' shards.
func TestLongPollingWithoutAffinityOnCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	var nodes []*node
	for range 2 {
		cfg := testConfig()
		cfg.RedisURL = c.URL
		cfg.DrainTimeout = 500 * time.Millisecond
		nodes = append(nodes, startNode(t, cfg))
	}
	pollThroughBalancer(t, nodes)
}

// TestForwardingDialsOnlyRegisteredNodes: a client chooses a node id (it
// forges the sid), never an address. Ids no node registered, whatever the
// request says about hosts, are answered 400 without dialling anything.
func TestForwardingDialsOnlyRegisteredNodes(t *testing.T) {
	rs, nodes := cluster(t, 1)
	n := nodes[0]
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	var dialled atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			dialled.Add(1)
			c.Close()
		}
	}()
	trap := ln.Addr().String()
	// Garbage under a node key is no address either.
	_, err = rs.Do("SET", "pushpoll#node:garbage0", "gopher://"+trap)
	must(t, err)

	const tail = "AAAAAAAAAAAAAAAAAAAAAA" // 22 characters: 128 bits
	cases := []struct {
		name, sid string
		header    http.Header
		status    int
	}{
		{"unregistered id", "nobody00" + tail, nil, http.StatusBadRequest},
		{"id with a malformed advertisement", "garbage0" + tail, nil, http.StatusBadRequest},
		{"address in the headers", "nobody00" + tail, http.Header{
			"X-Forwarded-Host": {trap}, "Forwarded": {"host=" + trap}, "X-Pushpoll-Forwarded": {trap},
		}, http.StatusBadRequest},
		{"address in the sid", trap + tail, nil, http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				req, _ := http.NewRequest(method, n.url+"/socket.io/?EIO=3&transport=polling&sid="+url.QueryEscape(tc.sid), strings.NewReader("1:2"))
				for k, v := range tc.header {
					req.Header[k] = v
				}
				req.Host = trap
				resp, err := http.DefaultClient.Do(req)
				must(t, err)
				resp.Body.Close()
				if resp.StatusCode != tc.status {
					t.Errorf("%s: %d, want %d", method, resp.StatusCode, tc.status)
				}
			}
		})
	}
	if d := dialled.Load(); d != 0 {
		t.Errorf("the address a client named was dialled %d times", d)
	}
	if v := metricValue(t, n, `pushpoll_forwarded_requests_total{result="unknown node"}`); v != 6 {
		t.Errorf("unknown node outcomes = %v, want 6 (the sid holding an address is refused as malformed)", v)
	}
}

// BenchmarkPollRoundTrip is one long-polling exchange (POST a ping, GET the
// pong) on a session's own node and through another node, which forwards
// both requests: the difference is what forwarding costs a polling client.
//
//	go test -run '^$' -bench PollRoundTrip -count 5 ./notifier/
func BenchmarkPollRoundTrip(b *testing.B) {
	_, nodes := cluster(b, 2)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	do := func(method, u, body string) string {
		req, _ := http.NewRequest(method, u, strings.NewReader(body))
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: %d %s", method, resp.StatusCode, out)
		}
		return string(out)
	}
	open := do(http.MethodGet, nodes[0].url+"/socket.io/?EIO=3&transport=polling&b64=1", "")
	i := strings.Index(open, `"sid":"`)
	if i < 0 {
		b.Fatalf("handshake: %q", open)
	}
	sid := open[i+7 : i+7+30]
	query := "/socket.io/?EIO=3&transport=polling&b64=1&sid=" + sid
	// The CONNECT packet, then the mode event sent on connect.
	for _, want := range []string{"40", `42["mode"`} {
		if got := do(http.MethodGet, nodes[0].url+query, ""); !strings.Contains(got, want) {
			b.Fatalf("after the handshake: %q, want %s", got, want)
		}
	}
	for _, via := range []struct {
		name string
		n    *node
	}{{"direct", nodes[0]}, {"forwarded", nodes[1]}} {
		b.Run(via.name, func(b *testing.B) {
			for b.Loop() {
				do(http.MethodPost, via.n.url+query, "1:2")
				if got := do(http.MethodGet, via.n.url+query, ""); got != "1:3" {
					b.Fatalf("pong = %q", got)
				}
			}
		})
	}
}
