// Command conformance serves, on localhost:3000, what the official
// Engine.IO and Socket.IO protocol test suites (vendored beside it, from
// socketio/engine.io-protocol and socketio/socket.io-protocol) expect of a
// server, built from internal/socketio:
//
//	go run ./scripts/conformance --suite engine.io   # /engine.io/: echo every message
//	go run ./scripts/conformance --suite socket.io   # /socket.io/: the suite's echo app
//
// Settings are the suites': pingInterval 300 ms, pingTimeout 200 ms,
// maxPayload 1e6, connectTimeout 1000 ms, CORS for any origin.
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
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pushpoll/pushpoll/internal/socketio"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(1)
	}
}

// The suites' settings. Config.PingTimeout is the whole silence a session
// may keep (interval plus the wait for the PONG), so the announced
// pingTimeout is 500-300 = 200 ms.
const (
	pingInterval   = 300 * time.Millisecond
	pingTimeout    = 500 * time.Millisecond
	maxPayload     = 1_000_000
	connectTimeout = 1000 * time.Millisecond
)

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("conformance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	suite := fs.String("suite", "", "engine.io or socket.io")
	listen := fs.String("listen", "localhost:3000", "address the suites connect to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var accept func(socketio.EngineConn)
	var path string
	switch *suite {
	case "engine.io":
		accept, path = echo, "/engine.io/"
	case "socket.io":
		accept, path = serveSocketIO, "/socket.io/"
	default:
		return errors.New("--suite must be engine.io or socket.io")
	}
	srv, err := socketio.NewEngineServer(socketio.Config{
		AllowedOrigins: []string{"*"},
		MaxFrameBytes:  maxPayload,
		MaxPollBody:    maxPayload,
		PingInterval:   pingInterval,
		PingTimeout:    pingTimeout,
		ConnectTimeout: connectTimeout,
		Logger:         slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}, accept)
	if err != nil {
		return err
	}
	go func() { _ = srv.Serve() }()
	mux := http.NewServeMux()
	mux.Handle(path, srv)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.CloseAll()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	fmt.Fprintf(stderr, "conformance: %s suite server on http://%s%s\n", *suite, ln.Addr(), path)
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return srv.Close()
}

// echo sends every message back as it came, text or binary.
func echo(c socketio.EngineConn) {
	for {
		data, binary, err := c.Read()
		if err != nil {
			return
		}
		if c.Write(data, binary) != nil {
			return
		}
	}
}
