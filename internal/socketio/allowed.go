package socketio

import "net/http"

// OriginAllowed applies the Guard's origin rule to r, for other endpoints
// of the same node that answer browsers (the shim's script, for CORS).
func (c Config) OriginAllowed(r *http.Request) bool {
	o, err := parseOrigins(c.AllowedOrigins)
	return err == nil && o.allowed(r)
}
