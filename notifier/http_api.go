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
	switch {
	case s.draining.Load():
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
	case !s.broker.Up():
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "broker down"})
	default:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
