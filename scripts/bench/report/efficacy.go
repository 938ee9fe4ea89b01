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
func (e effRun) staleness(class string) line {
	st, _ := e.push["staleness"].(map[string]any)
	c, _ := st[class].(map[string]any)
	return c
}

func sub(l line, k string) line { m, _ := l[k].(map[string]any); return m }

// beforeFile holds the figures of the shim and node before issue 9 (the shim
// of commit abe87aa, no hint throttle at the node), measured once by the
// command in beforeCommand and kept: the code that made them is gone.
const (
	beforeFile    = "scripts/bench/efficacy/before.jsonl"
	beforeCommand = "git show abe87aa:client-js/src/pushpoll.js > client-js/src/old.js && node scripts/bench/efficacy/sim.mjs --shim client-js/src/old.js --node-throttle-ms 0 --label before"
)

func parseRuns(ls []line) []effRun {
	var out []effRun
	for _, l := range ls {
		if l.s("type") == "efficacy" && l.has("push") {
			out = append(out, effRun{line: l, plain: sub(l, "plain"), push: sub(l, "push")})
		}
	}
	return out
}

// efficacyRuns reads every efficacy-*.jsonl, in workload order as the simulator
// lists them, default shim options first.
func (r *report) efficacyRuns() []effRun {
	ms, _ := filepath.Glob(filepath.Join(r.in, "efficacy-*.jsonl"))
	sort.Strings(ms)
	var out []effRun
	for _, m := range ms {
		out = append(out, parseRuns(readLines(m))...)
	}
	rank := map[string]int{"current": 0, "tracker": 1, "hot": 2}
	sort.SliceStable(out, func(a, b int) bool {
		wa, wb := rank[out[a].s("workload")], rank[out[b].s("workload")]
		if wa != wb {
			return wa < wb
		}
		return out[a].variant() == "default" && out[b].variant() != "default"
	})
	return out
}

// hintedLimit is the design's bound on hinted staleness p99: jitter + the
// fan-out p99 + 100 ms.
func hintedLimit(e effRun) float64 { return e.f("jitter") + e.f("fanout_p99_ms") + 100 }

// efficacyTargets are the design's targets for one run, each with its verdict.
func efficacyTargets(e effRun) [][3]string {
	var t [][3]string
	add := func(target, measured string, ok bool) { t = append(t, [3]string{target, measured, met(ok)}) }
	add("peak 1 s window ≤ plain polling's", fmt.Sprintf("%s vs %s", ms(e.push.f("peak")), ms(e.plain.f("peak"))), e.push.f("peak") <= e.plain.f("peak"))
	if e.s("workload") == "tracker" {
		want := 10.0
		if e.variant() != "default" {
			want = 20
		}
		add(fmt.Sprintf("≥ %.0f× fewer mean polls than %s s polling", want, ms(e.f("fast")/1000)), fmt.Sprintf("%.1f×", e.f("reduction")), e.f("reduction") >= want)
	}
	h := e.staleness("hinted")
	add(fmt.Sprintf("hinted staleness p99 ≤ jitter + fan-out p99 + 100 ms (%s ms)", ms(hintedLimit(e))), ms(h.f("p99"))+" ms", h.has("p99") && h.f("p99") <= hintedLimit(e))
	if l := e.staleness("lost"); l.f("n") > 0 {
		add(fmt.Sprintf("lost-hint staleness ≤ the safety net in force (%s s)", ms(e.f("safetyNetMs")/1000)), fmt.Sprintf("max %s ms", ms(l.f("max"))), l.f("max") <= e.f("safetyNetMs"))
	}
	add(fmt.Sprintf("no tab polls more than plain polling in any 60 s (%s)", ms(60000/e.f("fast"))), ms(e.push.f("worst_tab_polls_per_60s")), e.push.f("worst_tab_polls_per_60s") <= 60000/e.f("fast"))
	return t
}

func triple(l line) string {
	if l.f("n") == 0 {
		return "–"
	}
	return fmt.Sprintf("%s / %s / %s", ms(l.f("p50")), ms(l.f("p99")), ms(l.f("max")))
}

