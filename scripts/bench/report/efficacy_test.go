package main

import "testing"

// --only efficacy replaces the efficacy parts of an earlier report and keeps
// every other section, row and command.
func TestSpliceEfficacy(t *testing.T) {
	old := "# Benchmarks\n\n## Targets\n\n| target | measured | |\n|---|---|---|\n| fan-out | 1.1× | met |\n| efficacy old a | x | met |\n| efficacy old b | y | met |\n| idle | 30 KB | met |\n\n" +
		"## 4. Storm\n\nstorm text\n\n## 5. Efficacy: what the app sees\n\nold efficacy\n\n## Where the notifier spends fan-out CPU\n\nprofile\n\n" +
		"## Exact commands\n\n```\nloadgen fanout\nnode scripts/bench/efficacy/sim.mjs --old\nloadgen idle\n```\n"
	fresh := "# Benchmarks\n\n## Targets\n\n| target | measured | |\n|---|---|---|\n| efficacy new | z | met |\n\n" +
		"## 5. Efficacy: what the app sees\n\nnew efficacy\n\n## How it is measured\n\nmethod\n\n" +
		"## Exact commands\n\n```\nnode scripts/bench/efficacy/sim.mjs --new\n```\n"
	want := "# Benchmarks\n\n## Targets\n\n| target | measured | |\n|---|---|---|\n| fan-out | 1.1× | met |\n| efficacy new | z | met |\n| idle | 30 KB | met |\n\n" +
		"## 4. Storm\n\nstorm text\n\n## 5. Efficacy: what the app sees\n\nnew efficacy\n\n## Where the notifier spends fan-out CPU\n\nprofile\n\n" +
		"## Exact commands\n\n```\nloadgen fanout\nnode scripts/bench/efficacy/sim.mjs --new\nloadgen idle\n```\n"
	if got := spliceEfficacy(old, fresh); got != want {
		t.Fatalf("spliced:\n%s\nwant:\n%s", got, want)
	}
}

// A run where push polled above plain in any sliding window, or a tab polled
// twice in a second, misses its targets; one that did neither meets them.
func TestEfficacyTargetsCanFail(t *testing.T) {
	run := func(seconds, perSecond float64) effRun {
		over := map[string]any{"seconds": seconds, "excess": 10 * seconds, "ratio": 1.2}
		l := line{"type": "efficacy", "workload": "current", "fast": 5000.0, "safetyNetMs": 60000.0,
			"plain": map[string]any{"timeout": map[string]any{}, "interval": map[string]any{}},
			"push": map[string]any{"over": map[string]any{"timeout": over, "interval": over}, "worst_tab_per_1s": perSecond, "worst_tab_per_60s": 12.0,
				"staleness": map[string]any{"hinted": map[string]any{"n": 10.0, "p50": 600.0, "p99": 1400.0}}}}
		return parseRuns([]line{l})[0]
	}
	missed := func(e effRun) (n int) {
		for _, tg := range efficacyTargets(e) {
			if tg[2] != met(true) {
				n++
			}
		}
		return n
	}
	if n := missed(run(0, 1)); n != 0 {
		t.Fatalf("a run within every bound missed %d targets: %v", n, efficacyTargets(run(0, 1)))
	}
	if n := missed(run(5, 1)); n != 2 {
		t.Fatalf("5 s above plain missed %d targets, want 2 (one per baseline)", n)
	}
	if n := missed(run(0, 2)); n != 1 {
		t.Fatalf("two polls in a second missed %d targets, want 1", n)
	}
}

// Issue 18's first row fails on any workload above plain, and a workload
// without the settled measure is said to be unmeasured, never counted as 0.
func TestEffAboveNamesEveryWorkloadAbovePlain(t *testing.T) {
	run := func(w string, seconds float64, settled bool) effRun {
		over := map[string]any{"seconds": seconds, "excess": 10 * seconds}
		push := map[string]any{"over": map[string]any{"timeout": over, "interval": over}}
		if settled {
			push["over_settled"] = map[string]any{"timeout": map[string]any{}, "interval": map[string]any{}}
		}
		return parseRuns([]line{{"type": "efficacy", "workload": w, "plain": map[string]any{"timeout": map[string]any{}}, "push": push}})[0]
	}
	runs := effByWorkload([]effRun{run("current", 0, true), run("global", 3, false)})
	got, ok := effAbove(runs, "over")
	if ok || got != "global 3 (+30) / 3 (+30)" {
		t.Fatalf("over: %q, %v", got, ok)
	}
	got, ok = effAbove(runs, "over_settled")
	if ok || got != "0 in every workload measured (not measured: global)" {
		t.Fatalf("over_settled: %q, %v", got, ok)
	}
	if got, ok := effAbove(effByWorkload([]effRun{run("current", 0, true)}), "over"); !ok || got != "0 in every workload measured" {
		t.Fatalf("clean run: %q, %v", got, ok)
	}
}

// A report written without §5 gets it back after its last numbered section.
func TestSpliceEfficacyIntoAReportWithout(t *testing.T) {
	old := "# B\n\n## 1. Fan-out\n\na\n\n## 4. Storm\n\nb\n\n## Optimising\n\nc\n"
	fresh := "# B\n\n## 5. Efficacy: what the app sees\n\nnew\n\n## How it is measured\n\nm\n"
	want := "# B\n\n## 1. Fan-out\n\na\n\n## 4. Storm\n\nb\n\n## 5. Efficacy: what the app sees\n\nnew\n\n## Optimising\n\nc\n"
	if got := spliceEfficacy(old, fresh); got != want {
		t.Fatalf("spliced:\n%q\nwant:\n%q", got, want)
	}
}

// ... and its targets rows and commands, at the end of their blocks.
func TestSpliceEfficacyRowsAndCommandsIntoAReportWithout(t *testing.T) {
	old := "# B\n\n## Targets\n\n| target | m | |\n|---|---|---|\n| fan-out | 1× | met |\n\n## 1. F\n\na\n\n## Exact commands\n\n```\nnode scripts/bench/x.mjs\n```\n"
	fresh := "## Targets\n\n| efficacy, current | 1 | met |\n\n## 5. Efficacy: what the app sees\n\ne\n\n## Exact commands\n\n```\nnode scripts/bench/efficacy/sim.mjs --w current\n```\n"
	want := "# B\n\n## Targets\n\n| target | m | |\n|---|---|---|\n| fan-out | 1× | met |\n| efficacy, current | 1 | met |\n\n## 1. F\n\na\n\n## 5. Efficacy: what the app sees\n\ne\n\n## Exact commands\n\n```\nnode scripts/bench/x.mjs\nnode scripts/bench/efficacy/sim.mjs --w current\n```\n"
	if got := spliceEfficacy(old, fresh); got != want {
		t.Fatalf("spliced:\n%q\nwant:\n%q", got, want)
	}
}
