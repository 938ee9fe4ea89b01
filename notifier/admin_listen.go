package notifier

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// serveAdmin starts the admin listener's HTTP server when --admin-listen is
// set, on ln or, if ln is nil, on a listener of its own. The returned stop
// shuts it down; Serve calls it last, so /metrics and /readyz stay readable
// through a drain.
func (s *Server) serveAdmin(ln net.Listener) (stop func(), err error) {
	if s.adminRouter == nil {
		if ln != nil {
			return nil, errors.New("an admin listener needs --admin-listen")
		}
		return func() {}, nil
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", s.cfg.AdminListen); err != nil {
			return nil, fmt.Errorf("--admin-listen %s: %w", s.cfg.AdminListen, err)
		}
	}
	srv := &http.Server{
		Handler:           bodyDeadline(s.cfg.BodyTimeout, s.adminRouter),
		ReadHeaderTimeout: 10 * time.Second,
		// Scrapes come every 15-60s over a kept-alive connection.
		IdleTimeout: 2 * time.Minute,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin listener failed", "addr", ln.Addr().String(), "err", err)
		}
	}()
	s.log.Info("admin listening", "addr", ln.Addr().String(), "pprof", s.cfg.Pprof)
	return func() {
		// A profile (/debug/pprof/profile) may run for its whole seconds;
		// the node is stopping, so it is cut short.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close()
		}
		<-done
	}, nil
}
