package minikraft

import (
	"net/http"

	"github.com/minikraft/minikraft/metrics"
)

// HTTPHandler is node i's HTTP listener as the binary serves it with minikraft.http.listener:
// /metrics, /readyz and /livez (package metrics) of whichever broker runs as node i at the time
// of each request, so it stays valid across StopNode and RestartNode; while the node is stopped
// every path answers 503. Serve it with net/http/httptest's NewServer, or call it directly.
func (c *Cluster) HTTPHandler(i int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := c.Node(i)
		if b == nil {
			http.Error(w, "node stopped", http.StatusServiceUnavailable)
			return
		}
		metrics.NewHTTPHandler(metrics.HTTPConfig{Metrics: b.Metrics().Handler(), Ready: b.Ready}).ServeHTTP(w, r)
	})
}
