package main

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// effRun is one line of scripts/bench/efficacy/sim.mjs: one workload, one shim
// configuration (its label), with plain polling's figures beside pushpoll's.
type effRun struct {
	line
	plain, push line
}

func (e effRun) variant() string {
	if l := e.s("label"); l != "" {
		return l
	}
	return "default"
}

// staleness returns one class of the push run's staleness ("hinted", "lost", …).
func (e effRun) staleness(class string) line { return sub(sub(e.push, "staleness"), class) }

// base is one plain-polling baseline: "timeout" (chained setTimeout) or
// "interval" (setInterval, throttled as Chrome throttles hidden tabs).
func (e effRun) base(kind string) line { return sub(e.plain, kind) }

// over is push against one baseline, window by window.
func (e effRun) over(kind string) line { return sub(sub(e.push, "over"), kind) }

func sub(l line, k string) line { m, _ := l[k].(map[string]any); return m }

// beforeFile holds the figures of the shim and node as they were before issue
// 18 (main at commit beforeCommit), measured once by the round-two benchmark
// with beforeCommand and kept: BENCHMARKS.md sets them beside every rerun.
const (
	beforeFile    = "scripts/bench/efficacy/before.jsonl"
	beforeCommand = "scripts/bench/efficacy/before.sh"
)

// effBaselines names the two baselines as the tables show them.
var effBaselines = []struct{ kind, name string }{
	{"timeout", "plain, chained setTimeout"},
	{"interval", "plain, setInterval (Chrome-throttled)"},
}

// effOrder is the order workloads are shown in.
var effOrder = []string{"current", "tracker", "hot", "global", "flood", "tracker-redis", "tracker-flip", "tracker-drain", "tracker-stall"}

func parseRuns(ls []line) []effRun {
	var out []effRun
	for _, l := range ls {
		if l.s("type") == "efficacy" && l.has("push") && sub(l, "plain").has("timeout") {
			out = append(out, effRun{line: l, plain: sub(l, "plain"), push: sub(l, "push")})
		}
	}
	return out
}

func effRank(w string) int {
	for i, n := range effOrder {
		if n == w {
			return i
		}
	}
	return len(effOrder)
}

// efficacyRuns reads every efficacy-*.jsonl, in workload order, default shim
// options first.
func (r *report) efficacyRuns() []effRun {
	ms, _ := filepath.Glob(filepath.Join(r.in, "efficacy-*.jsonl"))
	sort.Strings(ms)
	var out []effRun
	for _, m := range ms {
		out = append(out, parseRuns(readLines(m))...)
	}
	sortRuns(out)
	return out
}

func sortRuns(out []effRun) {
	sort.SliceStable(out, func(a, b int) bool {
		wa, wb := effRank(out[a].s("workload")), effRank(out[b].s("workload"))
		if wa != wb {
			return wa < wb
		}
		return out[a].variant() == "default" && out[b].variant() != "default"
	})
}

// reduction is plain polling's mean over pushpoll's (chained setTimeout),
// outside the server event when there was one: what the first round reported.
func reduction(e effRun) float64 {
	base, push := e.base("timeout"), e.push
	if push.has("mean_outside") && push.f("mean_outside") > 0 {
		return base.f("mean_outside") / push.f("mean_outside")
	}
	return e.f("reduction")
}

// heartbeat is the shim's silence watchdog: the ping interval + 10 s.
func heartbeat(e effRun) float64 { return e.f("pingMs") + 10000 }

