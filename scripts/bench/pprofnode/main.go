// Command pprofnode runs the pushpoll notifier (package notifier, the same
// code cmd/notifier wires) with net/http/pprof on a second, loopback-only
// listener, so the benchmark can take CPU profiles of the fan-out path
// without the production binary exposing profiling endpoints.
//
//	pprofnode --listen 127.0.0.1:8080 --pprof-listen 127.0.0.1:6060 --redis-url redis://…
//	go tool pprof -top http://127.0.0.1:6060/debug/pprof/profile?seconds=10
//
// The token secret comes from $PUSHPOLL_TOKEN_SECRET.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/metrics"
	"syscall"
	"time"

	"github.com/pushpoll/pushpoll/notifier"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "pprofnode:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cfg := notifier.Default()
	flag.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "notifier address")
	flag.StringVar(&cfg.RedisURL, "redis-url", "redis://127.0.0.1:6379", "Redis")
	pprofAddr := flag.String("pprof-listen", "127.0.0.1:6060", "pprof address")
	flag.Parse()
	cfg.TokenSecret = os.Getenv("PUSHPOLL_TOKEN_SECRET")
	// As scripts/bench/run runs the notifier: no per-node or per-address
	// cap, which would refuse part of a 10,000-socket run.
	cfg.MaxSockets = -1
	cfg.MaxSocketsPerClient = -1
	cfg.HintThrottle = 0    // as scripts/bench/run runs the notifier: fan-out unthrottled
	cfg.MaxPrefixTopics = 0 // and one prefix token for every socket
	cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/stacks", stacks)
	pl, err := net.Listen("tcp", *pprofAddr)
	if err != nil {
		return err
	}
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}).Serve(pl) }()

	srv, err := notifier.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	return srv.Serve(ctx, ln)
}

// stacks writes what goroutine stacks hold against what they use: the heap
// profile does not see stacks, and on an idle node they are most of the RSS.
// The used figure is from the last GC; ?gc=1 on the heap profile runs one.
func stacks(w http.ResponseWriter, _ *http.Request) {
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/stacks:bytes"},
		{Name: "/gc/scan/stack:bytes"},
		{Name: "/gc/stack/starting-size:bytes"},
		{Name: "/sched/goroutines:goroutines"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/total:bytes"},
	}
	metrics.Read(samples)
	for _, s := range samples {
		fmt.Fprintf(w, "%s %d\n", s.Name, s.Value.Uint64())
	}
}
