package sioclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// textPlain is what socket.io-client posts text payloads as; go-socket.io
// insists on the UTF-8 charset.
const textPlain = "text/plain;charset=UTF-8"

// polling is the long-polling transport: the reader goroutine keeps one GET
// outstanding, and sends are queued and POSTed in order by a flusher
// goroutine that only lives while there is something to send.
//
// Sends are queued rather than posted by the caller because go-socket.io
// answers a POST only once its session reader has taken the packets, and
// that reader can be waiting for a GET to carry an earlier reply: a POST
// made from the reader goroutine (OnEvent) would then wait for itself.
type polling struct {
	tr      *http.Transport
	hc      *http.Client
	url     string // with sid, for every request after the handshake
	getHdr  http.Header
	postHdr http.Header

	upgrades []string

	// pause asks the reader to stop polling between two GETs; see upgrade.
	pause atomic.Pointer[pauseReq]

	// mu guards the send queue. It is never held with Client.mu or wlock.
	mu       sync.Mutex
	queue    []queued
	flushing bool
	waiters  []chan struct{} // closed when the flusher next exits
}

// queued is one send waiting for a POST. ctype "" is an Engine.IO text
// packet, framed and batched with its neighbours; any other ctype is a raw
// body posted alone with that Content-Type.
type queued struct {
	data  []byte
	ctype string
}

type pauseReq struct {
	parked chan struct{} // closed by the reader once it has stopped polling
	resume chan struct{} // closed by upgrade when the reader may go on
}

func (c *Client) openPolling(ctx context.Context) (func(), error) {
	tr := &http.Transport{
		DialContext: c.dialer.DialContext,
		// One GET and one POST are in flight at most, like a browser tab.
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
		// go-socket.io does not compress; asking for gzip would only cost.
		DisableCompression:  true,
		TLSHandshakeTimeout: 10 * time.Second,
		// Proxy stays nil: an environment proxy setting must not reroute a
		// test or load run.
	}
	p := &polling{
		tr: tr,
		hc: &http.Client{
			Transport: tr,
			// Engine.IO does not redirect; a redirect is reported as the
			// status it is rather than followed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		getHdr:  c.opts.Header.Clone(),
		postHdr: c.opts.Header.Clone(),
	}
	// The header maps are built once and shared, read-only, by every
	// request of the connection, instead of cloned per request.
	if p.getHdr == nil {
		p.getHdr = http.Header{}
		p.postHdr = http.Header{}
	}
	p.postHdr.Set("Content-Type", textPlain)
	c.poll = p

	buf, at, err := p.get(ctx, c.transportURL("polling", ""))
	if err != nil {
		return nil, fmt.Errorf("sioclient: polling handshake: %w", err)
	}
	defer putBuf(buf)
	pkt, rest, err := splitPayload(buf.Bytes())
	if err != nil {
		return nil, err
	}
	h, err := c.handleOpen(pkt)
	if err != nil {
		return nil, err
	}
	p.upgrades = h.Upgrades
	p.url = c.transportURL("polling", c.sid)
	// go-socket.io answers each poll with one packet, but a server may
	// batch the CONNECT with the open packet.
	if err := c.handlePayload(rest, at); err != nil {
		return nil, err
	}
	return func() { c.shutdown(c.pollLoop()) }, nil
}

// get makes one poll and returns its body in a pooled buffer.
func (p *polling) get(ctx context.Context, url string) (*bytes.Buffer, time.Time, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, time.Time{}, err
	}
	req.Header = p.getHdr
	resp, err := p.hc.Do(req)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, time.Time{}, statusError(resp)
	}
	buf := getBuf()
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, maxFrame+1))
	at := time.Now()
	if err == nil && n > maxFrame {
		err = fmt.Errorf("%w: poll response over %d bytes", ErrProtocol, maxFrame)
	}
	if err != nil {
		putBuf(buf)
		return nil, time.Time{}, err
	}
	return buf, at, nil
}