// efficacyTargets are issue 18's targets for one run, each with its verdict.
func efficacyTargets(e effRun) [][3]string {
	var t [][3]string
	add := func(target, measured string, ok bool) { t = append(t, [3]string{target, measured, met(ok)}) }
	w := e.s("workload")
	for _, b := range effBaselines {
		o := e.over(b.kind)
		add(fmt.Sprintf("no sliding 1 s window above %s", b.name), fmt.Sprintf("%s s above (+%s polls), peak %.2f×", ms(o.f("seconds")), ms(o.f("excess")), o.f("ratio")),
			o.f("seconds") == 0)
	}
	if w == "tracker" {
		want := 10.0
		if e.variant() != "default" {
			want = 20
		}
		red := reduction(e)
		add(fmt.Sprintf("≥ %.0f× fewer polls than chained setTimeout, outside the server event", want), fmt.Sprintf("%.1f×", red), red >= want)
	}
	h := e.staleness("hinted")
	switch w {
	case "tracker":
		add("hinted staleness p99 ≤ 2000 ms, p50 ≤ 800 ms", fmt.Sprintf("%s / %s ms", ms(h.f("p99")), ms(h.f("p50"))), h.has("p99") && h.f("p99") <= 2000 && h.f("p50") <= 800)
	case "current":
		add("hinted staleness p99 ≤ 1500 ms", ms(h.f("p99"))+" ms", h.has("p99") && h.f("p99") <= 1500)
	case "tracker-stall":
		d := e.staleness("down")
		lim := heartbeat(e) + e.f("fast")
		add(fmt.Sprintf("staleness while the node stalled p99 ≤ heartbeat + fast (%s s)", ms(lim/1000)), ms(d.f("p99"))+" ms", d.has("p99") && d.f("p99") <= lim)
	}
	if w == "global" {
		ratio := max(e.over("timeout").f("ratio"), e.over("interval").f("ratio"))
		add("sliding peak ≤ 1.0× plain's, either baseline", fmt.Sprintf("%.2f×", ratio), ratio <= 1)
	}
	if w == "hot" {
		// Proposal (b): a page hinted more often than once a period pays a burst back
		// within its rolling minute, so one hint may wait about two periods; the max counts
		// from the bump, so it also holds the node's hint throttle.
		f, th := e.f("fast"), e.f("nodeThrottleMs")
		add(fmt.Sprintf("proposal (b): hinted staleness p99 ≤ 1.5·fast (%s ms), max ≤ 2·fast + the hint throttle (%s ms)", ms(1.5*f), ms(2*f+th)),
			fmt.Sprintf("%s / %s ms", ms(h.f("p99")), ms(h.f("max"))), h.has("p99") && h.f("p99") <= 1.5*f && h.f("max") <= 2*f+th)
	}
	if l := e.staleness("lost"); l.f("n") > 0 {
		add(fmt.Sprintf("lost-hint staleness ≤ the safety net in force (%s s)", ms(e.f("safetyNetMs")/1000)), fmt.Sprintf("max %s ms", ms(l.f("max"))), l.f("max") <= e.f("safetyNetMs"))
	}
	add(fmt.Sprintf("per tab ≤ 1 poll in any 1 s, ≤ %s in any 60 s", ms(60000/e.f("fast"))),
		fmt.Sprintf("%s / %s", ms(e.push.f("worst_tab_per_1s")), ms(e.push.f("worst_tab_per_60s"))),
		e.push.f("worst_tab_per_1s") <= 1 && e.push.f("worst_tab_per_60s") <= 60000/e.f("fast"))
	return t
}

func triple(l line) string {
	if l.f("n") == 0 {
		return "–"
	}
	out := fmt.Sprintf("%s / %s / %s", ms(l.f("p50")), ms(l.f("p99")), ms(l.f("max")))
	if l.f("pending") > 0 {
		out += fmt.Sprintf(" (%s open)", ms(l.f("pending")))
	}
	return out
}

