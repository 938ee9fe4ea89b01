package socketio

import (
	"bytes"

	"github.com/googollee/go-socket.io/engineio/session"
)

// EngineConn is one Engine.IO 4 session seen from above the engine, for a
// server that brings its own socket.io layer (scripts/conformance serves
// the official test suites this way). Read and Write carry MESSAGE packets;
// the engine answers pings, upgrades and closes by itself.
type EngineConn interface {
	ID() string
	// Read returns the next message; only one goroutine may read.
	Read() (data []byte, binary bool, err error)
	Write(data []byte, binary bool) error
	Close() error
}

// NewEngineServer is NewServer for an Engine.IO 4 server with no packet
// layer: accept runs each new session on a goroutine of its own. Engine.IO
// 3 requests get sessions that close at once.
func NewEngineServer(cfg Config, accept func(EngineConn)) (*Server, error) {
	s, err := newServer(cfg, func(s4 *session4) { go accept(engineConn4{s4}) })
	if err != nil {
		return nil, err
	}
	s.serve = func(c engineConn) {
		_ = c.Close()
		s.eio.Remove(c.ID())
	}
	return s, nil
}

type engineConn4 struct{ s *session4 }

func (c engineConn4) ID() string   { return c.s.id }
func (c engineConn4) Close() error { return c.s.Close() }

func (c engineConn4) Read() ([]byte, bool, error) {
	m, err := c.s.next(true)
	if err != nil {
		return nil, false, err
	}
	data := bytes.Clone(m.buf.Bytes())
	c.s.e.set.putBuf(m.buf)
	return data, m.binary, nil
}

func (c engineConn4) Write(data []byte, binary bool) error {
	ft := session.TEXT
	if binary {
		ft = session.BINARY
	}
	w, err := c.s.NextWriter(ft)
	if err != nil {
		return err
	}
	_, _ = w.Write(data)
	return w.Close()
}
