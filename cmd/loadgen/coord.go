package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// options are the coordinator's flags.
type options struct {
	urls        []string
	retryURLs   []string
	targets     []targetSpec
	redisURL    string
	prefix      string
	secret      string
	audience    string
	run         string
	groups      []group
	sockets     int
	procs       int
	srcBase     string
	perIP       int
	polling     float64
	eio         int
	dialConc    int
	connectWait time.Duration
	handshake   time.Duration
	reconnect   bool
	recMin      time.Duration
	recMax      time.Duration
	jitter      float64
	publish     string
	luaFile     string

	// fanout
	bumps  int
	warmup int
	gap    time.Duration
	wait   time.Duration

	// sustain
	duration time.Duration

	// idle, storm
	serverPIDs []int
	metrics    []string
	hold       time.Duration
	killPID    int
	label      string
	cpuProfile string
}

func parseOptions(scenario string, args []string, getenv func(string) string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("loadgen "+scenario, flag.ContinueOnError)
	fs.SetOutput(stderr)
	urls := fs.String("url", "http://127.0.0.1:8080", "notifier node(s), comma-separated; socket j first dials node j%n")
	targets := fs.String("targets", "", "fanout: several servers at once, name=url,...: each gets --sockets sockets and the bumps go round-robin; name/4=url gives that one's sockets Engine.IO 4 (name/3=url: 3; plain name: --eio)")
	retry := fs.String("reconnect-url", "", "where reconnects go (default --url): a refused node is skipped at once, as a load balancer would")
	fs.StringVar(&o.redisURL, "redis-url", "redis://127.0.0.1:6379", "Redis the nodes subscribe to")
	fs.StringVar(&o.prefix, "channel-prefix", "pushpoll:", "Redis channel prefix (the nodes' --channel-prefix)")
	fs.StringVar(&o.audience, "token-audience", "pushpoll", "aud claim of the minted tokens")
	fs.StringVar(&o.run, "run", "", "topic name prefix for this run (default: lg<random>), so runs never see each other's versions")
	groups := fs.String("groups", "", "topic groups name:count:size[:rate/s],... (default fan:1:<sockets>)")
	fs.IntVar(&o.sockets, "sockets", 1000, "sockets in all (default for fanout; otherwise the groups' span)")
	fs.IntVar(&o.procs, "procs", 0, "load generator processes (default: one per 19,000 sockets; 1 = in-process)")
	fs.StringVar(&o.srcBase, "src-base", "127.0.0.2", "first source address; socket j uses src-base + j/per-ip")
	fs.IntVar(&o.perIP, "per-ip", 1000, "sockets per source address")
	fs.Float64Var(&o.polling, "polling", 0, "share of sockets on long-polling (0..1); the rest use websocket")
	fs.IntVar(&o.eio, "eio", 3, "Engine.IO version of the sockets: 3 (socket.io 2) or 4 (socket.io 3/4, websocket only)")
	fs.IntVar(&o.dialConc, "dial-concurrency", 64, "connects (dial + subscribe) in flight per process")
	fs.DurationVar(&o.connectWait, "connect-timeout", 5*time.Minute, "give up waiting for every socket to be up")
	fs.DurationVar(&o.handshake, "handshake-timeout", 20*time.Second, "per-socket dial and handshake timeout")
	fs.BoolVar(&o.reconnect, "reconnect", scenario == "storm", "sockets reconnect (jittered backoff) when their connection ends")
	fs.DurationVar(&o.recMin, "reconnect-min", time.Second, "first reconnect delay (socket.io-client reconnectionDelay)")
	fs.DurationVar(&o.recMax, "reconnect-max", 30*time.Second, "reconnect delay cap (reconnectionDelayMax)")
	fs.Float64Var(&o.jitter, "jitter", 0.5, "reconnect randomization factor")
	fs.StringVar(&o.publish, "publish", "publish", "how bumps are published: publish (PUBLISH) or lua (the version-table script)")
	fs.StringVar(&o.luaFile, "lua-file", "notifier/publish.lua", "the publish script, for --publish lua")
	fs.IntVar(&o.bumps, "bumps", 5, "fanout: measured bumps")
	fs.IntVar(&o.warmup, "warmup", 1, "fanout: bumps before the measured ones, reported as warmup")
	fs.DurationVar(&o.gap, "gap", 500*time.Millisecond, "fanout: pause between the end of one bump and the next publish")
	fs.DurationVar(&o.wait, "wait", 15*time.Second, "fanout, storm: how long to wait for every holder to have a bump")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "sustain: publishing time")
	pids := fs.String("server-pid", "", "idle: pid(s) of the server process(es) to sample (RSS, CPU), comma-separated; fanout: one per --targets entry, in order, for each server's CPU over the measured bumps")
	metrics := fs.String("metrics-url", "", "idle, storm: Prometheus endpoint(s) to read go_goroutines and socket gauges from")
	fs.DurationVar(&o.hold, "hold", 10*time.Second, "idle: how long to hold the sockets while sampling CPU")
	fs.IntVar(&o.killPID, "kill-pid", 0, "storm: SIGKILL this node once every socket is up")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (coordinator and, with --procs 1, the sockets) to this file")
	fs.StringVar(&o.label, "label", "", "free text copied into every output line (e.g. the server's name)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fmt.Fprintln(stderr, "\nflags (the token secret comes from $PUSHPOLL_TOKEN_SECRET):")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o.secret = getenv("PUSHPOLL_TOKEN_SECRET")
	if o.secret == "" {
		// The bench peers do not check tokens; the notifier does.
		o.secret = "loadgen-unchecked-secret-0123456789abcdef"
	}
	o.urls = splitURLs(*urls)
	if len(o.urls) == 0 {
		return nil, errors.New("--url: no node")
	}
	o.retryURLs = splitURLs(*retry)
	for _, t := range splitURLs(*targets) {
		name, u, ok := strings.Cut(t, "=")
		if !ok || name == "" || u == "" {
			return nil, fmt.Errorf("--targets: %q is not name=url", t)
		}
		eio := 0
		if n, v, ok := strings.Cut(name, "/"); ok {
			if v != "3" && v != "4" || n == "" {
				return nil, fmt.Errorf("--targets: %q: the version after / must be 3 or 4", t)
			}
			name, eio = n, int(v[0]-'0')
		}
		o.targets = append(o.targets, targetSpec{name: name, urls: []string{u}, eio: eio})
	}
	if *groups == "" {
		*groups = fmt.Sprintf("fan:1:%d", o.sockets)
	}
	var err error
	if o.groups, err = parseGroups(*groups); err != nil {
		return nil, err
	}
	if isSet(fs, "groups") && !isSet(fs, "sockets") {
		o.sockets = span(o.groups)
	}
	if o.sockets < 1 {
		return nil, errors.New("--sockets must be positive")
	}
	if o.run == "" {
		o.run = "lg" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	}
	if o.eio != 3 && (o.eio != 4 || o.polling > 0) {
		return nil, errors.New("--eio must be 3, or 4 without --polling")
	}
	for _, t := range o.targets {
		if t.eio == 4 && o.polling > 0 {
			return nil, fmt.Errorf("--targets: %s/4 has no --polling (Engine.IO 4 is websocket only here)", t.name)
		}
	}
	if o.polling < 0 || o.polling > 1 {
		return nil, errors.New("--polling must be within 0..1")
	}
	if o.publish != "publish" && o.publish != "lua" {
		return nil, errors.New("--publish must be publish or lua")
	}
	for _, p := range strings.Split(*pids, ",") {
		if p = strings.TrimSpace(p); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil {
				return nil, fmt.Errorf("--server-pid %q: %w", p, err)
			}
			o.serverPIDs = append(o.serverPIDs, n)
		}
	}
	if n := max(len(o.targets), 1); scenario == "fanout" && len(o.serverPIDs) > 0 && len(o.serverPIDs) != n {
		return nil, fmt.Errorf("--server-pid: fanout takes one pid per target (%d), not %d", n, len(o.serverPIDs))
	}
	for _, m := range strings.Split(*metrics, ",") {
		if m = strings.TrimSpace(m); m != "" {
			o.metrics = append(o.metrics, m)
		}
	}
	return o, nil
}

