package redisx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/gomodule/redigo/redis"
)

// Shard is one master and its slot ranges.
type Shard struct {
	// Ranges are inclusive [first, last] slot ranges, ascending.
	Ranges [][2]int
	// Master is the host:port clients talk to.
	Master string
	// Replicas are host:port of its replicas, healthy or not.
	Replicas []string
}

// Label names the shard by its slots ("0-5460"), which stay the same
// across a failover, unlike its master's address.
func (s Shard) Label() string {
	parts := make([]string, len(s.Ranges))
	for i, r := range s.Ranges {
		parts[i] = strconv.Itoa(r[0]) + "-" + strconv.Itoa(r[1])
	}
	return strings.Join(parts, ",")
}

// Topology is a cluster's slot map as one node sees it.
type Topology struct {
	Shards []Shard
	owner  [Slots]int16 // index into Shards, -1 where no shard serves the slot
}

// ErrNoSlots means a node answered but knows of no served slot yet: a
// cluster still being created.
var ErrNoSlots = errors.New("cluster serves no slots")

// Shard returns the index into Shards of the shard serving slot, or -1.
func (t *Topology) Shard(slot int) int { return int(t.owner[slot]) }

// Nodes is every node's address, masters first: where to ask next time.
func (t *Topology) Nodes() []string {
	var out []string
	for _, s := range t.Shards {
		out = append(out, s.Master)
	}
	for _, s := range t.Shards {
		out = append(out, s.Replicas...)
	}
	return out
}

// Equal reports whether two topologies route every slot to the same
// master.
func (t *Topology) Equal(o *Topology) bool {
	if t == nil || o == nil {
		return t == o
	}
	for slot := range t.owner {
		a, b := t.owner[slot], o.owner[slot]
		if (a < 0) != (b < 0) || (a >= 0 && t.Shards[a].Master != o.Shards[b].Master) {
			return false
		}
	}
	return true
}

// ReadTopology asks one node for the slot map with CLUSTER SHARDS (Redis
// 7). tls picks each node's tls-port where it has one.
func ReadTopology(ctx context.Context, c redis.Conn, tls bool) (*Topology, error) {
	reply, err := redis.Values(redis.DoContext(c, ctx, "CLUSTER", "SHARDS"))
	if err != nil {
		return nil, err
	}
	t := &Topology{}
	for i := range t.owner {
		t.owner[i] = -1
	}
	for _, raw := range reply {
		shard, err := parseShard(raw, tls)
		if err != nil {
			return nil, fmt.Errorf("CLUSTER SHARDS: %w", err)
		}
		if len(shard.Ranges) == 0 || shard.Master == "" {
			continue // an empty master, or a shard whose master is gone
		}
		idx := int16(len(t.Shards))
		t.Shards = append(t.Shards, shard)
		for _, r := range shard.Ranges {
			for s := r[0]; s <= r[1]; s++ {
				t.owner[s] = idx
			}
		}
	}
	if len(t.Shards) == 0 {
		return nil, ErrNoSlots
	}
	return t, nil
}

func parseShard(raw any, tls bool) (Shard, error) {
	fields, err := redis.Values(raw, nil)
	if err != nil || len(fields)%2 != 0 {
		return Shard{}, fmt.Errorf("shard is not a field list")
	}
	var s Shard
	var online bool
	for i := 0; i < len(fields); i += 2 {
		name, _ := redis.String(fields[i], nil)
		switch name {
		case "slots":
			bounds, err := redis.Ints(fields[i+1], nil)
			if err != nil || len(bounds)%2 != 0 {
				return Shard{}, fmt.Errorf("bad slots %v", fields[i+1])
			}
			for j := 0; j < len(bounds); j += 2 {
				if bounds[j] < 0 || bounds[j+1] >= Slots || bounds[j] > bounds[j+1] {
					return Shard{}, fmt.Errorf("bad slot range %d-%d", bounds[j], bounds[j+1])
				}
				s.Ranges = append(s.Ranges, [2]int{bounds[j], bounds[j+1]})
			}
		case "nodes":
			nodes, err := redis.Values(fields[i+1], nil)
			if err != nil {
				return Shard{}, fmt.Errorf("bad nodes")
			}
			for _, n := range nodes {
				addr, master, healthy, err := parseNode(n, tls)
				if err != nil {
					return Shard{}, err
				}
				switch {
				// Right after a failover the old master may still be
				// listed as one, failed; the healthy one wins.
				case master && (s.Master == "" || (healthy && !online)):
					if s.Master != "" {
						s.Replicas = append(s.Replicas, s.Master)
					}
					s.Master, online = addr, healthy
				default:
					s.Replicas = append(s.Replicas, addr)
				}
			}
		}
	}
	slices.SortFunc(s.Ranges, func(a, b [2]int) int { return a[0] - b[0] })
	return s, nil
}

func parseNode(raw any, tls bool) (addr string, master, healthy bool, err error) {
	fields, err := redis.Values(raw, nil)
	if err != nil || len(fields)%2 != 0 {
		return "", false, false, fmt.Errorf("node is not a field list")
	}
	var ip, endpoint string
	var port, tlsPort int64
	for i := 0; i < len(fields); i += 2 {
		name, _ := redis.String(fields[i], nil)
		switch name {
		case "ip":
			ip, _ = redis.String(fields[i+1], nil)
		case "endpoint":
			endpoint, _ = redis.String(fields[i+1], nil)
		case "port":
			port, _ = redis.Int64(fields[i+1], nil)
		case "tls-port":
			tlsPort, _ = redis.Int64(fields[i+1], nil)
		case "role":
			role, _ := redis.String(fields[i+1], nil)
			master = role == "master"
		case "health":
			h, _ := redis.String(fields[i+1], nil)
			healthy = h == "online"
		}
	}
	// endpoint is what the node announces for clients ("?" when unknown).
	host := endpoint
	if host == "" || host == "?" {
		host = ip
	}
	if tls && tlsPort > 0 {
		port = tlsPort
	}
	if host == "" || port <= 0 {
		return "", false, false, fmt.Errorf("node without an address")
	}
	return net.JoinHostPort(host, strconv.FormatInt(port, 10)), master, healthy, nil
}
