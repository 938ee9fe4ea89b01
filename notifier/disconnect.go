package notifier

import (
	"errors"
	"io"
	"net"
	"os"

	"github.com/pushpoll/pushpoll/internal/socketio"
)

// DisconnectReason is why a socket closed. Every close records exactly one,
// in pushpoll_disconnects_total{reason} and in the debug log line, so an
// operator can tell a deploy from a network fault from a slow client.
type DisconnectReason uint8

const (
	// DisconnectClientClosed: the client closed the connection (a page
	// left or reloaded, the shim moved to another node).
	DisconnectClientClosed DisconnectReason = iota
	// DisconnectPingTimeout: the client stopped pinging for
	// --ping-timeout (a laptop lid closed, a network gone).
	DisconnectPingTimeout
	// DisconnectSlow: a write missed --write-timeout; the client could not
	// keep up and polls until it reconnects.
	DisconnectSlow
	// DisconnectWriteError: a write failed otherwise (the peer reset).
	DisconnectWriteError
	// DisconnectTransportError: reading failed without a close from the
	// client (a reset, a balancer cutting the connection).
	DisconnectTransportError
	// DisconnectProtocolError: the client sent what the protocol does not
	// allow (an oversize or binary frame, a malformed event).
	DisconnectProtocolError
	// DisconnectDrain: the client left after this node, draining, told it
	// to move.
	DisconnectDrain
	// DisconnectServerShutdown: still open when the drain ended; the node
	// closed it.
	DisconnectServerShutdown
	// DisconnectCap: refused right after connecting, over --max-sockets or
	// the per-client cap.
	DisconnectCap
	// DisconnectNeverSubscribed: it held no granted topic within
	// --subscribe-timeout of connecting.
	DisconnectNeverSubscribed
	// DisconnectServerClosed: the node closed it for none of the reasons
	// above. Nothing does today; a count here means a close path that
	// forgot to say why.
	DisconnectServerClosed

	numDisconnectReasons
)

var disconnectNames = [numDisconnectReasons]string{
	DisconnectClientClosed:    "client_closed",
	DisconnectPingTimeout:     "ping_timeout",
	DisconnectSlow:            "slow",
	DisconnectWriteError:      "write_error",
	DisconnectTransportError:  "transport_error",
	DisconnectProtocolError:   "protocol_error",
	DisconnectDrain:           "drain",
	DisconnectServerShutdown:  "server_shutdown",
	DisconnectCap:             "cap",
	DisconnectNeverSubscribed: "never_subscribed",
	DisconnectServerClosed:    "server_closed",
}

// String is the reason's metric label and log value.
func (r DisconnectReason) String() string {
	if r < numDisconnectReasons {
		return disconnectNames[r]
	}
	return "unknown"
}

// writeFailure is the reason for a failed write: a missed deadline is a
// slow client, anything else a broken connection.
func writeFailure(err error) DisconnectReason {
	if isTimeout(err) {
		return DisconnectSlow
	}
	return DisconnectWriteError
}

// writeFailed closes the socket after a failed write. A write refused
// because the connection is closed already is an echo of that close: the
// client's CLOSE that the reader got first, a ping timeout, the node's own
// close. Recording write_error for it would hide that cause, which the
// disconnect reads from the reader or from the node's closeFor.
func (s *socket) writeFailed(err error) {
	if errors.Is(err, socketio.ErrClosed) {
		_ = s.conn.Close()
		return
	}
	s.closeFor(writeFailure(err))
}

// readFailure is the reason for a connection whose reader ended with err
// (socketio.Conn.Err) while the node had not closed it itself.
func readFailure(err error, draining bool) DisconnectReason {
	switch {
	case err == nil:
		return DisconnectServerClosed
	case errors.Is(err, socketio.ErrProtocol):
		return DisconnectProtocolError
	case isTimeout(err):
		return DisconnectPingTimeout
	case draining:
		// Told to move, the client closed or dropped the connection.
		return DisconnectDrain
	case errors.Is(err, io.EOF):
		return DisconnectClientClosed
	}
	return DisconnectTransportError
}

// closeFor closes the socket, recording why unless a reason is recorded
// already (the first close is the cause; later ones are its echo).
func (s *socket) closeFor(r DisconnectReason) {
	s.closedFor.CompareAndSwap(0, uint32(r)+1)
	_ = s.conn.Close()
}

// transport is the socket.io transport the socket is on now.
func (s *socket) transport() string {
	if s.wire == nil {
		return ""
	}
	return s.wire.Transport()
}

// disconnectReason is why sk ended: the node's own reason if it closed the
// socket, else what the connection's reader ended with.
func (s *Server) disconnectReason(sk *socket) DisconnectReason {
	if r := sk.closedFor.Load(); r != 0 {
		return DisconnectReason(r - 1)
	}
	if s.closingAll.Load() {
		return DisconnectServerShutdown
	}
	var err error
	if sk.wire != nil {
		err = sk.wire.Err()
	}
	return readFailure(err, s.draining.Load())
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