func (r *report) efficacy() {
	runs := r.efficacyRuns()
	if len(runs) == 0 {
		return
	}
	e0 := runs[0]
	r.p("## 5. Efficacy: what the app sees\n\n")
	r.p("`scripts/bench/efficacy/sim.mjs` runs the real shim (`client-js/src/pushpoll.js`, unmodified) in every tab of a workload on a ")
	r.p("simulated clock, against a simulated notifier node and a stub app that counts polls, and compares it with plain polling: the ")
	r.p("app's own `setInterval(poll, fast)` in the same tabs. The shim meets what a browser does to it: timers clamped and ")
	r.p("throttled as Chromium does (whole-second wake-ups in hidden tabs, whole minutes after 5 minutes hidden), tabs hidden ")
	r.p("%.0f %% of the time (visible spells of %s s on average), tabs closed after %s s on average and reopened, each hint lost with ",
		100*e0.f("hiddenShare"), ms(e0.f("visibleMeanMs")/1000), ms(e0.f("tabLifeMs")/1000))
	r.p("probability %g, hints delayed by the fan-out latency measured in §1 for that many holders plus %s–%s ms of network, ",
		e0.f("loss"), ms(e0.f("netMs")), ms(e0.f("netMs")+e0.f("netSpreadMs")))
	r.p("the node's hint throttle (%s ms), and the notifier down for %s s from %s s, with every socket coming back on socket.io's own ",
		ms(e0.f("nodeThrottleMs")), ms(e0.f("outageMs")/1000), ms(e0.f("outageAtMs")/1000))
	r.p("reconnect backoff. fast %s s, slow %s s, jitter %s ms; %s s simulated, the first %s s left out.\n\n",
		ms(e0.f("fast")/1000), ms(e0.f("slow")/1000), ms(e0.f("jitter")), ms(e0.f("durationMs")/1000), ms(e0.f("warmMs")/1000))
	r.p("*Polls/s* are the app's polls in 1 s windows: the mean outside the outage (and during it, counting 30 s of reconnecting), ")
	r.p("the p99 and the peak window. *Staleness* (ms, p50 / p99 / max) runs from a bump to the poll answer that brought it to a tab: ")
	r.p("*hinted* for visible tabs whose hint was sent, *lost* for those whose hint was lost, *down* for tabs without push at the ")
	r.p("bump (outage, reconnecting), *hidden* for tabs hidden at some point before their poll (the shim waits for them to be seen). ")
	r.p("*Worst tab* is the most polls one tab sent in any 60 s (plain polling: 60 s ÷ fast).\n\n")

	r.effTable(runs)
	r.p("\nWorkloads:\n\n")
	seen := map[string]bool{}
	for _, e := range runs {
		if w := e.s("workload"); !seen[w] {
			seen[w] = true
			r.p("- **%s**: %s.\n", w, e.s("about"))
		}
	}
	r.p("\nTargets (reported, not asserted):\n\n| workload | shim | target | measured | |\n|---|---|---|---|---|\n")
	for _, e := range runs {
		for _, t := range efficacyTargets(e) {
			r.p("| %s | %s | %s | %s | %s |\n", e.s("workload"), e.variant(), t[0], t[1], t[2])
		}
	}
	r.p("\n")
	for _, w := range []string{"current", "tracker", "hot"} {
		if seen[w] && r.efficacyPlot(w, runs) {
			r.p("![app polls per second, %s](docs/bench/efficacy-%s.png)\n\n", w, w)
		}
	}
	r.effCompare(runs)
}