func (r *report) efficacy() {
	runs := r.efficacyRuns()
	if len(runs) == 0 {
		return
	}
	e0 := runs[0]
	r.p("## 5. Efficacy: what the app sees\n\n")
	r.p("`scripts/bench/efficacy/sim.mjs` runs the real shim (`client-js/src/pushpoll.js`, unmodified, through its public API) in every tab of a ")
	r.p("workload on a simulated clock, against simulated notifier nodes behind a balancer and a stub app that counts polls, and compares it ")
	r.p("with two plain-polling apps in the same tabs, with the same lifetimes and visibility: one that chains `setTimeout(poll, fast)` after ")
	r.p("each answer (never throttled to minutes), and one on `setInterval(poll, fast)` as Chrome runs it in hidden tabs (whole-second ")
	r.p("wake-ups, once a minute after 5 minutes hidden). The shim meets what a browser does to it: timers clamped and throttled as ")
	r.p("Chromium does, each browser with its own wake-up phase; tabs hidden %.0f %% of the time (visible spells of %s s on average), ",
		100*e0.f("hiddenShare"), ms(e0.f("visibleMeanMs")/1000))
	r.p("closed after %s s on average and reopened; each hint lost with probability %g, and every hint to a socket gone half-open ",
		ms(e0.f("tabLifeMs")/1000), e0.f("loss"))
	r.p("(%g per connection-hour) until socket.io's ping timeout closes it; a topic's holders spread over the workload's nodes, each ",
		e0.f("halfOpenPerHour"))
	r.p("with its own fan-out speed (0.75–1.5× the latency measured in §1 for that many holders) and hint throttle (%s ms), ", ms(e0.f("nodeThrottleMs")))
	r.p("and the spread window the node computes (`scripts/bench/efficacy/spread.mjs`, factor %g, which must match `notifier/spread.go`); ", e0.f("spreadFactor"))
	r.p("%s–%s ms of network each way; fast %s s, slow %s s, jitter %s ms. Nothing is warmed up: the opening herd (every tab loading within ",
		ms(e0.f("netMs")), ms(e0.f("netMs")+e0.f("netSpreadMs")), ms(e0.f("fast")/1000), ms(e0.f("slow")/1000), ms(e0.f("jitter")))
	r.p("one `fast`) counts. `scripts/bench/run --only efficacy` reruns this section (`scripts/bench/efficacy/run.sh`, the commands under ")
	r.p("*Exact commands*); the simulation and its measures are described in `scripts/bench/efficacy/README.md`.\n\n")
	r.p("*Polls/s*: mean over the run (and during the server event), p99 and peak of 1 s windows sliding by 10 ms, and the peak of aligned ")
	r.p("seconds. *Above plain*: the seconds holding the start of a sliding window in which pushpoll polled more than that baseline in the same ")
	r.p("window, with the sum of each second's largest surplus. *Worst tab*: most polls one tab made in any 1 s and any 60 s. ")
	r.p("*Staleness* (ms, p50 / p99 / max) runs from a bump to the poll answer that brought it to a tab; a bump still unfetched when its tab ")
	r.p("closed or the run ended counts until then (\"open\"). *Hinted*: visible tabs whose hint was sent, split into *delayed* (the poll ")
	r.p("started more than `jitter` after the hint arrived: the budget or the spread held it) and *not delayed*; *lost*: the hint was lost ")
	r.p("(i.i.d. or half-open); *down*: push was down for the tab at the bump (not connected, mode poll, Redis down, node stalled); *hidden*: ")
	r.p("the tab was hidden at some point before its poll.\n\n")
	if before := parseRuns(readLines(beforeFile)); len(before) > 0 && sameRuns(before, runs) {
		r.p("These are the **before** figures: the shim and node as they were before issue 18 (`client-js/src/pushpoll.js` of ")
		r.p("commit 23b7623), kept in `%s` (`%s` measures them again). A rerun after the issue's changes sets them ", beforeFile, beforeCommand)
		r.p("beside the new figures under *Before and after*.\n\n")
	}
	r.effTable(runs)
	r.effStaleTable(runs)
	r.p("Workloads and events:\n\n")
	seen := map[string]bool{}
	for _, e := range runs {
		if w := e.s("workload"); !seen[w] {
			seen[w] = true
			sampled := ""
			if e.f("sample") < 1 {
				sampled = fmt.Sprintf(" (%s of them simulated, counts scaled by %g)", ms(e.f("tabs_simulated")), e.f("scale"))
			}
			event := "no server event"
			if e.s("event") != "none" && e.f("eventMs") > 0 {
				event = fmt.Sprintf("from %s s for %s s, %s: %s", ms(e.f("eventAtMs")/1000), ms(e.f("eventMs")/1000), e.s("event"), e.s("event_about"))
			}
			r.p("- **%s**%s: %s; %s nodes; %s s simulated; %s.\n", w, sampled, e.s("about"), ms(e.f("nodes")), ms(e.f("durationMs")/1000), event)
		}
	}
	r.p("\nTargets (issue 18; reported, not asserted):\n\n| workload | shim | target | measured | |\n|---|---|---|---|---|\n")
	for _, e := range runs {
		for _, t := range efficacyTargets(e) {
			r.p("| %s | %s | %s | %s | %s |\n", e.s("workload"), e.variant(), t[0], t[1], t[2])
		}
	}
	r.p("\n")
	r.effIssue18(runs)
	for _, w := range effOrder {
		if seen[w] && r.efficacyPlot(w, runs) {
			r.p("![app polls per second, %s](docs/bench/efficacy-%s.png)\n\n", w, w)
		}
	}
	r.effCompare(runs)
}

