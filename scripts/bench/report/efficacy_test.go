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
