package notifier

import (
	"strings"
	"testing"
)

func TestCapsFitTheHost(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		name                     string
		sockets, perClient, http int
		limits                   hostLimits
		want                     caps
		err                      string
	}{
		{"nothing known, nothing set", 0, 0, 0, hostLimits{}, caps{}, ""},
		{"ulimit -n 600", 0, 0, 0, hostLimits{files: 600}, caps{sockets: 600 - 300 - reservedFiles, perClient: 100, httpConns: 300}, ""},
		{"a big host: a tenth per client", 0, 0, 0, hostLimits{files: 1 << 20}, caps{sockets: 1<<19 - reservedFiles, perClient: (1<<19 - reservedFiles) / 10, httpConns: 1 << 19}, ""},
		{"512 MiB container", 0, 0, 0, hostLimits{files: 1 << 20, memory: 512 * mib}, caps{sockets: 256 * mib / socketBytes, perClient: 256 * mib / socketBytes / 10, httpConns: 1 << 19}, ""},
		{"memory only", 0, 0, -1, hostLimits{memory: 64 * mib}, caps{sockets: 2048, perClient: 204}, ""},
		{"explicit caps that fit", 200, 5, 200, hostLimits{files: 600}, caps{sockets: 200, perClient: 5, httpConns: 200}, ""},
		{"explicit sockets shrink the default HTTP cap", 400, 0, 0, hostLimits{files: 600}, caps{sockets: 400, perClient: 100, httpConns: 600 - 400 - reservedFiles}, ""},
		{"no limits at all", -1, -1, -1, hostLimits{files: 600}, caps{}, ""},
		{"explicit sockets beyond the files", 1000, 0, 0, hostLimits{files: 600}, caps{}, "--max-sockets 1000 leaves 0 of the open-file limit"},
		{"both explicit, beyond the files", 400, 0, 200, hostLimits{files: 600}, caps{}, "--max-sockets 400 and --max-http-conns 200 need 728 open files"},
		{"explicit sockets beyond the memory", 100000, 0, 10, hostLimits{memory: 512 * mib}, caps{}, "--max-sockets 100000 needs about 1562 MiB"},
		{"no room for sockets", 0, 0, 500, hostLimits{files: 600}, caps{}, "leaves no room for sockets"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{MaxSockets: c.sockets, MaxSocketsPerClient: c.perClient, MaxHTTPConns: c.http}
			got, err := cfg.caps(c.limits)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("caps = %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
}

func TestParseMemoryLimit(t *testing.T) {
	for in, want := range map[string]int64{
		"536870912\n":         536870912,
		"max\n":               0,
		"9223372036854771712": 0, // cgroup v1's "no limit"
		"":                    0,
		"-1":                  0,
	} {
		if got := parseMemoryLimit(in); got != want {
			t.Errorf("parseMemoryLimit(%q) = %d, want %d", in, got, want)
		}
	}
}