func (r *report) effTable(runs []effRun) {
	r.p("| workload | | polls/s mean (event) | p99 | sliding peak | aligned peak | ÷ setTimeout mean (outside the event) | above setTimeout: s (+polls) | above setInterval: s (+polls) | worst tab /1 s, /60 s |\n")
	r.p("|---|---|---|---|---|---|---|---|---|---|\n")
	last := ""
	for _, e := range runs {
		if w := e.s("workload"); w != last {
			last = w
			for i, b := range effBaselines {
				l := e.base(b.kind)
				name := ""
				if i == 0 {
					name = "**" + w + "**"
				}
				r.p("| %s | %s | %s | %s | %s | %s | %.1f× | | | %s, %s |\n", name, b.name, meanEvent(l), ms(l.f("p99")), ms(l.f("peak")),
					ms(l.f("peak_aligned")), e.base("timeout").f("mean")/l.f("mean"), ms(l.f("worst_tab_per_1s")), ms(l.f("worst_tab_per_60s")))
			}
		}
		ot, oi := e.over("timeout"), e.over("interval")
		r.p("| | pushpoll, %s | %s | %s | %s | %s | %.1f× (%.1f×) | %s (+%s) | %s (+%s) | %s, %s |\n", e.variant(), meanEvent(e.push),
			ms(e.push.f("p99")), ms(e.push.f("peak")), ms(e.push.f("peak_aligned")), e.f("reduction"), reduction(e), ms(ot.f("seconds")), ms(ot.f("excess")),
			ms(oi.f("seconds")), ms(oi.f("excess")), ms(e.push.f("worst_tab_per_1s")), ms(e.push.f("worst_tab_per_60s")))
	}
	r.p("\n")
}

// meanEvent is a side's mean polls/s, with the mean during the server event
// when there was one.
func meanEvent(l line) string {
	if !l.has("mean_event") {
		return fmt.Sprintf("%.1f", l.f("mean"))
	}
	return fmt.Sprintf("%.1f (%.1f)", l.f("mean"), l.f("mean_event"))
}

func (r *report) effStaleTable(runs []effRun) {
	r.p("Staleness, ms (p50 / p99 / max):\n\n")
	r.p("| workload | shim | plain, setTimeout | plain, setInterval | hinted | hinted, delayed (n) | hinted, not delayed (n) | lost | down | hidden |\n")
	r.p("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, e := range runs {
		d, nd := e.staleness("hinted_delayed"), e.staleness("hinted_prompt")
		r.p("| %s | %s | %s | %s | %s | %s (%s) | %s (%s) | %s | %s | %s |\n", e.s("workload"), e.variant(), triple(sub(e.base("timeout"), "staleness")),
			triple(sub(e.base("interval"), "staleness")), triple(e.staleness("hinted")), triple(d), ms(d.f("n")), triple(nd), ms(nd.f("n")),
			triple(e.staleness("lost")), triple(e.staleness("down")), triple(e.staleness("hidden")))
	}
	r.p("\n")
}

