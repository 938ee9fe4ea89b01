//go:build !unix

package socketio

import (
	"net"
	"sync/atomic"
)

// rawWriter is unix only; elsewhere every trySend waits for flush.
type rawWriter struct{}

func (*rawWriter) init(net.Conn)                           {}
func (*rawWriter) ok() bool                                { return false }
func (*rawWriter) write([]byte, *atomic.Bool) (int, error) { return 0, nil }
func (*rawWriter) release()                                {}
