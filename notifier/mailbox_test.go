package notifier

import (
	"maps"
	"math/rand/v2"
	"strconv"
	"testing"
)

func TestPendingHintsRules(t *testing.T) {
	cases := []struct {
		name string
		puts []hint
		want []bool
		left map[string]int64
	}{
		{"newer raises", []hint{{"a", 1}, {"a", 2}}, []bool{true, true}, map[string]int64{"a": 2}},
		{"same or older coalesces", []hint{{"a", 5}, {"a", 5}, {"a", 3}}, []bool{true, false, false}, map[string]int64{"a": 5}},
		{"version-less with one pending coalesces", []hint{{"a", 5}, {"a", 0}}, []bool{true, false}, map[string]int64{"a": 5}},
		{"versioned raises a version-less one", []hint{{"a", 0}, {"a", 4}}, []bool{true, true}, map[string]int64{"a": 4}},
		{"topics apart", []hint{{"a", 1}, {"b", 1}}, []bool{true, true}, map[string]int64{"a": 1, "b": 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p pendingHints
			for i, h := range c.puts {
				if got := p.put(h.topic, h.v); got != c.want[i] {
					t.Fatalf("put(%q, %d) = %v, want %v", h.topic, h.v, got, c.want[i])
				}
			}
			if got := asMap(p.drain(nil)); !maps.Equal(got, c.left) {
				t.Fatalf("drained %v, want %v", got, c.left)
			}
			if p.len() != 0 {
				t.Fatalf("%d left after drain", p.len())
			}
		})
	}
}

// Past fewTopics the index takes over from looking through the list; the
// mailbox must behave as a map from topic to version throughout, removes
// and drains included.
func TestPendingHintsAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var p pendingHints
	model := map[string]int64{}
	for step := range 20000 {
		topic := "t" + strconv.Itoa(rng.IntN(3*fewTopics))
		switch r := rng.IntN(100); {
		case r < 70:
			v := rng.Int64N(10)
			old, ok := model[topic]
			want := !ok || (v != 0 && v > old)
			if want {
				model[topic] = v
			}
			if got := p.put(topic, v); got != want {
				t.Fatalf("step %d: put(%q, %d) = %v, want %v", step, topic, v, got, want)
			}
		case r < 95:
			p.remove(topic)
			delete(model, topic)
		default:
			if got := asMap(p.drain(nil)); !maps.Equal(got, model) {
				t.Fatalf("step %d: drained %v, want %v", step, got, model)
			}
			clear(model)
		}
		if p.len() != len(model) {
			t.Fatalf("step %d: %d pending, want %d", step, p.len(), len(model))
		}
		if p.index != nil {
			for i, h := range p.list {
				if p.index[h.topic] != i || len(p.index) != len(p.list) {
					t.Fatalf("step %d: index %v does not match list %v", step, p.index, p.list)
				}
			}
		}
	}
}

func TestPendingHintsOnly(t *testing.T) {
	var p pendingHints
	p.put("a", 3)
	if !p.only("a", 3) || p.only("a", 2) || p.only("b", 3) {
		t.Fatal("only misjudges a single pending hint")
	}
	p.put("b", 1)
	if p.only("a", 3) {
		t.Fatal("only reports one hint of two")
	}
}

func asMap(hs []hint) map[string]int64 {
	m := make(map[string]int64, len(hs))
	for _, h := range hs {
		if _, dup := m[h.topic]; dup {
			panic("two pending hints for " + h.topic)
		}
		m[h.topic] = h.v
	}
	return m
}
