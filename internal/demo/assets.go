package demo

import (
	"bytes"
	_ "embed"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/pushpoll/pushpoll/internal/asset"
)

var (
	//go:embed web/index.html
	indexHTML string
	//go:embed web/app.js
	appJS []byte
	//go:embed web/style.css
	styleCSS []byte
)

var pageTemplate = template.Must(template.New("index").Parse(indexHTML))

// pageCSP keeps the page to its own origin: it loads nothing from elsewhere,
// so it works offline, and an injected script could not run or phone home.
// ws: and wss: are listed because older browsers do not count the page's own
// WebSocket origin as 'self'.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// renderPage fills the intervals into the page once; they never change
// while the process runs.
func renderPage(fast, slow time.Duration) asset.File {
	var buf bytes.Buffer
	err := pageTemplate.Execute(&buf, map[string]any{
		"FastMS": fast.Milliseconds(),
		"SlowMS": slow.Milliseconds(),
		"Fast":   seconds(fast),
		"Slow":   seconds(slow),
	})
	if err != nil {
		// The template and its data are fixed at build time, so this is a
		// programming error that every test run would hit first.
		panic("demo: rendering the page: " + err.Error())
	}
	return asset.New(buf.Bytes(), "text/html; charset=utf-8")
}

// seconds formats an interval the way the page talks about it: "5 s", "0.5 s".
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + " s"
}

func (a *App) servePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", pageCSP)
	w.Header().Set("Referrer-Policy", "no-referrer")
	serveAsset(a.page)(w, r)
}

// serveAsset answers GET and HEAD. "no-cache" makes browsers revalidate
// every load: the files change with the binary, and a 304 costs next to
// nothing.
func serveAsset(f asset.File) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { f.Serve(w, r, "no-cache") }
}
