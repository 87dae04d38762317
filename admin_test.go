package minikraft_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft"
)

// TestNodeAdminHTTP drives the test admin endpoint of one node over HTTP: an injected Fetch error
// holds the followers, shrink-isr and move-leader show in Metadata, the throttle and the
// injections show in /v1/state, and bad requests get 4xx answers.
func TestNodeAdminHTTP(t *testing.T) {
	c := minikraft.NewCluster(t, 3)
	leader, followers := controlsTopic(t, c, "http", nil)
	admin := minikraft.NewNodeAdmin("")
	admin.Attach(c.Node(leader))
	srv := httptest.NewServer(admin)
	defer srv.Close()
	post := func(path, body string, want int) map[string]any {
		t.Helper()
		resp, err := http.Post(srv.URL+path, "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %v, want %d", path, body, resp.StatusCode, out, want)
		}
		return out
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	post("/v1/inject-error", `{"api_key": 1, "error_code": 6}`, 200)
	one := newClientT(t, kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("http"),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	if err := one.ProduceSync(ctx, &kgo.Record{Value: []byte("ahead")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	post("/v1/shrink-isr", `{"topic": "http", "partition": 0, "nodes": [`+itoa(followers[0])+`, `+itoa(followers[1])+`]}`, 200)
	meta := newClientT(t, kgo.SeedBrokers(c.Addrs()...))
	// The endpoint answers once its own node shows the change; the others follow within moments.
	waitMetadata(t, meta, "http", "the ISR shrunk to the leader", func(p kmsg.MetadataResponseTopicPartition) bool {
		return slices.Equal(p.ISR, []int32{int32(leader)})
	})
	post("/v1/shrink-isr", `{"topic": "http", "partition": 0, "nodes": [`+itoa(leader)+`]}`, 409)
	post("/v1/shrink-isr", `{"topic": "none", "partition": 0, "nodes": [1]}`, 404)
	post("/v1/throttle-follower", `{"bytes_per_second": 5000}`, 200)
	resp, err := http.Get(srv.URL + "/v1/state")
	if err != nil {
		t.Fatal(err)
	}
	var state struct {
		NodeID     int   `json:"node_id"`
		Throttle   int64 `json:"throttle_bytes_per_second"`
		Injections int   `json:"injections"`
	}
	json.NewDecoder(resp.Body).Decode(&state)
	resp.Body.Close()
	if state.NodeID != leader || state.Throttle != 5000 || state.Injections != 1 {
		t.Errorf("state %+v", state)
	}
	post("/v1/clear-injections", ``, 200)
	waitMetadata(t, meta, "http", "the followers back in the ISR", func(p kmsg.MetadataResponseTopicPartition) bool { return len(p.ISR) == 3 })
	post("/v1/move-leader", `{"topic": "http", "partition": 0, "node": `+itoa(followers[0])+`}`, 200)
	waitMetadata(t, meta, "http", "the new leader", func(p kmsg.MetadataResponseTopicPartition) bool { return int(p.Leader) == followers[0] })

	post("/v1/throttle-follower", `{"bytes_per_second": 0}`, 200)
	for _, bad := range []struct{ path, body string }{
		{"/v1/inject-error", `{"api_key": 1}`},
		{"/v1/inject-error", `{"api_key": 999, "error_code": 6}`},
		{"/v1/inject-delay", `{"api_key": 1, "delay_ms": -1}`},
		{"/v1/inject-error", `{"api_key": 1, "error_code": 6, "extra": true}`},
		{"/v1/move-leader", `{"topic": "http"}`},
		{"/v1/partition", `{"nodes": []}`},
		{"/v1/inject-error", `not json`},
	} {
		post(bad.path, bad.body, 400)
	}
	post("/v1/unknown", `{}`, 404)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
