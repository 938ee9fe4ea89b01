package notifier

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"
)

// bubbleServer is a node built by New inside a synctest bubble, with no
// listener: its sockets are fakeSIOConns the test connects through the
// event handlers. The writers and workers end with the test, as the bubble
// requires.
func bubbleServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.work.stop()
		s.writers.stop()
	})
	return s
}

// bubbleSocket connects a socket with these handshake headers (name: value
// pairs) through the node's connect handler.
func bubbleSocket(s *Server, id string, header ...string) (*socket, *fakeSIOConn) {
	c := &fakeSIOConn{id: id, header: make(map[string][]string)}
	for i := 0; i+1 < len(header); i += 2 {
		c.header.Set(header[i], header[i+1])
	}
	return s.events.onConnect(c), c
}

// gathered is the value of one series of the node's metrics: its name, then
// label name and value pairs; it fails the test if there is no such series.
func gathered(t *testing.T, s *Server, name string, labels ...string) float64 {
	t.Helper()
	families, err := s.m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			want := len(labels) / 2
			for _, l := range m.GetLabel() {
				for i := 0; i+1 < len(labels); i += 2 {
					if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
						want--
					}
				}
			}
			if want == 0 {
				// A gauge's value or a counter's: the other reads 0.
				return m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

// drainPoll is how often the drain looks whether the sockets have left.
const drainPoll = 50 * time.Millisecond

// The drain tells every socket at once to move within two thirds of the
// window and fails readiness; it ends as soon as the last socket has left,
// and when some stay, at the window's end and not before. Sockets that
// leave within the window count as drained, those still there at its end
// as closed by the shutdown.
func TestDrain(t *testing.T) {
	const window = 30 * time.Second
	start := func(t *testing.T, sockets int) (*Server, []*socket, []*fakeSIOConn, chan struct{}) {
		cfg := Default()
		cfg.TokenSecret = fuzzSecret
		cfg.DrainTimeout = window
		s := bubbleServer(t, cfg)
		var sks []*socket
		var conns []*fakeSIOConn
		for i := range sockets {
			sk, c := bubbleSocket(s, fmt.Sprintf("s%d", i))
			sk.subscribed.Store(true) // as if it held topics: not closed as idle
			sks, conns = append(sks, sk), append(conns, c)
		}
		if why := s.ready(); why != "" {
			t.Fatalf("not ready before the drain: %s", why)
		}
		done := make(chan struct{})
		go func() {
			s.shutdown()
			close(done)
		}()
		// A failed check ends the test early: the drain still has to end
		// inside the bubble, which its fake clock makes instant.
		t.Cleanup(func() { <-done })
		synctest.Wait()
		if s.ready() != "draining" {
			t.Fatalf("readiness during the drain: %q, want draining", s.ready())
		}
		want := fmt.Sprintf(`{"within":%d}`, (window * 2 / 3).Milliseconds())
		for i, c := range conns {
			if got := c.named("drain"); len(got) != 1 || got[0] != want {
				t.Fatalf("socket %d was told %v at the drain's start, want one drain %s", i, got, want)
			}
		}
		return s, sks, conns, done
	}
	ended := func(done chan struct{}) bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	counted := func(t *testing.T, s *Server, r DisconnectReason) float64 {
		return gathered(t, s, "pushpoll_disconnects_total", "reason", r.String())
	}
	// leave is a client moving as told: it closes its end.
	leave := func(s *Server, sk *socket, c *fakeSIOConn) {
		c.err = io.EOF
		s.events.onDisconnect(sk)
	}

	t.Run("ends when the last socket leaves", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s, sks, conns, done := start(t, 3)
			began := time.Now()
			for i := range sks {
				time.Sleep(time.Second)
				synctest.Wait()
				if ended(done) {
					t.Fatalf("the drain ended at %v with %d sockets still here", time.Since(began), len(sks)-i)
				}
				leave(s, sks[i], conns[i])
			}
			time.Sleep(drainPoll)
			synctest.Wait()
			if !ended(done) {
				t.Fatalf("the drain still waits %v after the last socket left", drainPoll)
			}
			if took := gathered(t, s, "pushpoll_drain_seconds"); took < 3 || took > (3*time.Second+drainPoll).Seconds() {
				t.Errorf("drain took %vs, want 3s (the last socket left then) plus at most one look", took)
			}
			if n := counted(t, s, DisconnectDrain); n != 3 {
				t.Errorf("%v disconnects counted as drain, want the 3 that moved", n)
			}
		})
	})

	t.Run("closes what stays at the window's end", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s, sks, conns, done := start(t, 2)
			leave(s, sks[0], conns[0])
			time.Sleep(window - time.Nanosecond)
			synctest.Wait()
			if ended(done) || s.closingAll.Load() {
				t.Fatal("the drain closed the sockets before its window ended")
			}
			if r := s.disconnectReason(sks[1]); r == DisconnectServerShutdown {
				t.Fatalf("a socket inside the window already counts as %v", r)
			}
			time.Sleep(time.Nanosecond + drainPoll)
			synctest.Wait()
			if !ended(done) || !s.closingAll.Load() {
				t.Fatalf("the drain had not ended %v after its window", drainPoll)
			}
			if took := gathered(t, s, "pushpoll_drain_seconds"); took < window.Seconds() || took > (window+drainPoll).Seconds() {
				t.Errorf("drain took %vs, want its window, %v", took, window)
			}
			// The wire closes what stays; each disconnect then counts as the
			// shutdown's, the one that left in time as drained.
			s.events.onDisconnect(sks[1])
			if d, sd := counted(t, s, DisconnectDrain), counted(t, s, DisconnectServerShutdown); d != 1 || sd != 1 {
				t.Fatalf("disconnects counted: drain %v, server_shutdown %v; want 1 and 1", d, sd)
			}
		})
	})
}
