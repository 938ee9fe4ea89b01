package socketio

import (
	"encoding/binary"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// hostile socket.io packets (inside an Engine.IO MESSAGE). Against
// go-socket.io v1.7.0 as shipped, the first panics the process and the
// second pins ~380 MB while the parser waits for attachments.
var hostilePackets = []struct {
	name   string
	packet string
	reason string
}{
	{"2^64-1 attachments", `518446744073709551615-["x","a"]`, reasonBinary},
	{"1e7 attachments", `510000000-["x","a"]`, reasonBinary},
	{"attachments on a plain event", `218446744073709551615-["x","a"]`, reasonBinary},
	{"binary ack", `61-1[{"_placeholder":true,"num":0}]`, reasonBinary},
}

func TestHostilePacketsWebsocket(t *testing.T) {
	for _, tt := range hostilePackets {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			other := h.connectWS(t)
			heap := heapInUse()

			c := h.connectWS(t)
			c.send("4" + tt.packet)
			c.expectClosed()

			eventually(t, 5*time.Second, "hostile session removed", func() bool { return h.srv.Count() == 1 })
			h.waitRejected(t, tt.reason, 1)
			other.echo("still alive")
			if grew := heapInUse() - heap; grew > 32<<20 {
				t.Errorf("heap grew by %d MiB", grew>>20)
			}
		})
	}
}

func TestHostilePacketsPolling(t *testing.T) {
	for _, tt := range hostilePackets {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			other := h.connectPolling(t)
			heap := heapInUse()

			c := h.connectPolling(t)
			// Like a real client, keep a long-poll GET outstanding; it must
			// be released when the session ends.
			getDone := make(chan struct{})
			go func() {
				defer close(getDone)
				req, _ := http.NewRequest(http.MethodGet, h.url(c.query()), nil)
				if resp, err := h.hc.Do(req); err == nil {
					resp.Body.Close()
				}
			}()
			// The hostile packet between two harmless ones (events nobody
			// handles, so no reply races the refusal): the POST must still
			// complete at once, not after the read deadline.
			start := time.Now()
			status, _ := c.post(`42["nobody","a"]`, "4"+tt.packet, `42["nobody","b"]`)
			if status == http.StatusOK {
				t.Errorf("hostile POST answered 200")
			}
			if took := time.Since(start); took > testPingTimeout/2 {
				t.Errorf("hostile POST took %s", took)
			}
			select {
			case <-getDone:
			case <-time.After(testPingTimeout / 2):
				t.Errorf("long-poll GET not released")
			}

			eventually(t, 5*time.Second, "hostile session removed", func() bool { return h.srv.Count() == 1 })
			h.waitRejected(t, tt.reason, 1)
			resp, _ := h.do(t, http.MethodGet, h.url(c.query()), nil, "")
			if resp.StatusCode == http.StatusOK {
				t.Errorf("the refused session still answers GETs")
			}
			other.echo("still alive")
			if grew := heapInUse() - heap; grew > 32<<20 {
				t.Errorf("heap grew by %d MiB", grew>>20)
			}
		})
	}
}

func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}

