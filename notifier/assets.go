package notifier

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"

	clientjs "github.com/pushpoll/pushpoll/client-js"
)

// asset is one embedded file served with a strong ETag. The URL carries no
// version, so caches revalidate after a short max-age instead of keeping a
// stale shim for a year after a deploy.
type asset struct {
	body        []byte
	etag        string
	contentType string
}

func newAsset(body []byte, contentType string) asset {
	sum := sha256.Sum256(body)
	return asset{body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, contentType: contentType}
}

var (
	shimScript = newAsset(clientjs.Script, "text/javascript; charset=utf-8")
	shimMap    = newAsset(clientjs.SourceMap, "application/json")
	shimModule = newAsset(clientjs.Module, "text/javascript; charset=utf-8")
)

// serveAsset answers GET and HEAD with caching headers and, for allowed
// origins, CORS (an ES module import or a crossorigin script tag needs it).
func (s *Server) serveAsset(a asset) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("ETag", a.etag)
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("X-Content-Type-Options", "nosniff")
		if origin := r.Header.Get("Origin"); origin != "" && s.wire.OriginAllowed(r) {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
		}
		if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(a.body)
	}
}
