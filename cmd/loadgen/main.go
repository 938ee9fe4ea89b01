// Command loadgen is pushpoll's load generator: a swarm of socket.io 2
// clients (Engine.IO 3, websocket or long-polling) that subscribe to
// topics on one or more notifier nodes, while it publishes version bumps
// through Redis and measures who received which hint how fast.
//
//	loadgen fanout  --url http://127.0.0.1:8080 --sockets 10000 --bumps 5
//	loadgen sustain --url … --groups s:2000:10:3000,b:4:1000:20 --duration 20s
//	loadgen idle    --url … --sockets 19000 --server-pid 1234 --metrics-url …/metrics
//	loadgen storm   --url A,B --sockets 19000 --kill-pid <pid of A> --reconnect
//
// Output: one JSON object per line on stdout (ready, bump, tick, summary),
// a human summary on stderr.
//
//	coordinator ── publishes v=<unix µs> to pushpoll:<topic> ──► Redis ──► nodes
//	     │ JSON lines (stdin/stdout)                                    │
//	     ▼                                                              ▼
//	workers (in-process, or `loadgen worker` children, ≤19K sockets each) ◄── stale
//
// Versions are publish times in unix microseconds, so every hint carries
// its own send time: latency = read time − version.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("missing scenario")
	}
	switch args[0] {
	case "worker":
		return runWorker(stdin, stdout, stderr)
	case "fanout", "sustain", "idle", "storm":
		return runCoordinator(ctx, args[0], args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stderr, usage)
		return nil
	}
	fmt.Fprintln(stderr, usage)
	return fmt.Errorf("unknown scenario %q", args[0])
}

const usage = `usage: loadgen fanout|sustain|idle|storm [flags]   (loadgen <scenario> --help for flags)
  fanout   one bump at a time to the first group's topics; per-bump reach and latency
  sustain  Poisson publishes at each group's rate; hints/s delivered, loss, p99
  idle     hold the sockets; RSS, goroutines and CPU of the server(s) per socket
  storm    kill a node and time until every socket is back and subscribed elsewhere`
