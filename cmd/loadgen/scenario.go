package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"syscall"
	"time"
)

// mergeBump folds the workers' reports of one bump into one line.
func mergeBump(rs []reply) (holders, reached, missing int, h sparse) {
	for _, r := range rs {
		holders += r.Holders
		reached += r.Reached
		missing += r.Missing
		if r.Hist != nil {
			h.merge(*r.Hist)
		}
	}
	return
}

// bumpOnce publishes one bump and waits for every worker's report.
func bumpOnce(ctx context.Context, o *options, hs []*handle, pub *publisher, topic string) (map[string]any, sparse, error) {
	v, err := pub.publishNow(topic)
	if err != nil {
		return nil, sparse{}, fmt.Errorf("publish: %w", err)
	}
	rs, err := broadcast(ctx, hs, command{Cmd: "bump", Topic: topic, V: v, WaitMS: o.wait.Milliseconds()}, "bump")
	if err != nil {
		return nil, sparse{}, err
	}
	holders, reached, missing, h := mergeBump(rs)
	line := map[string]any{
		"type": "bump", "topic": topic, "v": v,
		"holders": holders, "reached": reached, "missing": missing,
		// p1: how long before the first writes land, which tells a server
		// that starts late from one that writes slowly.
		"p1_ms": round(h.quantile(0.01), 2), "p50_ms": round(h.quantile(0.50), 2),
		"p99_ms": round(h.quantile(0.99), 2), "max_ms": round(float64(h.MaxUS)/1000, 2),
	}
	// The last client's latency only exists when every holder got it.
	if missing == 0 {
		line["last_ms"] = round(float64(h.MaxUS)/1000, 2)
	}
	return line, h, nil
}

// fanout bumps one topic at a time and reports each bump. With several
// targets, every round bumps each target once, in an order rotated from
// round to round, and the last-client ratio to the first target is taken
// per round: both bumps saw the same machine within a second or two.
func fanout(ctx context.Context, o *options, targets []*target, pub *publisher, em *emitter, stderr io.Writer) error {
	g := o.groups[0]
	type acc struct{ last, p50, p99, ratio []float64 }
	res := make([]acc, len(targets))
	missing := make([]int, len(targets))
	// With a --server-pid per target, each server's CPU over the measured
	// bumps: far less disturbed by a busy machine than the latency is.
	var cpuFrom []procSample
	for round := range o.warmup + o.bumps {
		warm := round < o.warmup
		if round == o.warmup && len(o.serverPIDs) == len(targets) {
			cpuFrom = sampleAll(o.serverPIDs)
		}
		lastOf := make([]float64, len(targets))
		for k := range targets {
			ti := (k + round) % len(targets)
			t := targets[ti]
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(o.gap):
			}
			topic := topicName(t.run, g.Name, round%g.Count)
			line, h, err := bumpOnce(ctx, o, t.hs, pub, topic)
			if err != nil {
				return err
			}
			line["i"], line["warmup"] = round, warm
			if t.name != "" {
				line["target"] = t.name
			}
			em.emit(line)
			fmt.Fprintf(stderr, "loadgen: %sbump %d%s: %d/%d reached, p50 %.1f ms, p99 %.1f ms, last %.1f ms\n",
				t.prefix(), round, map[bool]string{true: " (warmup)"}[warm], line["reached"], line["holders"],
				h.quantile(0.5), h.quantile(0.99), float64(h.MaxUS)/1000)
			lastOf[ti] = float64(h.MaxUS) / 1000
			if warm {
				continue
			}
			missing[ti] += line["missing"].(int)
			res[ti].last = append(res[ti].last, float64(h.MaxUS)/1000)
			res[ti].p50 = append(res[ti].p50, h.quantile(0.5))
			res[ti].p99 = append(res[ti].p99, h.quantile(0.99))
		}
		if !warm && lastOf[0] > 0 {
			for ti := range targets {
				res[ti].ratio = append(res[ti].ratio, lastOf[ti]/lastOf[0])
			}
		}
	}
	var cpuTo []procSample
	if cpuFrom != nil {
		cpuTo = sampleAll(o.serverPIDs)
	}
	for ti, t := range targets {
		sum := map[string]any{"type": "summary", "scenario": "fanout", "sockets": o.sockets, "nodes": len(t.urls),
			"procs": len(t.hs), "bumps": o.bumps, "missing": missing[ti]}
		if cpuTo != nil && cpuTo[ti].ok && cpuFrom[ti].ok {
			ticks := cpuTo[ti].cpuTicks - cpuFrom[ti].cpuTicks
			sum["cpu_s"] = round(float64(ticks)/userHZ, 2)
			if first := cpuTo[0].cpuTicks - cpuFrom[0].cpuTicks; first > 0 {
				sum["cpu_ratio"] = round(float64(ticks)/float64(first), 2)
			}
		}
		if t.name != "" {
			sum["target"] = t.name
		}
		spread(sum, "last_ms", res[ti].last)
		spread(sum, "p50_ms", res[ti].p50)
		spread(sum, "p99_ms", res[ti].p99)
		if len(targets) > 1 {
			sum["ratio_to"] = targets[0].name
			spread(sum, "last_ratio", res[ti].ratio)
		}
		em.emit(sum)
		if len(res[ti].last) > 0 {
			fmt.Fprintf(stderr, "loadgen: %sfanout %d sockets: last client median %.1f ms (%.1f–%.1f), p99 median %.1f ms, %d missing",
				t.prefix(), o.sockets, median(res[ti].last), slices.Min(res[ti].last), slices.Max(res[ti].last), median(res[ti].p99), missing[ti])
			if len(targets) > 1 {
				fmt.Fprintf(stderr, ", %.2f× %s", median(res[ti].ratio), targets[0].name)
			}
			if r, ok := sum["cpu_ratio"]; ok {
				fmt.Fprintf(stderr, ", CPU %.2f s (%.2f× %s)", sum["cpu_s"], r, targets[0].name)
			}
			fmt.Fprintln(stderr)
		}
	}
	return nil
}

