// Package metrics is a node's Prometheus exposition and its HTTP endpoints: /metrics, /readyz
// and /livez (Handler). It uses prometheus/client_golang for the text format and knows no
// minikraft package: the broker gives it a Requests, which the wire server feeds with every
// answered request (wire.RequestObserver), and a Source, a function that fills a Snapshot of the
// node's state each time Prometheus scrapes.
//
// Names follow the Prometheus JMX exporter's rules for Kafka's MBeans, which Kafka's Grafana
// dashboards query: kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec,topic=T becomes
// kafka_server_brokertopicmetrics_messagesin_total{topic="T"}. The exporter also exports Kafka's
// all-topics meter without a topic label under the same name; Prometheus cannot have one name
// with two label sets in one scrape, so here only the per-topic series exist and a dashboard
// sums them. Request latencies are Prometheus histograms in milliseconds
// (kafka_network_requestmetrics_totaltimems_bucket{request="Produce",le=...}) instead of the
// exporter's precomputed quantiles. The full list is in README.md ("Metrics").
//
// Cost: what runs per request is Requests.RequestDone, one atomic add and a histogram observation
// (itself lock-free) on arrays indexed by API key, no allocation and no lock; what runs per
// append or fetch is the partition's own atomic counters (broker/partition/traffic.go). Gauges
// (partition counts, log sizes, the controller's and Raft's figures) are computed from the
// broker's state only when scraped.
package metrics
