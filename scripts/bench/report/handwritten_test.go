package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A section written by hand into BENCHMARKS.md alone is lost at the next
// full benchmark run, which writes the file anew from raw results and the
// files under scripts/bench: each of those must be in BENCHMARKS.md as it is.
func TestHandWrittenSectionsInBenchmarks(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	md, err := os.ReadFile(filepath.Join(root, "BENCHMARKS.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range handWritten {
		b, err := os.ReadFile(filepath.Join(root, "scripts", "bench", name))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(md), string(b)) {
			t.Errorf("BENCHMARKS.md does not hold scripts/bench/%s as it is: edit the section there and copy it into BENCHMARKS.md", name)
		}
	}
}

// The report written from no raw results still carries every hand-written
// section, in order.
func TestReportCarriesHandWrittenSections(t *testing.T) {
	t.Chdir(filepath.Join("..", "..", ".."))
	var b strings.Builder
	r := &report{in: t.TempDir(), plots: t.TempDir(), w: &b}
	r.method()
	at := 0
	for _, name := range handWritten {
		sec, err := os.ReadFile(filepath.Join("scripts", "bench", name))
		if err != nil {
			t.Fatal(err)
		}
		i := strings.Index(b.String()[at:], string(sec))
		if i < 0 {
			t.Fatalf("the report lacks scripts/bench/%s, or has it out of order", name)
		}
		at += i + len(sec)
	}
}
