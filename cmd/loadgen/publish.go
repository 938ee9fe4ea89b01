package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/pushpoll/pushpoll/internal/redisx"
)

// publisher sends bumps as an app would: PUBLISH <prefix><topic>
// {"v":V,"ts":T}, or the project's publish script (which also raises the
// version key). Sends are pipelined on one connection per Redis master (one,
// or one per shard of a redis-cluster:// URL, where bumps are SPUBLISHed on
// the master of their slot); a goroutine per connection reads the replies,
// so a Poisson burst costs one write per master.
type publisher struct {
	prefix  string
	lua     string // script SHA, or "" for plain PUBLISH
	sharded bool   // a cluster: SPUBLISH, routed by slot

	mu    sync.Mutex
	conns []redis.Conn
	route func(key string) redis.Conn
	last  map[string]int64 // newest version per topic, so versions only rise

	pending atomic.Int64
	errs    atomic.Int64
	errMsg  atomic.Pointer[string]
	readers sync.WaitGroup
}

func newPublisher(o *options) (*publisher, error) {
	u, err := redisx.Parse(o.redisURL)
	if err != nil {
		return nil, err
	}
	p := &publisher{prefix: o.prefix, last: map[string]int64{}}
	dial := func(addr string) (redis.Conn, error) {
		return redis.Dial("tcp", addr, u.DialOptions(0)...)
	}
	switch u.Kind {
	case redisx.Cluster:
		// The shard map is read once: a benchmark does not fail over.
		c, err := dial(u.Addrs[0])
		if err != nil {
			return nil, fmt.Errorf("--redis-url: %w", err)
		}
		topo, err := redisx.ReadTopology(context.Background(), c, u.TLS)
		c.Close()
		if err != nil {
			return nil, fmt.Errorf("--redis-url: %w", err)
		}
		byShard := make([]redis.Conn, len(topo.Shards))
		for i, s := range topo.Shards {
			if byShard[i], err = dial(s.Master); err != nil {
				p.Close()
				return nil, fmt.Errorf("--redis-url: %w", err)
			}
			p.conns = append(p.conns, byShard[i])
		}
		p.sharded = true
		p.route = func(key string) redis.Conn { return byShard[topo.Shard(redisx.Slot(key))] }
	case redisx.Sentinel:
		c, _, err := u.DialMaster(context.Background(), 0)
		if err != nil {
			return nil, fmt.Errorf("--redis-url: %w", err)
		}
		p.conns = []redis.Conn{c}
	default:
		c, err := dial(u.Addrs[0])
		if err != nil {
			return nil, fmt.Errorf("--redis-url: %w", err)
		}
		p.conns = []redis.Conn{c}
	}
	if p.route == nil {
		p.route = func(string) redis.Conn { return p.conns[0] }
	}
	if o.publish == "lua" {
		src, err := os.ReadFile(o.luaFile)
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("--lua-file: %w", err)
		}
		for _, c := range p.conns {
			sha, err := redis.String(c.Do("SCRIPT", "LOAD", string(src)))
			if err != nil {
				p.Close()
				return nil, fmt.Errorf("SCRIPT LOAD: %w", err)
			}
			p.lua = sha
		}
	}
	for _, c := range p.conns {
		p.readers.Add(1)
		go p.readReplies(c)
	}
	return p, nil
}

// version picks the next version of topic: now in unix microseconds, or
// one more than the last if the clock has not moved on.
func (p *publisher) version(topic string) int64 {
	v := time.Now().UnixMicro()
	if l := p.last[topic]; v <= l {
		v = l + 1
	}
	p.last[topic] = v
	return v
}

// send queues one bump without flushing and returns its version.
func (p *publisher) send(topic string) (int64, error) {
	v := p.version(topic)
	payload := `{"v":` + strconv.FormatInt(v, 10) + `,"ts":` + strconv.FormatInt(v/1000, 10) + `}`
	key := p.prefix + topic
	c := p.route(key)
	var err error
	switch {
	case p.lua != "" && p.sharded:
		err = c.Send("EVALSHA", p.lua, 1, key, v, payload, "SPUBLISH")
	case p.lua != "":
		err = c.Send("EVALSHA", p.lua, 1, key, v, payload)
	case p.sharded:
		err = c.Send("SPUBLISH", key, payload)
	default:
		err = c.Send("PUBLISH", key, payload)
	}
	if err == nil {
		p.pending.Add(1)
	}
	return v, err
}

func (p *publisher) flush() error {
	for _, c := range p.conns {
		if err := c.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// publishNow sends and flushes one bump.
func (p *publisher) publishNow(topic string) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, err := p.send(topic)
	if err == nil {
		err = p.flush()
	}
	return v, err
}

func (p *publisher) readReplies(c redis.Conn) {
	defer p.readers.Done()
	for {
		_, err := c.Receive()
		if err != nil {
			if _, ok := err.(redis.Error); !ok {
				return // connection closed
			}
			p.errs.Add(1)
			msg := err.Error()
			p.errMsg.CompareAndSwap(nil, &msg)
		}
		p.pending.Add(-1)
	}
}

// drain waits (bounded) until every sent bump has its reply.
func (p *publisher) drain(d time.Duration) {
	deadline := time.Now().Add(d)
	for p.pending.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
}

func (p *publisher) Close() error {
	var err error
	for _, c := range p.conns {
		err = errors.Join(err, c.Close())
	}
	p.readers.Wait()
	return err
}
