package notifier

import (
	"encoding/json"
	"net/http"
)

// The HTTP API beside the socket.io endpoint: probes here, publishing in
// publish_http.go, the admin flag in admin.go, the shim in assets.go.

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReady fails while draining or while the broker link is down, so a
// load balancer stops sending new sockets here.
func (s *Server) handleReady(w http.ResponseWriter, _ *http.Request) {
	if why := s.ready(); why != "" {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": why})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// ready is "" when the node takes new sockets, else why not.
func (s *Server) ready() string {
	switch {
	case s.draining.Load():
		return "draining"
	case !s.broker.Up():
		return "broker down"
	}
	return ""
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
