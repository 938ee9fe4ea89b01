package notifier

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushpoll/pushpoll/internal/socketio"
)

// fakeConn records the events written to it. block, when set, is a client
// that stopped reading: TrySend keeps the packet, and Flush and Send wait
// until block is closed. Once closed, it refuses writes with ErrClosed, as
// the real connections do.
type fakeConn struct {
	mu     sync.Mutex
	events []fakeEvent
	frames [][]byte // the websocket frames, as written
	block  chan struct{}
	// blocked, when set, hears each time a write starts waiting on block.
	blocked chan struct{}
	pending *socketio.Frame
	closed  bool
}

type fakeEvent struct {
	name string
	arg  string
}

func (c *fakeConn) Send(f socketio.Frame) error {
	if err := c.Flush(); err != nil {
		return err
	}
	c.wait()
	c.record(f)
	return nil
}

func (c *fakeConn) TrySend(f socketio.Frame) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return socketio.ErrClosed
	}
	stuck := c.block != nil
	if stuck {
		kept := socketio.EndFrame(append(socketio.StartFrame(nil), f.Packet()...))
		c.pending = &kept
	}
	c.mu.Unlock()
	if stuck {
		return socketio.ErrWouldBlock
	}
	c.record(f)
	return nil
}

func (c *fakeConn) Flush() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return socketio.ErrClosed
	}
	f := c.pending
	c.pending = nil
	c.mu.Unlock()
	if f != nil {
		c.wait()
		c.record(*f)
	}
	return nil
}

func (c *fakeConn) wait() {
	c.mu.Lock()
	block, blocked := c.block, c.blocked
	c.mu.Unlock()
	if block != nil {
		if blocked != nil {
			select {
			case blocked <- struct{}{}:
			default:
			}
		}
		<-block
	}
}

// record parses 2["name",arg] back into an event.
func (c *fakeConn) record(f socketio.Frame) {
	p := string(f.Packet())
	name, arg, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(p, `2["`), "]"), `",`)
	c.mu.Lock()
	c.events = append(c.events, fakeEvent{name, arg})
	c.frames = append(c.frames, append([]byte(nil), f.Bytes()...))
	c.mu.Unlock()
}

func (c *fakeConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}

func (c *fakeConn) named(name string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, e := range c.events {
		if e.name == name {
			out = append(out, e.arg)
		}
	}
	return out
}

// testPool is a writer pool of size 1 for the test.
func testPool(t *testing.T) *writerPool {
	p := newWriterPool(1, nil)
	t.Cleanup(p.stop)
	return p
}

// waitIdle waits until the socket's writer has emptied the mailbox.
func waitIdle(t *testing.T, s *socket) {
	t.Helper()
	CheckFor(t, 5*time.Second, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.writing {
			return fmt.Errorf("socket %s: its writer is still emptying %d hints", s.id, s.hints.len())
		}
		return nil
	})
}

func TestSocketHintRules(t *testing.T) {
	cases := []struct {
		name  string
		held  int64
		hints []int64
		want  []string
	}{
		{"newer is sent", 5, []int64{6}, []string{`{"t":6}`}},
		{"held version is not", 5, []int64{5}, nil},
		{"older is not", 5, []int64{3}, nil},
		{"zero always asks to poll", 5, []int64{0}, []string{`{"t":0}`}},
		{"out of order and duplicates", 0, []int64{5, 3, 5, 4}, []string{`{"t":5}`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn := &fakeConn{}
			s := newSocket("s1", conn, testPool(t))
			s.grant(map[string]int64{"t": c.held}, time.Time{}, nil)
			for _, v := range c.hints {
				s.hint("t", v)
				waitIdle(t, s)
			}
			got := conn.named("stale")
			if len(got) != len(c.want) {
				t.Fatalf("stale events = %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("stale events = %v, want %v", got, c.want)
				}
			}
		})
	}
}

func TestSocketIgnoresUngrantedTopics(t *testing.T) {
	conn := &fakeConn{}
	s := newSocket("s1", conn, testPool(t))
	if s.hint("secret", 9) {
		t.Fatal("hint for a topic the socket does not hold was queued")
	}
	waitIdle(t, s)
	if got := conn.named("stale"); len(got) != 0 {
		t.Fatalf("stale = %v, want none", got)
	}
}

// A burst to a socket whose client is not reading coalesces to one pending
// entry per topic: memory stays bounded by the topic count.
func TestSocketCoalescesWhileBlocked(t *testing.T) {
	conn := &fakeConn{block: make(chan struct{}), blocked: make(chan struct{}, 1)}
	s := newSocket("s1", conn, testPool(t))
	s.grant(map[string]int64{"a": 0, "b": 0}, time.Time{}, nil)
	s.hint("a", 1) // the writer takes this one and blocks in Emit
	<-conn.blocked
	for v := int64(2); v <= 1000; v++ {
		s.hint("a", v)
		s.hint("b", v)
	}
	s.mu.Lock()
	pending := s.hints.len()
	s.mu.Unlock()
	if pending != 2 {
		t.Fatalf("pending hints = %d, want 2 (one per topic)", pending)
	}
	close(conn.block)
	waitIdle(t, s)
	got := conn.named("stale")
	if len(got) != 2 || got[0] != `{"a":1}` || got[1] != `{"a":1000,"b":1000}` {
		t.Fatalf("stale = %v, want [{a:1} {a:1000,b:1000}]", got)
	}
}

func TestSocketExpiry(t *testing.T) {
	conn := &fakeConn{}
	s := newSocket("s1", conn, testPool(t))
	fired := make(chan struct{}, 1)
	s.grant(map[string]int64{"a": 1}, time.Now().Add(20*time.Millisecond), func() { fired <- struct{}{} })
	s.grant(map[string]int64{"b": 1}, time.Time{}, func() { fired <- struct{}{} })
	select {
	case <-fired:
	case <-time.After(5 * time.Second):
		t.Fatal("expiry did not fire")
	}
	gone := s.expire(time.Now(), nil)
	if len(gone) != 1 || gone[0] != "a" {
		t.Fatalf("expired = %v, want [a]", gone)
	}
	waitIdle(t, s)
	if got := conn.named("expired"); len(got) != 1 || got[0] != `{"topics":["a"]}` {
		t.Fatalf("expired events = %v", got)
	}
	if s.hint("a", 5) {
		t.Fatal("an expired topic was hinted")
	}
	if !s.hint("b", 5) {
		t.Fatal("a topic without expiry was dropped")
	}
}

func TestBucket(t *testing.T) {
	b := newBucket(2, time.Second)
	now := time.Unix(0, 0)
	if !b.allow(now) || !b.allow(now) {
		t.Fatal("burst of 2 refused")
	}
	if b.allow(now) {
		t.Fatal("third at once allowed")
	}
	if !b.allow(now.Add(time.Second)) {
		t.Fatal("refill after one interval refused")
	}
}
