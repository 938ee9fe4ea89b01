package notifier

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// spreadGolden is testdata/spread_window.json: the windows a node puts on
// a bump's hint for given sockets, which the efficacy benchmark's
// simulated node (scripts/bench/efficacy/spread.mjs) is checked against
// too, so the benchmark measures the rule the node runs.
type spreadGolden struct {
	Cases []struct {
		Name    string  `json:"name"`
		FastMs  int64   `json:"fastMs"`
		SlowMs  int64   `json:"slowMs"`
		Factor  float64 `json:"factor"`
		Sockets []struct {
			N      int             `json:"n"`
			Report json.RawMessage `json:"report"`
			Holds  bool            `json:"holds"`
		} `json:"sockets"`
		Spread int64 `json:"spread"`
	} `json:"cases"`
}

func TestSpreadGoldenCases(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "spread_window.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g spreadGolden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) == 0 {
		t.Fatal("no cases")
	}
	pool := testPool(t)
	for _, c := range g.Cases {
		t.Run(c.Name, func(t *testing.T) {
			h := newHub(&interestLog{subs: map[string]int{}}, 0, 0)
			h.spread = newSpreader(c.Factor, time.Duration(c.FastMs)*time.Millisecond, time.Duration(c.SlowMs)*time.Millisecond)
			var all []*socket
			var holders []*fakeConn
			for gi, grp := range c.Sockets {
				for i := range grp.N {
					conn := &fakeConn{}
					s := newSocket(fmt.Sprintf("%d-%d", gi, i), conn, pool)
					h.addSocket(s)
					all = append(all, s)
					if string(grp.Report) != "null" {
						// As onTabs: a bad report changes nothing.
						if tabs, visible, err := parseTabs(grp.Report); err == nil {
							h.spread.setTabs(s, tabs, visible)
						}
					}
					if !grp.Holds {
						continue
					}
					s.grant(map[string]int64{"t": 0}, time.Time{}, nil)
					mustJoin(t, h, s, []string{"t"}, nil, "")
					holders = append(holders, conn)
				}
			}
			h.fanOut("t", 1)
			for _, s := range all {
				waitIdle(t, s)
			}
			want := `{"t":1}`
			if c.Spread > 0 {
				want = fmt.Sprintf(`{"t":1},{"spread":%d}`, c.Spread)
			}
			for i, conn := range holders {
				if got := conn.named("stale"); len(got) != 1 || got[0] != want {
					t.Fatalf("holder %d got stale %v, want [%s]", i, got, want)
				}
			}
		})
	}
}

// The simulator's spreadWindowMs, run under node, computes what
// spreadWindow does over a grid of nodes, intervals and factors.
func TestSpreadWindowMatchesSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("runs node")
	}
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no node on PATH")
	}
	module, err := filepath.Abs(filepath.Join("..", "scripts", "bench", "efficacy", "spread.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	type in struct {
		VisibleHolders int64   `json:"visibleHolders"`
		Visible        int64   `json:"visible"`
		Fast           int64   `json:"fast"`
		Slow           int64   `json:"slow"`
		Factor         float64 `json:"factor"`
	}
	var cases []in
	counts := []int64{0, 1, 2, 3, 7, 10, 99, 100, 101, 333, 1000, 4999, 5000, 16667, 100000}
	for _, iv := range [][2]int64{{5000, 60000}, {1000, 10000}, {30000, 300000}, {5000, 5000}, {5000, 0}, {2500, 61000}, {0, 60000}} {
		for _, factor := range []float64{0, 0.25, 0.5, 1, 1.5, 2, 10, math.Pi / 3} {
			for _, h := range counts {
				for _, v := range counts {
					cases = append(cases, in{h, v, iv[0], iv[1], factor})
				}
			}
		}
	}
	input, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	const script = `
import { pathToFileURL } from "node:url";
const { spreadWindowMs } = await import(pathToFileURL(process.argv[1]).href);
let s = "";
for await (const c of process.stdin) s += c;
for (const c of JSON.parse(s)) console.log(spreadWindowMs(c));
`
	cmd := exec.Command(nodeBin, "--input-type=module", "-e", script, module)
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	i, between := 0, 0
	for ; sc.Scan(); i++ {
		if i >= len(cases) {
			t.Fatalf("node printed more than %d windows", len(cases))
		}
		c := cases[i]
		want := spreadWindow(c.VisibleHolders, c.Visible, time.Duration(c.Fast)*time.Millisecond, time.Duration(c.Slow)*time.Millisecond, c.Factor)
		if got := sc.Text(); got != fmt.Sprint(want) {
			t.Errorf("%+v: simulator %s, node %d", c, got, want)
		}
		if want > 0 && want < c.Fast {
			between++
		}
	}
	if i != len(cases) {
		t.Fatalf("node printed %d windows for %d cases", i, len(cases))
	}
	// Most of the grid must exercise the formula, not its caps.
	if between < len(cases)/4 {
		t.Fatalf("only %d of %d cases fall between no spread and fast", between, len(cases))
	}
}
