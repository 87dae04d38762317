package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxVersion bounds the request versions counted by version; Kafka's highest is below it.
const maxVersion = 32

// latencyBucketsMs are the request latency histogram's bounds, in milliseconds: from a
// Metadata answered in well under a millisecond to a long-poll Fetch (fetch.max.wait.ms 500)
// and an acks=all Produce waiting out a slow follower.
var latencyBucketsMs = []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000}

// Requests counts a server's answered requests by API key and version and keeps each key's
// latency histogram. Its zero value is not usable: use NewRequests. RequestDone is safe for
// concurrent use and lock-free; the histograms are made up front so that it never allocates.
type Requests struct {
	counts [kmsg.MaxKey + 1][maxVersion]atomic.Uint64
	hist   [kmsg.MaxKey + 1]prometheus.Histogram
}

// NewRequests returns a Requests with a histogram for every API key kmsg knows.
func NewRequests() *Requests {
	r := &Requests{}
	for key := range r.hist {
		r.hist[key] = prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:        "kafka_network_requestmetrics_totaltimems",
			Help:        "Time from a request's arrival until its response was ready, in milliseconds, by API (Kafka's RequestMetrics TotalTimeMs).",
			ConstLabels: prometheus.Labels{"request": requestName(int16(key))},
			Buckets:     latencyBucketsMs,
		})
	}
	return r
}

// RequestDone counts one answered request (wire.RequestObserver). Keys outside Kafka's range
// (minikraft's own control messages) are not counted.
func (r *Requests) RequestDone(key, version int16, elapsed time.Duration) {
	if key < 0 || int(key) >= len(r.counts) || version < 0 || version >= maxVersion {
		return
	}
	r.counts[key][version].Add(1)
	r.hist[key].Observe(float64(elapsed) / float64(time.Millisecond))
}

// Count is how many requests of key at version were answered.
func (r *Requests) Count(key, version int16) uint64 {
	if key < 0 || int(key) >= len(r.counts) || version < 0 || version >= maxVersion {
		return 0
	}
	return r.counts[key][version].Load()
}

var (
	requestsDesc = prometheus.NewDesc("kafka_network_requestmetrics_requests_total",
		"Requests answered, by API and version (Kafka's RequestMetrics RequestsPerSec).", []string{"request", "version"}, nil)
)

// collect sends the counters of the keys and versions that have been used, and the histograms
// of the keys that have.
func (r *Requests) collect(ch chan<- prometheus.Metric) {
	for key := range r.counts {
		used := false
		for v := range r.counts[key] {
			n := r.counts[key][v].Load()
			if n == 0 {
				continue
			}
			used = true
			ch <- prometheus.MustNewConstMetric(requestsDesc, prometheus.CounterValue, float64(n),
				requestName(int16(key)), itoa(v))
		}
		if used {
			ch <- r.hist[key]
		}
	}
}

// requestName is Kafka's name of an API (ApiKeys' name: Produce, Fetch, Metadata, ...).
func requestName(key int16) string {
	if n := kmsg.NameForKey(key); n != "" {
		return n
	}
	return "Unknown"
}
