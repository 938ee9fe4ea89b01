//go:build !linux

package socketio

import "errors"

// poller is Linux's epoll readiness; elsewhere a parked websocket has a
// goroutine waiting in a read (wsConn.watch), as every socket did before.
type poller struct{}

var errNoPoller = errors.New("socketio: no poller on this OS")

func (*poller) watch(*wsConn) error { return errNoPoller }
func (*poller) forget(*wsConn)      {}
