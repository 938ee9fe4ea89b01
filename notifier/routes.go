package notifier

import (
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes builds the node's handlers. Without --admin-listen everything is on
// the one public listener, as before. With it, the operator's paths
// (/metrics, /v1/admin/…, and /debug/pprof/ when --pprof is on) move to the
// admin listener and the public one answers 404 for them, so a balancer that
// forwards every path cannot leak them; both answer /healthz and /readyz,
// which probes may reach on either port.
func (s *Server) routes() (public, admin *mux.Router) {
	public = mux.NewRouter()
	public.PathPrefix("/socket.io/").Handler(s.clientGate(s.sio))
	public.HandleFunc("/v1/publish", s.countPublish(s.handlePublish)).Methods(http.MethodPost)
	public.HandleFunc("/pushpoll.js", s.serveAsset(shimScript)).Methods(http.MethodGet, http.MethodHead)
	public.HandleFunc("/pushpoll.js.map", s.serveAsset(shimMap)).Methods(http.MethodGet, http.MethodHead)
	public.HandleFunc("/pushpoll.mjs", s.serveAsset(shimModule)).Methods(http.MethodGet, http.MethodHead)
	s.probeRoutes(public)

	ops := public
	if s.cfg.AdminListen != "" {
		admin = mux.NewRouter()
		s.probeRoutes(admin)
		ops = admin
	}
	ops.HandleFunc("/v1/admin/mode", s.handleMode).Methods(http.MethodGet, http.MethodPost)
	ops.Handle("/metrics", promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{})).Methods(http.MethodGet)
	if s.cfg.Pprof && admin != nil {
		// Validate refuses --pprof without --admin-listen: profiles show
		// memory contents and cost CPU, never for the public listener.
		admin.HandleFunc("/debug/pprof/", pprof.Index)
		admin.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		admin.HandleFunc("/debug/pprof/profile", pprof.Profile)
		admin.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		admin.HandleFunc("/debug/pprof/trace", pprof.Trace)
		admin.PathPrefix("/debug/pprof/").HandlerFunc(pprof.Index)
	}
	return public, admin
}

func (s *Server) probeRoutes(r *mux.Router) {
	r.HandleFunc("/healthz", s.handleHealth).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/readyz", s.handleReady).Methods(http.MethodGet, http.MethodHead)
}

// countPublish counts POST /v1/publish by the status it answered and times
// it; the status says the result without threading it through the handler.
func (s *Server) countPublish(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h(sw, r)
		s.m.publishSeconds.Observe(time.Since(start).Seconds())
		s.m.publishRequests.WithLabelValues(publishResult(sw.code)).Inc()
	}
}

func publishResult(code int) string {
	switch code {
	case http.StatusAccepted:
		return publishAccepted
	case http.StatusUnauthorized:
		return publishUnauthorized
	case http.StatusNotFound:
		return publishOff
	case http.StatusRequestEntityTooLarge:
		return publishTooLarge
	case http.StatusBadRequest:
		return publishBadRequest
	}
	return publishUnavailable
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}
