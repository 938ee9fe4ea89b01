package sioclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// wsWriteBufs is shared by every websocket of the process: gorilla then
// borrows a write buffer per frame instead of holding one per connection,
// which at ~19,000 mostly idle sockets saves ~80 MB.
var wsWriteBufs = &sync.Pool{}

// wsReadBufferSize is small because the notifier's frames are small; the
// buffer only amortizes read syscalls and stays allocated per connection.
const wsReadBufferSize = 1024

// dialWS opens a websocket to the Engine.IO endpoint (joining session sid
// when it is not empty).
func (c *Client) dialWS(ctx context.Context, sid string) (*websocket.Conn, error) {
	d := websocket.Dialer{
		NetDialContext:  c.dialer.DialContext,
		ReadBufferSize:  wsReadBufferSize,
		WriteBufferSize: 1024,
		WriteBufferPool: wsWriteBufs,
		// The test and load servers are local: an environment proxy
		// setting must not reroute them.
		Proxy: nil,
	}
	ws, resp, err := d.DialContext(ctx, c.transportURL("websocket", sid), c.opts.Header)
	if err != nil {
		if errors.Is(err, websocket.ErrBadHandshake) && resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return nil, fmt.Errorf("sioclient: websocket handshake: %w", &StatusError{StatusCode: resp.StatusCode, Body: string(body)})
		}
		return nil, fmt.Errorf("sioclient: websocket dial: %w", err)
	}
	ws.SetReadLimit(maxFrame)
	return ws, nil
}

// openWebsocket dials, reads the open packet, and returns the reader body.
func (c *Client) openWebsocket(ctx context.Context) (func(), error) {
	ws, err := c.dialWS(ctx, "")
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = ws.SetReadDeadline(dl)
	}
	_, msg, err := ws.ReadMessage()
	if err != nil {
		ws.Close()
		return nil, fmt.Errorf("sioclient: reading open packet: %w", err)
	}
	if _, err := c.handleOpen(msg); err != nil {
		ws.Close()
		return nil, err
	}
	// From here on liveness is the ping timer's job, not a read deadline.
	_ = ws.SetReadDeadline(time.Time{})
	c.ws.Store(ws)
	return func() { c.shutdown(c.readWS(ws)) }, nil
}

// readWS reads frames until the websocket fails or a packet ends the
// connection.
func (c *Client) readWS(ws *websocket.Conn) error {
	for {
		mt, r, err := ws.NextReader()
		if err != nil {
			return lost(err)
		}
		buf := getBuf()
		_, err = buf.ReadFrom(r)
		at := time.Now()
		if err != nil {
			putBuf(buf)
			return lost(err)
		}
		if mt == websocket.BinaryMessage {
			c.handleBinary()
		} else {
			err = c.handlePacket(buf.Bytes(), at)
		}
		putBuf(buf)
		if err != nil {
			return err
		}
	}
}

// writeWS writes one frame; the caller holds wlock. A failed write ends the
// connection: gorilla cannot write again after an error anyway.
func (c *Client) writeWS(ws *websocket.Conn, p []byte, binary bool) error {
	mt := websocket.TextMessage
	if binary {
		mt = websocket.BinaryMessage
	}
	_ = ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := ws.WriteMessage(mt, p); err != nil {
		err = lost(err)
		c.shutdown(err)
		return c.Err()
	}
	return nil
}
