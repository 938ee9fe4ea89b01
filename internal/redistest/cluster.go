package redistest

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of masters, some with a replica, created
// with redis-cli --cluster create.
type Cluster struct {
	Masters []*Server
	// Replicas maps a master's index in Masters to its replica.
	Replicas map[int]*Server
	// URL is the redis-cluster:// form naming every master.
	URL string
	// bus maps a node's address to its cluster bus port.
	bus map[string]string
}

// clusterArgs make failover quick (a node is failed after 1 s without
// answers) and keep the slots of healthy shards served while one shard
// has no master, as DESIGN §8 asks of a cluster outage.
var clusterArgs = []string{
	"--cluster-enabled", "yes",
	"--cluster-config-file", "nodes.conf",
	"--cluster-node-timeout", "1000",
	"--cluster-require-full-coverage", "no",
}

// StartCluster starts masters nodes, splits the slots evenly between them
// and gives a replica to each master index in replicated. It returns once
// every node reports the cluster ok and every replica is in sync.
func StartCluster(t testing.TB, masters int, replicated ...int) *Cluster {
	t.Helper()
	c := &Cluster{Replicas: map[int]*Server{}, bus: map[string]string{}}
	create := []string{"--cluster", "create"}
	var addrs []string
	for range masters {
		s := c.startNode(t)
		c.Masters = append(c.Masters, s)
		addrs = append(addrs, s.Addr)
	}
	create = append(append(create, addrs...), "--cluster-yes")
	c.URL = "redis-cluster://" + strings.Join(addrs, ",")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "redis-cli", create...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, i := range replicated {
		m := c.Masters[i]
		id, err := m.Do("CLUSTER", "MYID")
		if err != nil {
			t.Fatal(err)
		}
		r := c.startNode(t)
		host, port, _ := net.SplitHostPort(m.Addr)
		if _, err := r.Do("CLUSTER", "MEET", host, port, c.bus[m.Addr]); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "new node learns its master", func() bool {
			nodes, _ := r.Do("CLUSTER", "NODES")
			return strings.Contains(nodes, id)
		})
		if _, err := r.Do("CLUSTER", "REPLICATE", id); err != nil {
			t.Fatal(err)
		}
		c.Replicas[i] = r
		waitFor(t, "replica in sync", func() bool {
			return strings.Contains(info(r, "replication"), "master_link_status:up")
		})
	}
	for _, s := range c.All() {
		waitFor(t, "cluster ok on every node", func() bool {
			return strings.Contains(info(s, "cluster"), "cluster_enabled:1") &&
				fields2(s, "CLUSTER", "INFO")["cluster_state"] == "ok" &&
				fields2(s, "CLUSTER", "INFO")["cluster_known_nodes"] == strconv.Itoa(len(c.All()))
		})
	}
	return c
}

// startNode starts one cluster node. Its bus port is picked free too:
// Redis would take port+10000, which may be in use or past 65535.
func (c *Cluster) startNode(t testing.TB) *Server {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	bus := strconv.Itoa(port)
	s := StartWith(t, append([]string{"--cluster-port", bus}, clusterArgs...)...)
	c.bus[s.Addr] = bus
	return s
}

// All is every node, masters first.
func (c *Cluster) All() []*Server {
	out := append([]*Server(nil), c.Masters...)
	for i := range c.Masters {
		if r := c.Replicas[i]; r != nil {
			out = append(out, r)
		}
	}
	return out
}

// fields2 reads a "name:value" per line reply (CLUSTER INFO, INFO).
func fields2(s *Server, args ...string) map[string]string {
	out, _ := s.Do(args...)
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), ":"); ok {
			m[k] = v
		}
	}
	return m
}
