// Command naive is the "obvious" go-socket.io 1.7.0 notifier, a peer in the
// benchmarks: sockets join a room per topic on `subscribe`, and every Redis
// bump is a BroadcastToRoom. It checks no token and keeps no versions; it
// is what pushpoll's notifier would be without its own fan-out (DESIGN §4
// and STYLE habit 8 say why the notifier does not do this).
//
//	redis ── PSUBSCRIBE pushpoll:* ──► BroadcastToRoom("/", topic, "stale", {topic: v})
//	client ── subscribe {token, topics} ──► Join(topic) ×n, ack {granted, denied}
package main

import (
	"context"
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
	"syscall"
	"time"

	socketio "github.com/googollee/go-socket.io"
	"github.com/googollee/go-socket.io/engineio"
	"github.com/googollee/go-socket.io/engineio/transport"
	"github.com/googollee/go-socket.io/engineio/transport/polling"
	"github.com/googollee/go-socket.io/engineio/transport/websocket"

	"github.com/pushpoll/pushpoll/scripts/bench/internal/busfeed"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "naive:", err)
		os.Exit(1)
	}
}

type subscribeReq struct {
	Token  string           `json:"token"`
	Topics map[string]int64 `json:"topics"`
}

type subscribeAck struct {
	Granted []string          `json:"granted"`
	Denied  map[string]string `json:"denied"`
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("naive", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8092", "HTTP address")
	redisURL := fs.String("redis-url", "redis://127.0.0.1:6379", "Redis to take bumps from")
	prefix := fs.String("channel-prefix", "pushpoll:", "Redis channel prefix")
	pingInterval := fs.Duration("ping-interval", 10*time.Second, "Engine.IO pingInterval (the notifier's default)")
	pingTimeout := fs.Duration("ping-timeout", 20*time.Second, "Engine.IO pingTimeout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("component", "naive")
	allow := func(*http.Request) bool { return true }
	srv := socketio.NewServer(&engineio.Options{
		PingInterval: *pingInterval,
		PingTimeout:  *pingTimeout,
		Transports: []transport.Transport{
			&polling.Transport{CheckOrigin: allow},
			&websocket.Transport{CheckOrigin: allow},
		},
	})
	srv.OnConnect("/", func(socketio.Conn) error { return nil })
	srv.OnError("/", func(socketio.Conn, error) {})
	srv.OnDisconnect("/", func(socketio.Conn, string) {})
	srv.OnEvent("/", "subscribe", func(c socketio.Conn, req subscribeReq) subscribeAck {
		ack := subscribeAck{Granted: make([]string, 0, len(req.Topics)), Denied: map[string]string{}}
		for t := range req.Topics {
			c.Join(t)
			ack.Granted = append(ack.Granted, t)
		}
		return ack
	})
	srv.OnEvent("/", "unsubscribe", func(c socketio.Conn, topics []string) {
		for _, t := range topics {
			c.Leave(t)
		}
	})
	go func() { _ = srv.Serve() }()

	go busfeed.Run(ctx, log, *redisURL, *prefix, func(topic string, v int64) {
		srv.BroadcastToRoom("/", topic, "stale", map[string]int64{topic: v})
	})

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "go_goroutines %d\nnaive_sockets %d\n", runtime.NumGoroutine(), srv.Count())
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = hs.Close()
	}()
	log.Info("listening", "addr", ln.Addr().String())
	err = hs.Serve(ln)
	// go-socket.io's Close last: it panics on handshakes after it.
	_ = srv.Close()
	if !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