// effCompare sets the figures from before issue 18 beside today's, per workload.
func (r *report) effCompare(runs []effRun) {
	before := parseRuns(readLines(beforeFile))
	if len(before) == 0 || sameRuns(before, runs) {
		return
	}
	for i := range before {
		before[i].line["label"] = "before"
	}
	r.p("### Before and after\n\n")
	r.p("*Before*: the shim and node before issue 18 (same benchmark; `%s`). Polls/s in sliding 1 s windows; staleness in ms.\n\n", beforeCommand)
	r.p("| workload | | polls/s mean | sliding peak | above setTimeout: s (+polls) | above setInterval: s (+polls) | hinted p50 / p99 / max | lost p50 / p99 / max | worst tab /1 s, /60 s |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, w := range effOrder {
		var rows []effRun
		for _, e := range append(append([]effRun(nil), before...), runs...) {
			if e.s("workload") == w {
				rows = append(rows, e)
			}
		}
		if len(rows) < 2 {
			continue
		}
		for i, e := range rows {
			name := ""
			if i == 0 {
				name = "**" + w + "**"
			}
			ot, oi := e.over("timeout"), e.over("interval")
			r.p("| %s | %s | %.1f | %s vs %s | %s (+%s) | %s (+%s) | %s | %s | %s, %s |\n", name, e.variant(), e.push.f("mean"), ms(e.push.f("peak")),
				ms(e.base("timeout").f("peak")), ms(ot.f("seconds")), ms(ot.f("excess")), ms(oi.f("seconds")), ms(oi.f("excess")),
				triple(e.staleness("hinted")), triple(e.staleness("lost")), ms(e.push.f("worst_tab_per_1s")), ms(e.push.f("worst_tab_per_60s")))
		}
	}
	r.p("\n")
}

// sameRuns says whether runs are the measurement kept as before (the report
// written from it has nothing to compare).
func sameRuns(before, runs []effRun) bool {
	if len(before) != len(runs) {
		return false
	}
	sortRuns(before)
	for i := range before {
		b, r := before[i], runs[i]
		if b.s("workload") != r.s("workload") || b.push.f("mean") != r.push.f("mean") || b.push.f("peak") != r.push.f("peak") {
			return false
		}
	}
	return true
}

// efficacyPlot draws one workload's largest sliding 1 s window per second:
// both baselines and every shim variant.
func (r *report) efficacyPlot(workload string, runs []effRun) bool {
	var plots []string
	var e effRun
	for _, run := range runs {
		if run.s("workload") != workload {
			continue
		}
		e = run
		name := "efficacy-" + workload
		if e.s("label") != "" {
			name += "-" + e.s("label")
		}
		series := filepath.Join(r.in, name+".series")
		if len(plots) == 0 {
			plots = append(plots, fmt.Sprintf("%q u 1:($5+0.5) w l lw 2 t \"plain, chained setTimeout\"", series),
				fmt.Sprintf("%q u 1:($6+0.5) w l lw 2 t \"plain, setInterval (throttled)\"", series))
		}
		plots = append(plots, fmt.Sprintf("%q u 1:($7+0.5) w l t \"pushpoll, %s\"", series, e.variant()))
	}
	png := filepath.Join(r.plots, "efficacy-"+workload+".png")
	event := "no server event"
	if e.s("event") != "none" && e.f("eventMs") > 0 {
		event = fmt.Sprintf("%s from %s s", e.s("event"), ms(e.f("eventAtMs")/1000))
	}
	script := fmt.Sprintf(`set terminal pngcairo size 900,480 noenhanced
set output %q
set title "App polls in the busiest sliding 1 s window of each second, %s (%s)"
set xlabel "simulated time, s"
set ylabel "polls/s (log)"
set logscale y
set grid
set key bottom right
plot %s
`, png, workload, event, strings.Join(plots, ", "))
	return r.gnuplot(script)
}