type targetSpec struct {
	name string
	urls []string
	eio  int // 0: --eio
}

// maxPerProc keeps a process under the 20,000 open files it may have, with
// room for Redis, pipes and the runtime.
const maxPerProc = 19000

func splitURLs(s string) []string {
	var out []string
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, strings.TrimSuffix(u, "/"))
		}
	}
	return out
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// handle is the coordinator's end of one worker.
type handle struct {
	id      int
	cmd     *exec.Cmd // nil in-process
	enc     *json.Encoder
	in      io.Closer
	replies chan reply
	pid     int
}

func (h *handle) send(c command) error { return h.enc.Encode(c) }

// next returns the worker's next reply of type typ, passing progress
// reports to onProgress on the way.
func (h *handle) next(ctx context.Context, typ string, onProgress func(reply)) (reply, error) {
	for {
		select {
		case <-ctx.Done():
			return reply{}, ctx.Err()
		case r, ok := <-h.replies:
			if !ok {
				return reply{}, fmt.Errorf("worker %d ended", h.id)
			}
			switch {
			case r.Type == typ:
				return r, nil
			case r.Type == "error":
				return r, fmt.Errorf("worker %d: %s", h.id, r.Error)
			case r.Type == "progress" && onProgress != nil:
				onProgress(r)
			}
		}
	}
}

