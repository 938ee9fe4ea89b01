package notifier

import (
	"net/http"

	clientjs "github.com/pushpoll/pushpoll/client-js"
	"github.com/pushpoll/pushpoll/internal/asset"
)

var (
	shimScript = asset.New(clientjs.Script, "text/javascript; charset=utf-8")
	shimMap    = asset.New(clientjs.SourceMap, "application/json")
	shimModule = asset.New(clientjs.Module, "text/javascript; charset=utf-8")
)

// serveAsset serves the shim. Its URL carries no version, so caches keep it
// only briefly and then revalidate, rather than holding a stale shim for a
// year after a deploy. Allowed origins get CORS: an ES module import or a
// crossorigin script tag needs it.
func (s *Server) serveAsset(f asset.File) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" && s.sio.OriginAllowed(r) {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Add("Vary", "Origin")
		}
		f.Serve(w, r, "public, max-age=300")
	}
}
