package wire

import "testing"

func TestSmoke(t *testing.T) {
	h := newHarness(t, nil)
	w := h.connectWS(t)
	w.echo("hello")
	p := h.connectPolling(t)
	p.echo("hi")
	if n := h.srv.Count(); n != 2 {
		t.Fatalf("count %d", n)
	}
}