// pollLoop is the reader of a polling connection. It hands over to the
// websocket reader when an upgrade completes.
func (c *Client) pollLoop() error {
	p := c.poll
	joined, start := false, time.Now()
	for {
		if req := p.pause.Swap(nil); req != nil {
			close(req.parked)
			select {
			case <-req.resume:
			case <-c.quit:
				return ErrClosed // shutdown already recorded the reason
			}
			if ws := c.ws.Load(); ws != nil {
				return c.readWS(ws)
			}
			continue
		}
		buf, at, err := p.get(c.ctx, p.url)
		if err != nil && !joined && unknownSID(err) && time.Since(start) < c.opts.HandshakeTimeout {
			// go-socket.io 1.7.0 registers a session only after the open
			// packet has gone out, so the first poll that names the sid
			// can beat the registration and get "invalid sid". It is a
			// server race, not a refusal: wait a moment and poll again.
			if err := c.sleep(pollRetryDelay); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return lost(err)
		}
		joined = true
		err = c.handlePayload(buf.Bytes(), at)
		putBuf(buf)
		if err != nil {
			return err
		}
	}
}

// pollRetryDelay spaces the polls that wait for go-socket.io to register a
// new session; it takes well under a millisecond, so a few ms is plenty.
const pollRetryDelay = 5 * time.Millisecond

func unknownSID(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.StatusCode == http.StatusBadRequest && strings.Contains(se.Body, "invalid sid")
}

// sleep waits d unless the connection ends first.
func (c *Client) sleep(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-c.quit:
		return ErrClosed // shutdown already recorded the reason
	}
}

// handlePayload dispatches every packet of a text payload. A "b" packet is
// a base64 binary packet: only attachments come that way, and they are
// dropped without decoding.
func (c *Client) handlePayload(b []byte, at time.Time) error {
	for len(b) > 0 {
		pkt, rest, err := splitPayload(b)
		if err != nil {
			return err
		}
		b = rest
		if len(pkt) > 0 && pkt[0] == 'b' {
			c.handleBinary()
			continue
		}
		if err := c.handlePacket(pkt, at); err != nil {
			return err
		}
	}
	return nil
}

func (p *polling) enqueue(c *Client, q queued) error {
	select {
	case <-c.quit:
		return c.Err()
	default:
	}
	p.mu.Lock()
	if len(p.queue) >= maxQueued {
		p.mu.Unlock()
		return ErrQueueFull
	}
	p.queue = append(p.queue, q)
	start := !p.flushing
	p.flushing = true
	p.mu.Unlock()
	if start {
		go c.flush()
	}
	return nil
}

// flush sends queued packets until the queue is empty, then exits, so an
// idle polling connection has no writer goroutine.
func (c *Client) flush() {
	p := c.poll
	defer func() {
		// A POST that finished after the reader closed the idle
		// connections has put its connection back in the pool: close it
		// too, or its goroutines would outlive the Client.
		select {
		case <-c.quit:
			p.tr.CloseIdleConnections()
		default:
		}
	}()
	for {
		p.mu.Lock()
		batch := p.queue
		p.queue = nil
		if len(batch) == 0 {
			p.stopFlushing()
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		if err := c.writeBatch(batch); err != nil {
			c.shutdown(err)
			p.mu.Lock()
			p.queue = nil
			p.stopFlushing()
			p.mu.Unlock()
			return
		}
	}
}

// stopFlushing marks the flusher gone and wakes waitFlushed; p.mu is held.
func (p *polling) stopFlushing() {
	p.flushing = false
	for _, w := range p.waiters {
		close(w)
	}
	p.waiters = nil
}

// waitFlushed waits, at most d, until every queued send has been posted
// (or failed).
func (p *polling) waitFlushed(d time.Duration) {
	p.mu.Lock()
	if !p.flushing {
		p.mu.Unlock()
		return
	}
	w := make(chan struct{})
	p.waiters = append(p.waiters, w)
	p.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w:
	case <-t.C:
	}
}