func TestBinaryRefused(t *testing.T) {
	t.Run("websocket binary frame", func(t *testing.T) {
		h := newHarness(t, nil)
		c := h.connectWS(t)
		if err := c.ws.WriteMessage(websocket.BinaryMessage, []byte{4, 1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		c.expectClosed()
		h.waitRejected(t, reasonBinary, 1)
	})
	t.Run("websocket base64 binary packet", func(t *testing.T) {
		h := newHarness(t, nil)
		c := h.connectWS(t)
		c.send("b4AQID")
		c.expectClosed()
		h.waitRejected(t, reasonBinary, 1)
	})
	t.Run("polling binary payload packet", func(t *testing.T) {
		h := newHarness(t, nil)
		c := h.connectPolling(t)
		// Binary payload framing: 0x01 = binary packet, length digits as
		// bytes, 0xff, then the packet (type byte 4 = MESSAGE).
		body := string([]byte{0x01, 0x04, 0xff, 0x04, 1, 2, 3})
		resp, _ := h.do(t, http.MethodPost, h.url(c.query()), http.Header{"Content-Type": {"application/octet-stream"}}, body)
		if resp.StatusCode == http.StatusOK {
			t.Errorf("binary POST answered 200")
		}
		eventually(t, 5*time.Second, "session removed", func() bool { return h.srv.Count() == 0 })
		h.waitRejected(t, reasonBinary, 1)
	})
	t.Run("polling base64 binary packet", func(t *testing.T) {
		h := newHarness(t, nil)
		c := h.connectPolling(t)
		if status, _ := c.post("b4AQID"); status == http.StatusOK {
			t.Errorf("b64 binary POST answered 200")
		}
		eventually(t, 5*time.Second, "session removed", func() bool { return h.srv.Count() == 0 })
		h.waitRejected(t, reasonBinary, 1)
	})
}

func TestFrameTooLarge(t *testing.T) {
	t.Run("websocket 2 MiB frame", func(t *testing.T) {
		h := newHarness(t, nil)
		other := h.connectWS(t)
		c := h.connectWS(t)
		big := `42["echo","` + strings.Repeat("x", 2<<20) + `"]`
		_ = c.ws.WriteMessage(websocket.TextMessage, []byte(big)) // may fail once the server hangs up
		c.expectClosed()
		h.waitRejected(t, reasonTooLarge, 1)
		other.echo("unaffected")
	})
	t.Run("websocket frame header claiming 64 MiB", func(t *testing.T) {
		h := newHarness(t, nil)
		heap := heapInUse()
		c := h.connectWS(t)
		// A masked text frame header with a 64-bit length and no payload:
		// the server must refuse it from the header alone.
		hdr := []byte{0x81, 0x80 | 127}
		hdr = binary.BigEndian.AppendUint64(hdr, 64<<20)
		hdr = append(hdr, 1, 2, 3, 4) // mask key
		if _, err := c.ws.NetConn().Write(hdr); err != nil {
			t.Fatal(err)
		}
		c.expectClosed()
		h.waitRejected(t, reasonTooLarge, 1)
		if grew := heapInUse() - heap; grew > 16<<20 {
			t.Errorf("heap grew by %d MiB", grew>>20)
		}
	})
	t.Run("polling packet over MaxFrameBytes", func(t *testing.T) {
		h := newHarness(t, nil)
		other := h.connectPolling(t)
		c := h.connectPolling(t)
		// 20 KiB: over the 16 KiB frame limit, under the 64 KiB body limit.
		status, _ := c.post(`42["echo","` + strings.Repeat("x", 20<<10) + `"]`)
		if status == http.StatusOK {
			t.Errorf("oversized packet answered 200")
		}
		eventually(t, 5*time.Second, "session removed", func() bool { return h.srv.Count() == 1 })
		h.waitRejected(t, reasonTooLarge, 1)
		other.echo("unaffected")
	})
}

// TestRootNamespacePackets: a client cannot re-run OnConnect with "40", and
// "41" ends the connection rather than leaving it open without a namespace.
func TestRootNamespacePackets(t *testing.T) {
	h := newHarness(t, nil)
	c := h.connectWS(t)
	<-h.conns
	c.send("40")
	c.echo("after connect packet")
	select {
	case <-h.conns:
		t.Fatal("OnConnect ran again")
	default:
	}
	c.send("41")
	c.expectClosed()
	eventually(t, 5*time.Second, "session removed", func() bool { return h.srv.Count() == 0 })
}

// TestPacketLayer: what the packet layer ignores leaves the connection as it
// was; what it cannot take ends the connection and reaches Handler.Error.
func TestPacketLayer(t *testing.T) {
	h := newHarness(t, nil)
	c := h.connectWS(t)
	for _, p := range []string{
		`42/chat,["echo","x"]`, // a namespace never connected
		`41/chat,`,
		`431["x"]`,        // an ack: the server asks for none
		`42["nope","x"]`,  // unknown event
		`425["nope","x"]`, // unknown event asking for an ack
		`42["echo","x"]`,  // a call without an ack id
		`42["echo"]`,      // and without an argument
		`42["\u0065cho"]`, // an escaped name
	} {
		c.send(p)
	}
	c.echo("still connected, nothing answered")
	c.send(`427["\u0065cho",{"a":[1,"]"]}]`)
	if got := c.read(); got != `437[{"a":[1,"]"]}]` {
		t.Fatalf("ack of an escaped call = %q", got)
	}
	if h.errs.Load() != 0 {
		t.Fatalf("%d errors reported for packets that are fine", h.errs.Load())
	}
	for i, p := range []string{`40/chat,`, `44"x"`, `42[1,2]`, `42["echo",`, `4212345678901234567890["echo",1]`} {
		c := h.connectWS(t)
		c.send(p)
		c.expectClosed()
		eventually(t, 5*time.Second, p+" reported", func() bool { return h.errs.Load() == int64(i+1) })
	}
	eventually(t, 5*time.Second, "sessions removed", func() bool { return h.srv.Count() == 1 })
}

func TestSlowWebsocketClient(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.WriteTimeout = 200 * time.Millisecond })
	other := h.connectWS(t)
	<-h.conns

	slow := h.connectWS(t) // never reads from here on
	conn := <-h.conns
	done := make(chan struct{})
	go func() {
		defer close(done)
		payload := strings.Repeat("x", 256<<10)
		frame := EndFrame(append(StartFrame(nil), `2["big","`+payload+`"]`...))
		// Send returns once the frame is written or the write deadline
		// passed; after the conn is closed it returns at once. 2 GiB is
		// far more than any socket buffer, so the loop ends by the conn
		// closing.
		for i := 0; i < 8<<10 && h.slow.Load() == 0; i++ {
			_ = conn.Send(frame)
		}
	}()

	eventually(t, 30*time.Second, "OnSlow called", func() bool { return h.slow.Load() == 1 })
	<-done
	eventually(t, 5*time.Second, "slow session removed", func() bool { return h.srv.Count() == 1 })
	slow.expectClosed() // after the frames that made it into socket buffers
	other.echo("unaffected")
}