const effHeading = "## 5. Efficacy"

// spliceEfficacy puts fresh's efficacy parts (its section, its rows of the
// targets table, its commands) into old, a whole report from an earlier run,
// and keeps everything else of old: `scripts/bench/run --only efficacy` on a
// machine without the other scenarios' raw results.
func spliceEfficacy(old, fresh string) string {
	out := replaceLines(old, fresh, "| efficacy")
	out = replaceLines(out, fresh, "node scripts/bench/efficacy/")
	// A report written without them: the rows end the targets table, the
	// commands end the commands block.
	out = appendLines(out, fresh, "| efficacy", "## Targets", "|")
	out = appendLines(out, fresh, "node scripts/bench/efficacy/", "## Exact commands", "node ", "loadgen ")
	sec := section(fresh, effHeading)
	if cur := section(out, effHeading); cur != "" {
		return strings.Replace(out, cur, sec, 1)
	}
	// No efficacy section yet (a report written without it): it goes after
	// the last numbered section, or at the end.
	if i := afterNumbered(out); i >= 0 {
		return out[:i] + sec + out[i:]
	}
	return out + "\n" + sec
}

// afterNumbered is where the section after the last numbered one ("## 4.")
// starts, or -1.
func afterNumbered(md string) int {
	last := -1
	for i := 0; ; {
		j := strings.Index(md[i:], "\n## ")
		if j < 0 {
			break
		}
		at := i + j + 1
		if len(md) > at+3 && md[at+3] >= '0' && md[at+3] <= '9' {
			last = at
		}
		i = at
	}
	if last < 0 {
		return -1
	}
	if j := strings.Index(md[last+3:], "\n## "); j >= 0 {
		return last + 3 + j + 1
	}
	return -1
}

// section returns the text from heading up to the next "## " heading.
func section(md, heading string) string {
	i := strings.Index(md, heading)
	if i < 0 {
		return ""
	}
	j := strings.Index(md[i+len(heading):], "\n## ")
	if j < 0 {
		return md[i:]
	}
	return md[i : i+len(heading)+j+1]
}

// replaceLines swaps old's run of lines starting with prefix for fresh's (at
// the place of old's first one; after the last line of the block they
// belong to when old has none, which is left to a full run).
func replaceLines(old, fresh, prefix string) string {
	var repl []string
	for _, l := range strings.Split(fresh, "\n") {
		if strings.HasPrefix(l, prefix) {
			repl = append(repl, l)
		}
	}
	var out []string
	done := false
	for _, l := range strings.Split(old, "\n") {
		if strings.HasPrefix(l, prefix) {
			if !done {
				out = append(out, repl...)
				done = true
			}
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// appendLines puts fresh's lines starting with prefix after the last line
// starting with one of after in old's section under heading, when old has
// none.
func appendLines(old, fresh, prefix, heading string, after ...string) string {
	lines := strings.Split(old, "\n")
	var add []string
	for _, l := range strings.Split(fresh, "\n") {
		if strings.HasPrefix(l, prefix) {
			add = append(add, l)
		}
	}
	in, last := false, -1
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return old
		}
		if strings.HasPrefix(l, "## ") {
			in = l == heading
		}
		for _, a := range after {
			if in && strings.HasPrefix(l, a) {
				last = i
			}
		}
	}
	if len(add) == 0 || last < 0 {
		return old
	}
	return strings.Join(append(append(append([]string(nil), lines[:last+1]...), add...), lines[last+1:]...), "\n")
}