// writeBatch posts a batch, text packets framed together into as few POSTs
// as order allows. After an upgrade, which happens while this waits for
// wlock, the batch goes out on the websocket instead.
func (c *Client) writeBatch(batch []queued) error {
	c.wlock <- struct{}{}
	defer func() { <-c.wlock }()
	if err := c.Err(); err != nil {
		return err
	}
	if ws := c.ws.Load(); ws != nil {
		for _, q := range batch {
			switch q.ctype {
			case "":
				if err := c.writeWS(ws, q.data, false); err != nil {
					return err
				}
			case "application/octet-stream":
				if err := c.writeWS(ws, q.data, true); err != nil {
					return err
				}
			default:
				// A raw payload queued just before the upgrade has no
				// websocket form; it is dropped.
			}
		}
		return nil
	}
	var body []byte
	for i, q := range batch {
		if q.ctype == "" {
			body = appendPayload(body, q.data)
			if i+1 < len(batch) && batch[i+1].ctype == "" {
				continue
			}
			if err := c.poll.post(c.ctx, body, textPlain); err != nil {
				return err
			}
			body = body[:0]
			continue
		}
		if err := c.poll.post(c.ctx, q.data, q.ctype); err != nil {
			return err
		}
	}
	return nil
}

// post sends one POST and checks go-socket.io's "ok".
func (p *polling) post(ctx context.Context, body []byte, ctype string) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if ctype == textPlain {
		req.Header = p.postHdr
	} else {
		req.Header = p.getHdr.Clone()
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return lost(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return lost(statusError(resp))
	}
	// Reading the short "ok" lets the connection be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 512))
	return nil
}

func statusError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return &StatusError{StatusCode: resp.StatusCode, Body: string(bytes.TrimSpace(body))}
}

// upgrade moves a polling connection to websocket the way engine.io-client
// 3 does: probe a websocket joined to the session ("2probe" → "3probe"),
// stop polling (the server, paused by the probe, answers the outstanding
// poll with a noop), send "5", and switch. wlock is held throughout so that
// no POST is in flight: go-socket.io refuses posts to a paused session.
func (c *Client) upgrade(ctx context.Context) (err error) {
	if !slices.Contains(c.poll.upgrades, "websocket") {
		return errors.New("sioclient: server offers no websocket upgrade")
	}
	c.wlock <- struct{}{}
	defer func() { <-c.wlock }()
	if err := c.Err(); err != nil {
		return err
	}
	ws, err := c.dialWS(ctx, c.sid)
	if err != nil {
		return err
	}
	var req *pauseReq
	defer func() {
		if err != nil {
			// Closing the probe first makes the server give up the
			// upgrade and resume the polling session before we poll again.
			ws.Close()
			err = fmt.Errorf("sioclient: upgrade: %w", err)
		}
		if req != nil {
			close(req.resume)
		}
	}()

	if dl, ok := ctx.Deadline(); ok {
		_ = ws.SetWriteDeadline(dl)
		_ = ws.SetReadDeadline(dl)
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte("2probe")); err != nil {
		return err
	}
	_, msg, err := ws.ReadMessage()
	if err != nil {
		return err
	}
	if string(msg) != "3probe" {
		return fmt.Errorf("%w: probe answered %q", ErrProtocol, truncate(msg))
	}

	req = &pauseReq{parked: make(chan struct{}), resume: make(chan struct{})}
	c.poll.pause.Store(req)
	select {
	case <-req.parked:
	case <-c.quit:
		c.poll.pause.CompareAndSwap(req, nil)
		return c.Err()
	case <-ctx.Done():
		c.poll.pause.CompareAndSwap(req, nil)
		return ctx.Err()
	}

	if err := ws.WriteMessage(websocket.TextMessage, []byte{eioUpgrade}); err != nil {
		return err
	}
	_ = ws.SetReadDeadline(time.Time{})
	_ = ws.SetWriteDeadline(time.Time{})
	// Installing under mu pairs with shutdown: either shutdown sees the
	// websocket and closes it, or we see the connection closed.
	c.mu.Lock()
	if c.closed {
		cerr := c.err
		c.mu.Unlock()
		return cerr
	}
	c.ws.Store(ws)
	c.mu.Unlock()
	// The polling connections are idle from now on.
	c.poll.tr.CloseIdleConnections()
	return nil
}