// startWorker starts worker id: a goroutine when inProcess, else a child
// running `loadgen worker`.
func startWorker(id int, inProcess bool, stderr io.Writer) (*handle, error) {
	h := &handle{id: id, replies: make(chan reply, 64)}
	var out io.Reader
	if inProcess {
		inR, inW := io.Pipe()
		outR, outW := io.Pipe()
		go func() {
			_ = runWorker(inR, outW, stderr)
			outW.Close()
		}()
		h.enc, h.in, out, h.pid = json.NewEncoder(inW), inW, outR, os.Getpid()
	} else {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(exe, "worker")
		cmd.Stderr = stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		o, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		h.cmd, h.enc, h.in, out, h.pid = cmd, json.NewEncoder(in), in, o, cmd.Process.Pid
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		for sc.Scan() {
			var r reply
			if json.Unmarshal(sc.Bytes(), &r) == nil {
				h.replies <- r
			}
		}
		close(h.replies)
	}()
	return h, nil
}

// broadcast sends c to every worker and collects one reply of type typ from
// each.
func broadcast(ctx context.Context, hs []*handle, c command, typ string) ([]reply, error) {
	for _, h := range hs {
		if err := h.send(c); err != nil {
			return nil, fmt.Errorf("worker %d: %w", h.id, err)
		}
	}
	out := make([]reply, len(hs))
	for i, h := range hs {
		r, err := h.next(ctx, typ, nil)
		if err != nil {
			return nil, err
		}
		out[i] = r
	}
	return out, nil
}

func stopWorkers(hs []*handle) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, _ = broadcast(ctx, hs, command{Cmd: "quit"}, "bye")
	for _, h := range hs {
		h.in.Close()
		if h.cmd != nil {
			done := make(chan struct{})
			go func() { _ = h.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				_ = h.cmd.Process.Kill()
			}
		}
	}
}

// emitter writes the JSON lines of stdout.
type emitter struct {
	mu    sync.Mutex
	enc   *json.Encoder
	label string
}