// spread adds name (the median), name_min and name_max.
func spread(m map[string]any, name string, xs []float64) {
	if len(xs) == 0 {
		return
	}
	m[name] = round(median(xs), 2)
	m[name+"_min"] = round(slices.Min(xs), 2)
	m[name+"_max"] = round(slices.Max(xs), 2)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// holdersOf is how many of the run's sockets hold topic i of g.
func holdersOf(g group, i, sockets int) int {
	lo, hi := i*g.Size, min((i+1)*g.Size, sockets)
	return max(0, hi-lo)
}

// sustain publishes Poisson streams, one per group at the group's rate to a
// random topic of the group, and measures delivery: hints/s, latency and
// whether every socket ends with the newest version of its topics.
func sustain(ctx context.Context, o *options, hs []*handle, pub *publisher, em *emitter, stderr io.Writer) error {
	if !hasRates(o.groups) {
		return fmt.Errorf("sustain: give the groups rates, e.g. --groups s:2000:10:3000")
	}
	start := time.Now()
	next := make([]time.Duration, len(o.groups))
	for i, g := range o.groups {
		next[i] = time.Duration(math.MaxInt64)
		if g.Rate > 0 {
			next[i] = expInterval(g.Rate)
		}
	}
	// Ticks: delivered hints per second, read while publishing.
	tickDone := make(chan struct{})
	var ticks []float64
	go func() {
		defer close(tickDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var prev int64
		for sec := 1; ; sec++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			rs, err := broadcast(ctx, hs, command{Cmd: "stats"}, "stats")
			if err != nil {
				return
			}
			var d int64
			for _, r := range rs {
				d += r.Delivered
			}
			ticks = append(ticks, float64(d-prev))
			em.emit(map[string]any{"type": "tick", "t_s": sec, "delivered_per_s": d - prev, "up": sumUp(rs)})
			prev = d
			if time.Since(start) >= o.duration {
				return
			}
		}
	}()
	var published, expected int64
	// Every version per topic, in order: what the workers' hints brought
	// news of is counted against it at the end.
	log := map[string][]int64{}
	for {
		el := time.Since(start)
		if el >= o.duration || ctx.Err() != nil {
			break
		}
		pub.mu.Lock()
		sent := false
		for i, g := range o.groups {
			for next[i] <= el {
				k := rand.IntN(g.Count)
				topic := topicName(o.run, g.Name, k)
				v, err := pub.send(topic)
				if err != nil {
					pub.mu.Unlock()
					return fmt.Errorf("publish: %w", err)
				}
				log[topic] = append(log[topic], v)
				published++
				expected += int64(holdersOf(g, k, o.sockets))
				next[i] += expInterval(g.Rate)
				sent = true
			}
		}
		if sent {
			if err := pub.flush(); err != nil {
				pub.mu.Unlock()
				return fmt.Errorf("publish: %w", err)
			}
		}
		pub.mu.Unlock()
		wake := slices.Min(next)
		if d := wake - time.Since(start); d > 0 {
			time.Sleep(min(d, 50*time.Millisecond))
		}
	}
	elapsed := time.Since(start)
	<-tickDone
	pub.drain(5 * time.Second)
	// Quiesce: let the last hints arrive.
	var rs []reply
	deadline := time.Now().Add(o.wait)
	for {
		var err error
		rs, err = broadcast(ctx, hs, command{Cmd: "stats"}, "stats")
		if err != nil {
			return err
		}
		var d int64
		for _, r := range rs {
			d += r.Delivered
		}
		if d >= expected || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	pub.mu.Lock()
	versions := make(map[string]int64, len(pub.last))
	for t, v := range pub.last {
		versions[t] = v
	}
	pub.mu.Unlock()
	fin, err := broadcast(ctx, hs, command{Cmd: "final", Versions: versions, Published: log}, "final")
	if err != nil {
		return err
	}
	var delivered, dup, zero, news int64
	lost := 0
	var h, stale sparse
	for i, r := range rs {
		delivered += r.Delivered
		dup += r.Dup
		zero += r.Zero
		if r.Hist != nil {
			h.merge(*r.Hist)
		}
		lost += fin[i].Lost
		news += fin[i].News
		if fin[i].NewsHist != nil {
			stale.merge(*fin[i].NewsHist)
		}
	}
	secs := elapsed.Seconds()
	sum := map[string]any{"type": "summary", "scenario": "sustain", "sockets": o.sockets, "nodes": len(o.urls),
		"procs": len(hs), "duration_s": round(secs, 2), "publishes": published,
		"publishes_per_s": round(float64(published)/secs, 1), "expected": expected, "delivered": delivered,
		"hints_per_s": round(float64(delivered)/secs, 0), "undelivered": expected - delivered, "lost_sockets": lost,
		"dup": dup, "zero": zero, "publish_errors": pub.errs.Load(),
		"p50_ms": round(h.quantile(0.5), 2), "p99_ms": round(h.quantile(0.99), 2), "p999_ms": round(h.quantile(0.999), 2),
		"max_ms": round(float64(h.MaxUS)/1000, 2), "up_after": sumUp(fin),
		// News: bumps whose news reached a holder, with or without
		// coalescing, and their staleness from publish to arrival.
		"news": news, "news_per_s": round(float64(news)/secs, 0),
		"stale_p50_ms": round(stale.quantile(0.5), 2), "stale_p99_ms": round(stale.quantile(0.99), 2),
		"stale_max_ms": round(float64(stale.MaxUS)/1000, 2)}
	if len(ticks) > 2 {
		// The first and last seconds are partial.
		sum["tick_median_per_s"] = round(median(ticks[1:len(ticks)-1]), 0)
	}
	em.emit(sum)
	fmt.Fprintf(stderr, "loadgen: sustain: %d publishes (%.0f/s), %d/%d hints delivered (%.0f/s), %d sockets behind at the end, p99 %.1f ms, max %.1f ms; news of %d/%d bumps (%.0f/s), staleness p99 %.1f ms\n",
		published, float64(published)/secs, delivered, expected, float64(delivered)/secs, lost, h.quantile(0.99), float64(h.MaxUS)/1000,
		news, expected, float64(news)/secs, stale.quantile(0.99))
	return nil
}

func sumUp(rs []reply) int {
	n := 0
	for _, r := range rs {
		n += r.Up
	}
	return n
}

// expInterval is an exponential inter-arrival time for a Poisson process of
// rate per second.
func expInterval(rate float64) time.Duration {
	return time.Duration(rand.ExpFloat64() / rate * float64(time.Second))
}

// idle holds the sockets and reports what they cost the server.
func idle(ctx context.Context, o *options, hs []*handle, before []procSample, beforeM map[string]float64, up int, em *emitter, stderr io.Writer) error {
	// Let connect-time garbage be collected and the heap settle.
	settle := 5 * time.Second
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(settle):
	}
	a := make([]procSample, len(o.serverPIDs))
	for i, pid := range o.serverPIDs {
		a[i] = sampleProc(pid)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(o.hold):
	}
	sum := map[string]any{"type": "summary", "scenario": "idle", "sockets": o.sockets, "up": up, "nodes": len(o.urls), "hold_s": o.hold.Seconds()}
	var rssBefore, rssAfter int64
	var cpu float64
	for i, pid := range o.serverPIDs {
		b := sampleProc(pid)
		rssAfter += b.rssKB
		if i < len(before) {
			rssBefore += before[i].rssKB
		}
		cpu += cpuPercent(a[i], b)
	}
	if len(o.serverPIDs) > 0 {
		sum["server_rss_before_kb"] = rssBefore
		sum["server_rss_kb"] = rssAfter
		sum["server_kb_per_socket"] = round(float64(rssAfter-rssBefore)/float64(up), 2)
		sum["server_idle_cpu_pct"] = round(cpu, 2)
	}
	m := scrapeAll(o.metrics)
	if g, ok := m["go_goroutines"]; ok {
		sum["goroutines_before"] = beforeM["go_goroutines"]
		sum["goroutines"] = g
		sum["goroutines_per_socket"] = round((g-beforeM["go_goroutines"])/float64(up), 3)
	}
	for _, k := range []string{"pushpoll_sockets", "floor_sockets"} {
		if v, ok := m[k]; ok {
			sum["server_sockets"] = v
		}
	}
	var lgRSS int64
	for _, h := range hs {
		lgRSS += sampleProc(h.pid).rssKB
	}
	sum["loadgen_rss_kb"] = lgRSS
	sum["loadgen_kb_per_socket"] = round(float64(lgRSS)/float64(up), 2)
	em.emit(sum)
	fmt.Fprintf(stderr, "loadgen: idle %d sockets: server %v KB/socket, %v goroutines/socket, %v%% CPU\n",
		up, sum["server_kb_per_socket"], sum["goroutines_per_socket"], sum["server_idle_cpu_pct"])
	return nil
}

// storm kills a node once every socket is up and times the way back.
func storm(ctx context.Context, o *options, hs []*handle, pub *publisher, em *emitter, stderr io.Writer) error {
	if o.killPID <= 0 {
		return fmt.Errorf("storm: --kill-pid is required")
	}
	if !o.reconnect {
		return fmt.Errorf("storm: needs --reconnect")
	}
	killAt := time.Now()
	if err := syscall.Kill(o.killPID, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %d: %w", o.killPID, err)
	}
	fmt.Fprintf(stderr, "loadgen: killed node pid %d\n", o.killPID)
	rs, err := broadcast(ctx, hs, command{Cmd: "await", WaitMS: (2 * o.wait).Milliseconds(), Drop: true}, "await")
	if err != nil {
		return err
	}
	var firstDown, lastUp, reconnects, dialErrs int64
	up := 0
	for _, r := range rs {
		if r.FirstDownUS > 0 && (firstDown == 0 || r.FirstDownUS < firstDown) {
			firstDown = r.FirstDownUS
		}
		lastUp = max(lastUp, r.LastUpUS)
		reconnects += r.Reconnects
		dialErrs += r.DialErrors
		up += r.Up
	}
	sum := map[string]any{"type": "summary", "scenario": "storm", "sockets": o.sockets, "up_after": up,
		"reconnects": reconnects, "dial_errors": dialErrs}
	if firstDown > 0 {
		sum["first_down_ms"] = round(float64(firstDown-killAt.UnixMicro())/1000, 1)
	}
	if up == o.sockets && firstDown > 0 {
		sum["back_s"] = round(float64(lastUp-killAt.UnixMicro())/1e6, 3)
	}
	// Every socket is subscribed again: prove it with one bump.
	time.Sleep(o.gap)
	line, _, err := bumpOnce(ctx, o, hs, pub, topicName(o.run, o.groups[0].Name, 0))
	if err != nil {
		return err
	}
	for _, k := range []string{"reached", "missing", "last_ms", "p99_ms"} {
		if v, ok := line[k]; ok {
			sum["bump_"+k] = v
		}
	}
	// Give the survivors a moment to reap what the storm left, then count.
	time.Sleep(2 * time.Second)
	m := scrapeAll(o.metrics)
	for k, name := range map[string]string{"go_goroutines": "survivor_goroutines", "pushpoll_sockets": "survivor_sockets", "floor_sockets": "survivor_sockets"} {
		if v, ok := m[k]; ok {
			sum[name] = v
		}
	}
	if v, ok := sum["survivor_sockets"].(float64); ok {
		sum["leaked_sessions"] = v - float64(up)
	}
	em.emit(sum)
	fmt.Fprintf(stderr, "loadgen: storm: %d/%d back in %v s (first drop seen after %v ms), bump reached %v, missing %v\n",
		up, o.sockets, sum["back_s"], sum["first_down_ms"], line["reached"], line["missing"])
	return nil
}
