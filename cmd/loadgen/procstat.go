package main

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// procSample is what /proc says about a process at one instant.
type procSample struct {
	at    time.Time
	rssKB int64
	// cpuTicks is user+system time in clock ticks (USER_HZ, 100 on Linux).
	cpuTicks int64
	ok       bool
}

const userHZ = 100

func sampleProc(pid int) procSample {
	s := procSample{at: time.Now()}
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return s
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				s.rssKB, _ = strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return s
	}
	// The command name is in parentheses and may contain spaces; fields
	// count from after it. utime and stime are fields 14 and 15.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 {
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 13 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			st, _ := strconv.ParseInt(f[12], 10, 64)
			s.cpuTicks = u + st
			s.ok = true
		}
	}
	return s
}

func sampleAll(pids []int) []procSample {
	out := make([]procSample, len(pids))
	for i, pid := range pids {
		out[i] = sampleProc(pid)
	}
	return out
}

// cpuPercent is the CPU use between two samples of one process, in percent
// of one core.
func cpuPercent(a, b procSample) float64 {
	dt := b.at.Sub(a.at).Seconds()
	if !a.ok || !b.ok || dt <= 0 {
		return 0
	}
	return float64(b.cpuTicks-a.cpuTicks) / userHZ / dt * 100
}

// scrape reads a Prometheus text endpoint into name → value, summing the
// series of a labelled metric.
func scrape(url string) map[string]float64 {
	out := map[string]float64{}
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 8<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
			if j := strings.LastIndexByte(line, '}'); j >= 0 {
				rest, ok = strings.TrimSpace(line[j+1:]), true
			}
		}
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			out[name] += v
		}
	}
	return out
}

// scrapeAll sums the same metrics over several endpoints.
func scrapeAll(urls []string) map[string]float64 {
	out := map[string]float64{}
	for _, u := range urls {
		for k, v := range scrape(u) {
			out[k] += v
		}
	}
	return out
}