func (e *emitter) emit(m map[string]any) {
	if e.label != "" {
		m["label"] = e.label
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_ = e.enc.Encode(m)
}

func runCoordinator(ctx context.Context, scenario string, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(scenario, args, os.Getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	em := &emitter{enc: json.NewEncoder(stdout), label: o.label}
	pub, err := newPublisher(o)
	if err != nil {
		return err
	}
	defer pub.Close()

	// The server's baseline is taken before any socket connects.
	var before []procSample
	if scenario == "idle" {
		for _, pid := range o.serverPIDs {
			before = append(before, sampleProc(pid))
		}
	}
	beforeMetrics := scrapeAll(o.metrics)

	targets, err := startTargets(o, stderr)
	if err != nil {
		return err
	}
	defer func() {
		for _, t := range targets {
			stopWorkers(t.hs)
		}
	}()

	t0 := time.Now()
	for _, t := range targets {
		if err := t.connect(scenario, o); err != nil {
			return err
		}
	}
	readyCtx, cancel := context.WithTimeout(ctx, o.connectWait)
	defer cancel()
	for _, t := range targets {
		if err := t.waitReady(readyCtx, stderr); err != nil {
			return err
		}
		em.emit(map[string]any{"type": "ready", "scenario": scenario, "target": t.name, "sockets": o.sockets, "up": t.up,
			"failed": t.failed, "procs": len(t.hs), "nodes": len(t.urls), "connect_s": round(time.Since(t0).Seconds(), 2),
			"first_err": t.firstErr})
		fmt.Fprintf(stderr, "loadgen: %s%d/%d sockets up after %.1fs (%d failed) over %d node(s), %d process(es)\n",
			t.prefix(), t.up, o.sockets, time.Since(t0).Seconds(), t.failed, len(t.urls), len(t.hs))
		if t.up == 0 {
			return fmt.Errorf("%sno socket came up (first error: %s)", t.prefix(), t.firstErr)
		}
	}

	if scenario != "fanout" && len(targets) > 1 {
		return fmt.Errorf("--targets: only fanout compares several servers")
	}
	t := targets[0]
	switch scenario {
	case "fanout":
		return fanout(ctx, o, targets, pub, em, stderr)
	case "sustain":
		return sustain(ctx, o, t.hs, pub, em, stderr)
	case "idle":
		return idle(ctx, o, t.hs, before, beforeMetrics, t.up, em, stderr)
	case "storm":
		return storm(ctx, o, t.hs, pub, em, stderr)
	}
	return nil
}

// target is one server under test (one or more nodes) with its own sockets,
// topics and source addresses. fanout can hold several at once and bump
// them in turn, so that each is compared with the others minutes, not
// runs, apart.
type target struct {
	name     string
	urls     []string
	run      string // topic prefix
	srcBase  string
	eio      int
	hs       []*handle
	up       int
	failed   int
	firstErr string
}

func (t *target) prefix() string {
	if t.name == "" {
		return ""
	}
	return t.name + ": "
}

// startTargets starts every target's workers. A single worker runs
// in-process; otherwise each is a child process with its own file limit.
func startTargets(o *options, stderr io.Writer) ([]*target, error) {
	specs := o.targets
	if len(specs) == 0 {
		specs = []targetSpec{{urls: o.urls}}
	}
	procs := o.procs
	if procs <= 0 {
		procs = (o.sockets + maxPerProc - 1) / maxPerProc
	}
	base, err := netip.ParseAddr(o.srcBase)
	if err != nil {
		return nil, fmt.Errorf("--src-base: %w", err)
	}
	ipsPer := (o.sockets + o.perIP - 1) / o.perIP
	inProcess := procs*len(specs) == 1
	var ts []*target
	id := 0
	for k, sp := range specs {
		src, err := sourceAddr(base, 1, k*ipsPer)
		if err != nil {
			return nil, err
		}
		t := &target{name: sp.name, urls: sp.urls, run: o.run, srcBase: src.String(), eio: cmp.Or(sp.eio, o.eio)}
		if sp.name != "" {
			t.run = o.run + "." + sp.name
		}
		for range procs {
			h, err := startWorker(id, inProcess, stderr)
			if err != nil {
				return nil, err
			}
			t.hs = append(t.hs, h)
			id++
		}
		ts = append(ts, t)
	}
	return ts, nil
}

func (t *target) connect(scenario string, o *options) error {
	token := mintToken([]byte(o.secret), "loadgen", o.audience, []string{t.run + ":*"}, 24*time.Hour)
	per := (o.sockets + len(t.hs) - 1) / len(t.hs)
	retry := o.retryURLs
	if len(retry) == 0 {
		retry = t.urls
	}
	for i, h := range t.hs {
		first := i * per
		n := min(per, o.sockets-first)
		cfg := workerConfig{
			ID: h.id, URLs: t.urls, First: first, N: max(n, 0), Run: t.run, Groups: o.groups,
			SrcBase: t.srcBase, PerIP: o.perIP, Polling: o.polling, EIO: t.eio, Token: token,
			DialConcurrency:    o.dialConc,
			HandshakeTimeoutMS: o.handshake.Milliseconds(),
			Reconnect:          o.reconnect,
			ReconnectMinMS:     o.recMin.Milliseconds(),
			ReconnectMaxMS:     o.recMax.Milliseconds(),
			Jitter:             o.jitter,
			RetryURLs:          retry,
			// Sustained runs publish too many versions for a histogram each.
			PerBump: scenario != "sustain",
		}
		if err := h.send(command{Cmd: "start", Config: &cfg}); err != nil {
			return fmt.Errorf("worker %d: %w", h.id, err)
		}
	}
	return nil
}

func (t *target) waitReady(ctx context.Context, stderr io.Writer) error {
	for _, h := range t.hs {
		r, err := h.next(ctx, "ready", func(r reply) {
			fmt.Fprintf(stderr, "loadgen: %sworker %d: %d/%d up, %d failed, %d dial errors\n", t.prefix(), r.Worker, r.Up, r.Sockets, r.Failed, r.DialErrors)
		})
		if err != nil {
			return fmt.Errorf("%swaiting for sockets: %w", t.prefix(), err)
		}
		t.up += r.Up
		t.failed += r.Failed
		if t.firstErr == "" {
			t.firstErr = r.FirstErr
		}
	}
	return nil
}

func hasRates(gs []group) bool {
	return slices.ContainsFunc(gs, func(g group) bool { return g.Rate > 0 })
}

func round(f float64, digits int) float64 {
	s := strconv.FormatFloat(f, 'f', digits, 64)
	r, _ := strconv.ParseFloat(s, 64)
	return r
}
