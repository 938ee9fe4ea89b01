package redistest

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// MasterName is the name the sentinels of StartSentinels monitor.
const MasterName = "pushpoll"

// Sentinels is a master, one replica and three sentinels watching them
// with a quorum of two: the smallest setup that fails over for real.
type Sentinels struct {
	Master, Replica *Server
	Sentinels       []*Server
	// URL is the redis-sentinel:// form naming all three sentinels.
	URL string
}

// StartSentinels starts the set and returns once every sentinel knows the
// replica and the other two sentinels, so a failover can start at once.
// A master is judged down after 1 s without answers: short, to keep
// failover tests quick.
func StartSentinels(t testing.TB) *Sentinels {
	t.Helper()
	set := &Sentinels{Master: Start(t)}
	_, mport, _ := net.SplitHostPort(set.Master.Addr)
	set.Replica = StartWith(t, "--replicaof", "127.0.0.1", mport)
	waitFor(t, "replica in sync", func() bool {
		return strings.Contains(info(set.Replica, "replication"), "master_link_status:up")
	})
	var addrs []string
	for range 3 {
		s := launch(t, func(port, dir string) []string {
			conf := filepath.Join(dir, "sentinel.conf")
			body := strings.Join([]string{
				"sentinel monitor " + MasterName + " 127.0.0.1 " + mport + " 2",
				"sentinel down-after-milliseconds " + MasterName + " 1000",
				"sentinel failover-timeout " + MasterName + " 10000",
				"",
			}, "\n")
			if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			return []string{conf, "--sentinel", "--bind", "127.0.0.1", "--port", port, "--dir", dir}
		})
		set.Sentinels = append(set.Sentinels, s)
		addrs = append(addrs, s.Addr)
	}
	set.URL = "redis-sentinel://" + strings.Join(addrs, ",") + "/" + MasterName
	for _, s := range set.Sentinels {
		waitFor(t, "sentinels discover each other and the replica", func() bool {
			f := fields(s, "SENTINEL", "MASTER", MasterName)
			return f["num-slaves"] == "1" && f["num-other-sentinels"] == "2"
		})
	}
	return set
}

// MasterAddr is the master's host:port as the first sentinel that answers
// reports it, "" while none does.
func (set *Sentinels) MasterAddr() string {
	for _, s := range set.Sentinels {
		if hp, err := s.Do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MasterName); err == nil {
			if host, port, ok := strings.Cut(hp, "\n"); ok {
				return net.JoinHostPort(host, port)
			}
		}
	}
	return ""
}

// Server returns the set's data server listening on addr, nil if none.
func (set *Sentinels) Server(addr string) *Server {
	for _, s := range []*Server{set.Master, set.Replica} {
		if s.Addr == addr {
			return s
		}
	}
	return nil
}

// info returns one INFO section, "" when the server does not answer.
func info(s *Server, section string) string {
	out, _ := s.Do("INFO", section)
	return out
}

// fields reads a reply that is a flat field/value list into a map.
func fields(s *Server, args ...string) map[string]string {
	out, err := s.Do(args...)
	if err != nil {
		return nil
	}
	lines := strings.Split(out, "\n")
	m := make(map[string]string, len(lines)/2)
	for i := 0; i+1 < len(lines); i += 2 {
		m[lines[i]] = lines[i+1]
	}
	return m
}

// waitFor polls cond until it holds, failing the test after 30 s: setups
// converge in a few seconds, the margin is for a loaded machine.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("redistest: %s: not within 30s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
