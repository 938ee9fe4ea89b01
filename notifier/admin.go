package notifier

import (
	"encoding/json"
	"io"
	"net/http"
)

// handleMode is the admin API for the feature flag (DESIGN §5), behind its
// own bearer secret. GET reads the flag; POST {"mode":"shadow"} sets it for
// every node: through Redis when there is one (key and channel
// pushpoll:mode), else on this node alone.
func (s *Server) handleMode(w http.ResponseWriter, r *http.Request) {
	secret := s.adminSecret.get()
	if secret == "" {
		writeError(w, http.StatusNotFound, "admin API is off: start the notifier with --admin-secret")
		return
	}
	if !bearerOK(r, secret) {
		writeError(w, http.StatusUnauthorized, "missing or wrong bearer admin secret")
		return
	}
	if r.Method == http.MethodGet {
		writeJSON(w, http.StatusOK, map[string]Mode{"mode": s.Mode(), "told": s.trust.currentMode().Mode})
		return
	}
	var req struct {
		Mode string `json:"mode"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1024)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, `want {"mode":"push"|"shadow"|"poll"}`)
		return
	}
	mode, err := ParseMode(req.Mode)
	if err != nil {
		writeError(w, http.StatusBadRequest, `mode must be push, shadow or poll`)
		return
	}
	if fs, ok := s.broker.(FlagSetter); ok {
		if err := fs.SetFlag(r.Context(), mode); err != nil {
			writeError(w, http.StatusServiceUnavailable, "could not store the flag in Redis")
			return
		}
	}
	// Apply locally at once too: this node should not wait for its own
	// announcement to come back through Redis.
	_ = s.SetMode(mode)
	writeJSON(w, http.StatusOK, map[string]Mode{"mode": mode})
}
