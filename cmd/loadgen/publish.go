package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"
)

// publisher sends bumps as an app would: PUBLISH <prefix><topic>
// {"v":V,"ts":T}, or the project's publish script (which also raises the
// version key). Sends are pipelined on one connection; a second goroutine
// reads the replies, so a Poisson burst costs one write.
type publisher struct {
	prefix string
	lua    string // script SHA, or "" for plain PUBLISH

	mu   sync.Mutex
	conn redis.Conn
	last map[string]int64 // newest version per topic, so versions only rise

	pending atomic.Int64
	errs    atomic.Int64
	errMsg  atomic.Pointer[string]
	done    chan struct{}
}

func newPublisher(o *options) (*publisher, error) {
	c, err := redis.DialURL(o.redisURL, redis.DialConnectTimeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("--redis-url: %w", err)
	}
	p := &publisher{prefix: o.prefix, conn: c, last: map[string]int64{}, done: make(chan struct{})}
	if o.publish == "lua" {
		src, err := os.ReadFile(o.luaFile)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("--lua-file: %w", err)
		}
		sha, err := redis.String(c.Do("SCRIPT", "LOAD", string(src)))
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("SCRIPT LOAD: %w", err)
		}
		p.lua = sha
	}
	go p.readReplies()
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
	var err error
	if p.lua != "" {
		err = p.conn.Send("EVALSHA", p.lua, 1, p.prefix+topic, v, payload)
	} else {
		err = p.conn.Send("PUBLISH", p.prefix+topic, payload)
	}
	if err == nil {
		p.pending.Add(1)
	}
	return v, err
}

func (p *publisher) flush() error { return p.conn.Flush() }

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

func (p *publisher) readReplies() {
	defer close(p.done)
	for {
		_, err := p.conn.Receive()
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
	err := p.conn.Close()
	<-p.done
	return err
}
