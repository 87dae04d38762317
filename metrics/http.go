package metrics

import (
	"fmt"
	"net/http"
	"strings"
)

// HTTPConfig is what a node's HTTP listener serves.
type HTTPConfig struct {
	// Metrics serves /metrics (Node.Handler).
	Metrics http.Handler
	// Ready reports why the node is not ready for clients, nil when it is: /readyz answers 200
	// or 503 with the reason.
	Ready func() error
	// Admin, if set, is served under /admin/ with the prefix stripped (the test admin endpoint,
	// minikraft.NodeAdmin, whose paths are /v1/...).
	Admin http.Handler
	// Console, if set, is served at every other path (the web console, package console, whose
	// pages are at /, /topics, ...).
	Console http.Handler
}

// NewHTTPHandler returns the listener's handler: /metrics, /readyz, /livez, and the optional
// mounts. /livez answers 200 while the process serves HTTP at all: a failing liveness check
// means restart it, which a node still catching up must not get.
func NewHTTPHandler(c HTTPConfig) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", c.Metrics)
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := c.Ready(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready:", err)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	if c.Admin != nil {
		mux.Handle("/admin/", http.StripPrefix("/admin", c.Admin))
	}
	if c.Console != nil {
		mux.Handle("/", c.Console)
	} else {
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintln(w, strings.Join([]string{"/metrics", "/readyz", "/livez"}, "\n"))
		})
	}
	return mux
}
