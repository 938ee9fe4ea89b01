// Command floor is the raw floor probe of the benchmarks: the least work a
// Go server can do to deliver one hint to N loopback websockets, measured by
// the same load generator as the notifier and its peers.
//
// It speaks just enough Engine.IO 3 / socket.io 2 over websocket for the
// load generator: the open packet and "40" on connect, "3" for every ping,
// an ack for "subscribe". On a Redis bump it prepares one websocket message
// carrying 42["stale",{"<topic>":<v>}] (gorilla's PreparedMessage: framed
// once) and writes it to every socket holding the topic, split over one
// writer goroutine per core: no per-socket queue, no encoding per socket, no
// write deadline, no auth. Whatever the notifier does on top of that is the
// cost of doing it properly.
//
//	redis ── PSUBSCRIBE pushpoll:* ──► fan-out ── PreparedMessage ──► one writer per core ──► ws × N/cores
//	client ── "2" / 42[subscribe] ──► reader goroutine (one per socket) ──► "3" / 43[ack]
//
// Long-polling is not served: the floor is about the websocket write path.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pushpoll/pushpoll/scripts/bench/internal/busfeed"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8090", "HTTP address")
	redisURL := fs.String("redis-url", "redis://127.0.0.1:6379", "Redis to take bumps from")
	prefix := fs.String("channel-prefix", "pushpoll:", "Redis channel prefix")
	writers := fs.Int("writers", runtime.GOMAXPROCS(0), "goroutines writing one bump's frames, each to a share of the sockets (default: one per core)")
	pingInterval := fs.Duration("ping-interval", 25*time.Second, "Engine.IO pingInterval told to clients (the notifier's default)")
	pingTimeout := fs.Duration("ping-timeout", 60*time.Second, "Engine.IO pingTimeout told to clients (the notifier's default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("component", "floor")
	s := &server{
		topics:  make(map[string]map[*conn]struct{}),
		writers: max(1, *writers),
		openFmt: fmt.Sprintf(`0{"sid":"%%s","upgrades":[],"pingInterval":%d,"pingTimeout":%d}`,
			pingInterval.Milliseconds(), pingTimeout.Milliseconds()),
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/socket.io/", s.serveWS)
	mux.HandleFunc("/metrics", s.metrics)
	// Profiling, for the benchmark script's pprof captures.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go busfeed.Run(ctx, log, *redisURL, *prefix, s.bump)
	go func() {
		<-ctx.Done()
		_ = hs.Close()
		s.closeAll()
	}()
	log.Info("listening", "addr", ln.Addr().String(), "writers", s.writers)
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type server struct {
	// openFmt is the open packet with a %s for the sid.
	openFmt string
	writers int
	nextSID atomic.Uint64
	sockets atomic.Int64

	mu     sync.RWMutex
	topics map[string]map[*conn]struct{}
	conns  map[*conn]struct{}

	// scratch is the fan-out's snapshot of a topic's sockets, reused
	// between bumps; only the bus goroutine touches it.
	scratch []*conn
}

type conn struct {
	ws *websocket.Conn
	// wmu keeps writes apart: gorilla allows one writer at a time, and the
	// reader answers pings while the fan-out writes hints.
	wmu sync.Mutex
	// topics is only touched by the connection's reader and its close.
	topics []string
}

var upgrader = websocket.Upgrader{
	ReadBufferSize: 512,
	// A pool keeps idle sockets from holding a write buffer each.
	WriteBufferPool: &sync.Pool{},
	CheckOrigin:     func(*http.Request) bool { return true },
}

func (s *server) serveWS(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("transport") != "websocket" || r.URL.Query().Get("EIO") != "3" {
		http.Error(w, "the floor serves EIO=3 websocket only", http.StatusBadRequest)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &conn{ws: ws}
	sid := strconv.FormatUint(s.nextSID.Add(1), 36)
	if err := c.write(fmt.Appendf(nil, s.openFmt, sid)); err != nil {
		ws.Close()
		return
	}
	if err := c.write(msgConnect); err != nil {
		ws.Close()
		return
	}
	s.mu.Lock()
	if s.conns == nil {
		s.conns = make(map[*conn]struct{})
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.sockets.Add(1)
	// The handler's goroutine becomes the reader: one goroutine per socket.
	s.read(ws, c)
	s.drop(c)
	ws.Close()
	s.sockets.Add(-1)
}

var (
	msgConnect = []byte("40")
	msgPong    = []byte("3")
)

func (s *server) read(ws *websocket.Conn, c *conn) {
	var buf bytes.Buffer
	for {
		_, r, err := ws.NextReader()
		if err != nil {
			return
		}
		buf.Reset()
		if _, err := buf.ReadFrom(io.LimitReader(r, 64<<10)); err != nil {
			return
		}
		p := buf.Bytes()
		switch {
		case len(p) == 0:
		case p[0] == '2':
			if err := c.write(msgPong); err != nil {
				return
			}
		case p[0] == '1' || bytes.Equal(p, []byte("41")):
			return
		case len(p) > 2 && p[0] == '4' && p[1] == '2':
			if err := s.event(c, p[2:]); err != nil {
				return
			}
		}
	}
}

// event handles 42<id>["subscribe",{...}] and 42["unsubscribe",[...]].
func (s *server) event(c *conn, p []byte) error {
	i := 0
	for i < len(p) && p[i] >= '0' && p[i] <= '9' {
		i++
	}
	id, body := p[:i], p[i:]
	var args []json.RawMessage
	if err := json.Unmarshal(body, &args); err != nil || len(args) < 2 {
		return nil
	}
	var name string
	_ = json.Unmarshal(args[0], &name)
	switch name {
	case "subscribe":
		var req struct {
			Topics map[string]int64 `json:"topics"`
		}
		_ = json.Unmarshal(args[1], &req)
		granted := make([]string, 0, len(req.Topics))
		s.mu.Lock()
		for t := range req.Topics {
			m := s.topics[t]
			if m == nil {
				m = make(map[*conn]struct{})
				s.topics[t] = m
			}
			if _, dup := m[c]; !dup {
				m[c] = struct{}{}
				c.topics = append(c.topics, t)
			}
			granted = append(granted, t)
		}
		s.mu.Unlock()
		if len(id) == 0 {
			return nil
		}
		g, _ := json.Marshal(granted)
		ack := fmt.Appendf(nil, `43%s[{"granted":%s,"denied":{}}]`, id, g)
		return c.write(ack)
	case "unsubscribe":
		var topics []string
		_ = json.Unmarshal(args[1], &topics)
		s.mu.Lock()
		for _, t := range topics {
			delete(s.topics[t], c)
		}
		s.mu.Unlock()
	}
	return nil
}

func (s *server) drop(c *conn) {
	s.mu.Lock()
	for _, t := range c.topics {
		if m := s.topics[t]; m != nil {
			delete(m, c)
			if len(m) == 0 {
				delete(s.topics, t)
			}
		}
	}
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *server) closeAll() {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for c := range s.conns {
		_ = c.ws.Close()
	}
}

// bump runs on the bus goroutine: snapshot the holders, prepare the
// message once, write it to each from one writer per core.
func (s *server) bump(topic string, v int64) {
	s.mu.RLock()
	m := s.topics[topic]
	s.scratch = s.scratch[:0]
	for c := range m {
		s.scratch = append(s.scratch, c)
	}
	s.mu.RUnlock()
	if len(s.scratch) == 0 {
		return
	}
	t, _ := json.Marshal(topic)
	f, err := websocket.NewPreparedMessage(websocket.TextMessage, fmt.Appendf(nil, `42["stale",{%s:%d}]`, t, v))
	if err != nil {
		return
	}
	conns := s.scratch
	if s.writers == 1 || len(conns) < 2*s.writers {
		writeAll(conns, f)
		return
	}
	var wg sync.WaitGroup
	per := (len(conns) + s.writers - 1) / s.writers
	for start := 0; start < len(conns); start += per {
		part := conns[start:min(start+per, len(conns))]
		wg.Go(func() { writeAll(part, f) })
	}
	wg.Wait()
}

func writeAll(conns []*conn, f *websocket.PreparedMessage) {
	for _, c := range conns {
		// A failed write means the socket is going away; its reader
		// cleans up.
		c.wmu.Lock()
		_ = c.ws.WritePreparedMessage(f)
		c.wmu.Unlock()
	}
}

func (c *conn) write(msg []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ws.WriteMessage(websocket.TextMessage, msg)
}

func (s *server) metrics(w http.ResponseWriter, _ *http.Request) {
	fmt.Fprintf(w, "go_goroutines %d\nfloor_sockets %d\n", runtime.NumGoroutine(), s.sockets.Load())
}
