package minikraft_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/minikraft/minikraft"
	"github.com/minikraft/minikraft/broker"
	"github.com/minikraft/minikraft/broker/config"
	"github.com/minikraft/minikraft/metrics"
)

// scrape GETs h's /metrics and returns each sample by its series, as the text format writes it:
// `name{label="v",...}` (labels in the exposition's order) or `name`.
func scrape(t *testing.T, h http.Handler) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(rec.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// sum adds the samples of name whose labels contain every one of labels (`topic="t"`).
func sum(m map[string]float64, name string, labels ...string) float64 {
	var s float64
	for series, v := range m {
		n, rest, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(rest, l)
		}
		if ok {
			s += v
		}
	}
	return s
}

// TestMetricsProduce scrapes a node before and after a produce of 1,000 records: the topic's
// messages-in counter moves by exactly 1,000, its bytes-in by exactly what its logs grew, and
// the Produce request counter by the Produce requests the client sent.
func TestMetricsProduce(t *testing.T) {
	c := minikraft.NewCluster(t, 1)
	h := c.HTTPHandler(0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var produces atomic.Int64
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.WithHooks(produceCounter{&produces}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 3, 1, nil, "m"); err != nil {
		t.Fatal(err)
	}
	before := scrape(t, h)
	const n = 1000
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Topic: "m", Value: fmt.Appendf(nil, "value-%d", i)}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Error(err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	after := scrape(t, h)
	if produces.Load() == 0 {
		t.Fatal("the client sent no Produce request")
	}
	delta := func(name string, labels ...string) float64 {
		return sum(after, name, labels...) - sum(before, name, labels...)
	}
	if d := delta("kafka_server_brokertopicmetrics_messagesin_total", `topic="m"`); d != n {
		t.Errorf("messages in moved by %v, want %d", d, n)
	}
	grew := delta("kafka_log_log_size", `topic="m"`)
	if d := delta("kafka_server_brokertopicmetrics_bytesin_total", `topic="m"`); d != grew || d <= 0 {
		t.Errorf("bytes in moved by %v, the logs grew by %v", d, grew)
	}
	if d, want := delta("kafka_network_requestmetrics_requests_total", `request="Produce"`), float64(produces.Load()); d != want {
		t.Errorf("Produce requests moved by %v, the client sent %v", d, want)
	}
	if d, want := delta("kafka_network_requestmetrics_totaltimems_count", `request="Produce"`), float64(produces.Load()); d != want {
		t.Errorf("Produce latency samples moved by %v, the client sent %v", d, want)
	}
	if after["kafka_server_socketservermetrics_connection_count{listener=\"PLAINTEXT\"}"] < 1 {
		t.Errorf("no PLAINTEXT connection counted")
	}
	if after["kafka_controller_kafkacontroller_activecontrollercount"] != 1 {
		t.Errorf("the only node is not the active controller")
	}
	if hw := after["kafka_server_raftmetrics_high_watermark"]; hw <= 0 {
		t.Errorf("raft high watermark %v", hw)
	}

	// Consuming it all sends at least every byte of the logs out.
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics("m"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	for got := 0; got < n; {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	final := scrape(t, h)
	if out := sum(final, "kafka_server_brokertopicmetrics_bytesout_total", `topic="m"`); out < sum(final, "kafka_log_log_size", `topic="m"`) {
		t.Errorf("bytes out %v, less than the logs hold", out)
	}
}

// produceCounter counts the Produce requests a client wrote.
type produceCounter struct{ n *atomic.Int64 }

func (p produceCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == 0 && err == nil {
		p.n.Add(1)
	}
}

// TestMetricsUnderReplicated: while one of three nodes is stopped, the leaders of an RF 3
// topic report its partitions under-replicated (and the ISR shrinks); once it is back and has
// caught up, none are, and the ISR has expanded again.
func TestMetricsUnderReplicated(t *testing.T) {
	c := minikraft.NewCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const parts = 3
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, parts, 3, nil, "u"); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitForLeaders(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	total := func(nodes []int, name string, labels ...string) float64 {
		var s float64
		for _, i := range nodes {
			s += sum(scrape(t, c.HTTPHandler(i)), name, labels...)
		}
		return s
	}
	all := []int{0, 1, 2}
	waitFor := func(what string, nodes []int, name string, want float64, labels ...string) {
		t.Helper()
		for total(nodes, name, labels...) != want {
			if ctx.Err() != nil {
				t.Fatalf("%s: %s is %v, want %v", what, name, total(nodes, name, labels...), want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("all in sync", all, "kafka_server_replicamanager_underreplicatedpartitions", 0)
	// 0 for a moment while a leader steps down on a loaded machine and the next is elected.
	waitFor("one active controller", all, "kafka_controller_kafkacontroller_activecontrollercount", 1)
	shrinks := total(all, "kafka_server_replicamanager_isrshrinks_total")

	if err := c.StopNode(2); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	c.HTTPHandler(2).ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("a stopped node's /readyz: %d", rec.Code)
	}
	up := []int{0, 1}
	// Every partition of u had a replica on node 2; each is now led by node 0 or 1 with two in
	// its ISR.
	waitFor("node 2 stopped", up, "kafka_server_replicamanager_underreplicatedpartitions", parts)
	waitFor("node 2 stopped", up, "kafka_cluster_partition_underreplicated", parts, `topic="u"`)
	if n := total(up, "kafka_controller_kafkacontroller_fencedbrokercount"); n != 1 {
		t.Errorf("fenced brokers %v, want 1", n)
	}
	// The partitions led by node 0 or 1 kept their leader and lost node 2 from the ISR.
	if s := total(up, "kafka_server_replicamanager_isrshrinks_total"); s <= shrinks {
		t.Errorf("ISR shrinks went from %v to %v", shrinks, s)
	}

	expands := total(up, "kafka_server_replicamanager_isrexpands_total")
	if err := c.RestartNode(2); err != nil {
		t.Fatal(err)
	}
	waitFor("node 2 back", all, "kafka_server_replicamanager_underreplicatedpartitions", 0)
	if e := total(all, "kafka_server_replicamanager_isrexpands_total"); e <= expands {
		t.Errorf("ISR expands %v, was %v before node 2 came back", e, expands)
	}
}

// TestReadyzBeforeRegistration: a node whose quorum cannot elect a leader (its second voter is
// not up) is live but not ready; once the second voter starts, both register and /readyz
// answers 200.
func TestReadyzBeforeRegistration(t *testing.T) {
	lns := make([]map[string]net.Listener, 2)
	var voters []string
	for i := range lns {
		lns[i] = map[string]net.Listener{}
		for _, name := range []string{"PLAINTEXT", "CONTROLLER"} {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			lns[i][name] = ln
		}
		voters = append(voters, fmt.Sprintf("%d@%s", i, lns[i]["CONTROLLER"].Addr()))
	}
	dir := t.TempDir()
	start := func(i int) *broker.Broker {
		t.Helper()
		bc, _, err := config.FromProperties(map[string]string{
			"node.id":                               strconv.Itoa(i),
			"process.roles":                         "broker,controller",
			"listeners":                             fmt.Sprintf("PLAINTEXT://%s,CONTROLLER://%s", lns[i]["PLAINTEXT"].Addr(), lns[i]["CONTROLLER"].Addr()),
			"controller.listener.names":             "CONTROLLER",
			"controller.quorum.voters":              strings.Join(voters, ","),
			"log.dirs":                              filepath.Join(dir, strconv.Itoa(i)),
			"broker.heartbeat.interval.ms":          "100",
			"controller.quorum.election.timeout.ms": "100",
			config.ClusterIDProp:                    "metrics-readyz-test",
		})
		if err != nil {
			t.Fatal(err)
		}
		b, err := broker.New(broker.Config{Broker: bc, Listeners: lns[i], NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Abort() })
		return b
	}
	b0 := start(0)
	srv := httptest.NewServer(nodeHandler(b0))
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body strings.Builder
		bufio.NewReader(resp.Body).WriteTo(&body)
		return resp.StatusCode, body.String()
	}
	// Without a quorum nothing registers, however long we wait.
	time.Sleep(500 * time.Millisecond)
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not registered") {
		t.Errorf("/readyz before registration: %d %q", code, body)
	}
	if code, _ := get("/livez"); code != http.StatusOK {
		t.Errorf("/livez: %d", code)
	}
	start(1)
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := get("/readyz")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz after the quorum formed: %d %q", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// nodeHandler is a broker's HTTP listener handler, as the binary builds it.
func nodeHandler(b *broker.Broker) http.Handler {
	return metrics.NewHTTPHandler(metrics.HTTPConfig{Metrics: b.Metrics().Handler(), Ready: b.Ready})
}
