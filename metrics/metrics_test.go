package metrics

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, string(body)
}

// TestExposition: a snapshot's figures and the request counters come out under Kafka's JMX
// exporter names, with their labels; keys never used are left out.
func TestExposition(t *testing.T) {
	n := NewNode(func(s *Snapshot) {
		s.Topics = []TopicTraffic{{Topic: "orders", MessagesIn: 1000, BytesIn: 64000, BytesOut: 128000}}
		s.Partitions = []Partition{{Topic: "orders", Partition: 2, Size: 64000, EndOffset: 1000, Leader: true, UnderReplicated: true}}
		s.Replicas = ReplicaManager{Partitions: 1, Leaders: 1, UnderReplicated: 1, ISRShrinks: 3}
		s.Controller = Controller{Active: true, OfflinePartitions: 2}
		s.Raft = Raft{Voter: true, Leader: 0, HighWatermark: 50, Applied: 45}
		s.Groups = map[string]int{"Stable": 2, "Empty": 1}
		s.Connections = map[string]int{"PLAINTEXT": 4}
	})
	n.Requests.RequestDone(0, 9, 3*time.Millisecond)
	n.Requests.RequestDone(0, 9, 700*time.Millisecond)
	n.Requests.RequestDone(3, 12, time.Millisecond)
	n.Requests.RequestDone(-1, 0, time.Millisecond)   // not a key
	n.Requests.RequestDone(1000, 0, time.Millisecond) // minikraft's own control key
	code, body := get(t, n.Handler(), "/metrics")
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	for _, want := range []string{
		`kafka_server_brokertopicmetrics_messagesin_total{topic="orders"} 1000`,
		`kafka_server_brokertopicmetrics_bytesin_total{topic="orders"} 64000`,
		`kafka_server_brokertopicmetrics_bytesout_total{topic="orders"} 128000`,
		`kafka_log_log_size{partition="2",topic="orders"} 64000`,
		`kafka_log_log_logendoffset{partition="2",topic="orders"} 1000`,
		`kafka_cluster_partition_underreplicated{partition="2",topic="orders"} 1`,
		`kafka_server_replicamanager_underreplicatedpartitions 1`,
		`kafka_server_replicamanager_isrshrinks_total 3`,
		`kafka_controller_kafkacontroller_activecontrollercount 1`,
		`kafka_controller_kafkacontroller_offlinepartitionscount 2`,
		`kafka_server_raftmetrics_high_watermark 50`,
		`kafka_server_raftmetrics_commit_lag 5`,
		`kafka_coordinator_group_groupmetadatamanager_numgroups 3`,
		`kafka_coordinator_group_groupmetadatamanager_numgroupsstable 2`,
		`kafka_server_socketservermetrics_connection_count{listener="PLAINTEXT"} 4`,
		`kafka_network_requestmetrics_requests_total{request="Produce",version="9"} 2`,
		`kafka_network_requestmetrics_requests_total{request="Metadata",version="12"} 1`,
		`kafka_network_requestmetrics_totaltimems_bucket{request="Produce",le="5"} 1`,
		`kafka_network_requestmetrics_totaltimems_bucket{request="Produce",le="1000"} 2`,
		`kafka_network_requestmetrics_totaltimems_count{request="Produce"} 2`,
		"go_goroutines ",
	} {
		if !strings.Contains(body, want+"\n") && !strings.Contains(body, want) {
			t.Errorf("missing %s", want)
		}
	}
	if strings.Contains(body, `request="Fetch"`) {
		t.Error("an unused API is exposed")
	}
}

// TestHTTPHandler: /livez always answers, /readyz follows Ready, the admin endpoint is under
// /admin/ with its own paths, and the console takes the rest.
func TestHTTPHandler(t *testing.T) {
	var notReady error = errors.New("not registered with the controller yet")
	admin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "admin "+r.URL.Path) })
	console := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "console "+r.URL.Path) })
	h := NewHTTPHandler(HTTPConfig{
		Metrics: NewNode(func(*Snapshot) {}).Handler(),
		Ready:   func() error { return notReady },
		Admin:   admin,
		Console: console,
	})
	if code, body := get(t, h, "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not registered") {
		t.Errorf("/readyz not ready: %d %q", code, body)
	}
	notReady = nil
	if code, _ := get(t, h, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz ready: %d", code)
	}
	if code, _ := get(t, h, "/livez"); code != http.StatusOK {
		t.Errorf("/livez: %d", code)
	}
	if _, body := get(t, h, "/admin/v1/state"); body != "admin /v1/state" {
		t.Errorf("admin mount: %q", body)
	}
	if _, body := get(t, h, "/topics"); body != "console /topics" {
		t.Errorf("console mount: %q", body)
	}
	if code, body := get(t, h, "/metrics"); code != http.StatusOK || !strings.Contains(body, "kafka_server_replicamanager_partitioncount 0") {
		t.Errorf("/metrics: %d", code)
	}
	bare := NewHTTPHandler(HTTPConfig{Metrics: http.NotFoundHandler(), Ready: func() error { return nil }})
	if code, _ := get(t, bare, "/admin/v1/state"); code != http.StatusNotFound {
		t.Errorf("admin path without an admin endpoint: %d", code)
	}
}

// BenchmarkRequestDone is the per-request cost the wire server pays for metrics.
func BenchmarkRequestDone(b *testing.B) {
	r := NewRequests()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.RequestDone(0, 9, 1500*time.Microsecond)
		}
	})
}