func (r *report) effTable(runs []effRun) {
	r.p("| workload | shim | polls/s mean (outage) | p99 | peak | ÷ plain mean | staleness hinted | lost | down | hidden | worst tab /60 s |\n")
	r.p("|---|---|---|---|---|---|---|---|---|---|---|\n")
	last := ""
	for _, e := range runs {
		if w := e.s("workload"); w != last {
			last = w
			r.p("| **%s** | plain polling at %s s | %.1f | %s | %s | 1× | %s | | | | %s |\n", w, ms(e.f("fast")/1000), e.plain.f("mean"),
				ms(e.plain.f("p99")), ms(e.plain.f("peak")), triple(sub(e.plain, "staleness")), ms(60000/e.f("fast")))
		}
		r.p("| | pushpoll, %s | %.1f (%.1f) | %s | %s | %.1f× | %s | %s | %s | %s | %s |\n", e.variant(), e.push.f("mean"), e.push.f("mean_outage"),
			ms(e.push.f("p99")), ms(e.push.f("peak")), e.f("reduction"), triple(e.staleness("hinted")), triple(e.staleness("lost")),
			triple(e.staleness("down")), triple(e.staleness("hidden")), ms(e.push.f("worst_tab_polls_per_60s")))
	}
}

// effCompare sets the figures from before issue 9 beside today's, per workload.
func (r *report) effCompare(runs []effRun) {
	before := parseRuns(readLines(beforeFile))
	// Kept figures only compare with a run of the same length (not --quick).
	if len(before) == 0 || before[0].f("durationMs") != runs[0].f("durationMs") {
		return
	}
	r.p("### Before and after\n\n")
	r.p("*Before*: the shim and node as they were before they learnt to throttle hints, de-phase the safety net and clamp intervals ")
	r.p("(same simulation and workloads; `%s`). ", beforeCommand)
	r.p("Mean, p99 and peak are app polls/s in 1 s windows; staleness in ms.\n\n")
	r.p("| workload | | polls/s mean | p99 | peak | ÷ plain mean | hinted p50 / p99 / max | lost p50 / p99 / max | worst tab /60 s |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, w := range []string{"current", "tracker", "hot"} {
		var rows []effRun
		for _, e := range append(append([]effRun(nil), before...), runs...) {
			if e.s("workload") == w {
				rows = append(rows, e)
			}
		}
		if len(rows) == 0 {
			continue
		}
		e := rows[0]
		r.p("| **%s** | plain polling | %.1f | %s | %s | 1× | %s | | %s |\n", w, e.plain.f("mean"), ms(e.plain.f("p99")), ms(e.plain.f("peak")),
			triple(sub(e.plain, "staleness")), ms(60000/e.f("fast")))
		for _, e := range rows {
			r.p("| | %s | %.1f | %s | %s | %.1f× | %s | %s | %s |\n", e.variant(), e.push.f("mean"), ms(e.push.f("p99")), ms(e.push.f("peak")),
				e.f("reduction"), triple(e.staleness("hinted")), triple(e.staleness("lost")), ms(e.push.f("worst_tab_polls_per_60s")))
		}
	}
	r.p("\n")
}

// efficacyPlot draws one workload's polls per second: plain polling and
// every shim variant.
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
			plots = append(plots, fmt.Sprintf("%q u 1:($2+0.5) w l lw 2 t \"plain polling at %s s\"", series, ms(e.f("fast")/1000)))
		}
		plots = append(plots, fmt.Sprintf("%q u 1:($3+0.5) w l t \"pushpoll, %s\"", series, e.variant()))
	}
	png := filepath.Join(r.plots, "efficacy-"+workload+".png")
	script := fmt.Sprintf(`set terminal pngcairo size 900,480 noenhanced
set output %q
set title "App polls per second, %s workload (notifier down from %s s to %s s)"
set xlabel "simulated time, s (after the warm-up)"
set xrange [%s:*]
set ylabel "polls/s (log)"
set logscale y
set grid
set key bottom right
plot %s
`, png, workload, ms(e.f("outageAtMs")/1000), ms((e.f("outageAtMs")+e.f("outageMs"))/1000), ms(e.f("warmMs")/1000), strings.Join(plots, ", "))
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
	sec := section(fresh, effHeading)
	if cur := section(out, effHeading); cur != "" {
		return strings.Replace(out, cur, sec, 1)
	}
	// No efficacy section yet: it goes before the next numbered one's
	// successor, or at the end.
	if i := strings.Index(out, "\n## Where"); i >= 0 {
		return out[:i+1] + sec + out[i+1:]
	}
	return out + "\n" + sec
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
