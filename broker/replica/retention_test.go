package replica

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/minikraft/minikraft/broker/config"
	"github.com/minikraft/minikraft/broker/partition"
	"github.com/minikraft/minikraft/compress"
	"github.com/minikraft/minikraft/log"
)

// testManager is a Manager of node 1 over a temporary data directory, with no metadata: tests
// add replicas themselves.
func testManager(t *testing.T) *Manager {
	t.Helper()
	m := New(context.Background(), Config{DataDir: t.TempDir()})
	m.cfg.Broker.NodeID = 1
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	})
	return m
}

// addLeader opens a single-replica partition led by this node. Its log gets logConfig's
// settings, which (until logConfig applies withRetention) leave retention at the defaults:
// eachLog must bring the topic's settings in.
func addLeader(t *testing.T, m *Manager, topic string, tc config.Topic) *localPartition {
	t.Helper()
	l, err := log.Open(filepath.Join(m.cfg.DataDir, topic+"-0"), logConfig(tc), log.Options{Codecs: compress.Codecs{}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := partition.New(l, partition.Config{Topic: topic, NodeID: 1, MinInsyncReplicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.BecomeLeader(0, 0, []int32{1}, []int32{1}); err != nil {
		t.Fatal(err)
	}
	lp := &localPartition{Partition: p}
	m.parts.mu.Lock()
	m.parts.topics[topic] = &localTopic{cfg: tc, parts: partSet{lp}}
	m.parts.mu.Unlock()
	return lp
}

func produce(t *testing.T, p *partition.Partition, recs []log.KeyValue, ts int64) {
	t.Helper()
	batch := log.EncodeBatch(recs, ts)
	hdrs, err := log.ValidateBatches(batch, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.AppendAsLeader(batch, hdrs, 1); err != nil {
		t.Fatal(err)
	}
}

func TestRetentionPass(t *testing.T) {
	m := testManager(t)
	tc := config.DefaultTopic()
	tc.SegmentBytes = 4096
	tc.RetentionMs = 3000
	lp := addLeader(t, m, "events", tc)
	old := time.Now().Add(-time.Hour).UnixMilli()
	for i := range 200 {
		produce(t, lp.Partition, []log.KeyValue{{Key: []byte("k"), Value: bytes.Repeat([]byte{byte(i)}, 100)}}, old)
	}
	fresh := time.Now().UnixMilli()
	for range 20 {
		produce(t, lp.Partition, []log.KeyValue{{Key: []byte("k"), Value: []byte("new")}}, fresh)
	}
	end := lp.LogEndOffset()
	if hw := lp.HighWatermark(); hw != end {
		t.Fatalf("high watermark %d, want %d", hw, end)
	}
	m.enforceRetention()
	start := lp.LogStartOffset()
	if start < 150 || start > 200 || lp.LogEndOffset() != end {
		t.Fatalf("log [%d, %d) after retention, want the hour-old records gone, the end at %d", start, lp.LogEndOffset(), end)
	}
	if got := lp.Log().Config().RetentionMs; got != 3000 {
		t.Fatalf("log retention.ms %d, want the topic's 3000", got)
	}
	rr, err := lp.Read(start, 1<<20, -1, -1)
	if err != nil || len(rr.Records) == 0 {
		t.Fatalf("read from the new start: %v", err)
	}
}

func TestCleanerPass(t *testing.T) {
	m := testManager(t)
	tc := config.DefaultTopic()
	tc.CleanupPolicy = []string{"compact"}
	tc.SegmentBytes = 2048
	tc.MinCleanableDirtyRatio = 0.01
	lp := addLeader(t, m, "__consumer_offsets", tc)
	var batchSize int
	for round := range 50 {
		var recs []log.KeyValue
		for k := range 5 {
			recs = append(recs, log.KeyValue{Key: []byte(fmt.Sprint("group-", k)), Value: []byte(fmt.Sprint("commit-", round))})
		}
		batchSize = len(log.EncodeBatch(recs, 0))
		produce(t, lp.Partition, recs, time.Now().UnixMilli())
	}
	before := lp.Log().Size()
	m.cleanLogs()
	if after := lp.Log().Size(); after >= before/2 {
		t.Fatalf("size %d after cleaning, was %d", after, before)
	}
	// The sealed segments keep one record per key; the active segment is not cleaned.
	maxRecords := 5 + 5*(int(tc.SegmentBytes)/batchSize+1)
	n := 0
	seen := map[string]string{}
	for off := lp.LogStartOffset(); off < lp.HighWatermark(); {
		rr, err := lp.Read(off, 1<<20, -1, -1)
		if err != nil || len(rr.Records) == 0 {
			t.Fatalf("read at %d: %v", off, err)
		}
		// One batch at a time: a read may end inside a batch.
		h, err := log.ParseBatchHeader(rr.Records)
		if err != nil || h.Size() > len(rr.Records) {
			t.Fatalf("read at %d: a batch of %d bytes in %d (%v)", off, h.Size(), len(rr.Records), err)
		}
		if err := log.EachRecord(rr.Records[:h.Size()], func(o int64, key, value []byte) error {
			n++
			seen[string(key)] = string(value)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		off = h.LastOffset() + 1
	}
	for k, v := range seen {
		if v != "commit-49" {
			t.Fatalf("key %s ends at %s", k, v)
		}
	}
	if len(seen) != 5 || n > maxRecords {
		t.Fatalf("%d records of %d keys after cleaning, want at most %d", n, len(seen), maxRecords)
	}
}

func TestRetentionLoopStops(t *testing.T) {
	m := testManager(t)
	m.cfg.Broker.LogRetentionCheckInterval = time.Millisecond
	m.cfg.Broker.LogCleanerEnable, m.cfg.Broker.LogCleanerBackoff = true, time.Millisecond
	tc := config.DefaultTopic()
	tc.RetentionBytes = 0
	tc.SegmentBytes = 1024
	lp := addLeader(t, m, "t", tc)
	for range 50 {
		produce(t, lp.Partition, []log.KeyValue{{Key: []byte("k"), Value: make([]byte, 100)}}, time.Now().UnixMilli())
	}
	done := make(chan struct{})
	m.goBackground(func() { m.retentionLoop(); close(done) })
	deadline := time.Now().Add(10 * time.Second)
	for lp.LogStartOffset() != lp.LogEndOffset() {
		if time.Now().After(deadline) {
			t.Fatal("retention.bytes=0 never emptied the log")
		}
		time.Sleep(time.Millisecond)
	}
	m.cancel()
	<-done
}

func TestWithRetention(t *testing.T) {
	tc := config.DefaultTopic()
	c := withRetention(log.DefaultConfig(), tc)
	if !c.Delete || c.Compact || c.RetentionMs != 7*24*3600*1000 || c.RetentionBytes != -1 || c.MinCleanableDirtyRatio != 0.5 {
		t.Fatalf("defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	tc.CleanupPolicy = []string{"compact", "delete"}
	tc.DeleteRetentionMs, tc.MinCompactionLagMs, tc.SegmentJitterMs = 5, 6, 7
	c = withRetention(c, tc)
	if !c.Delete || !c.Compact || c.DeleteRetentionMs != 5 || c.MinCompactionLagMs != 6 || c.SegmentJitterMs != 7 {
		t.Fatalf("%+v", c)
	}
}

// TestRetentionPassExpiresProducers: the retention pass forgets idempotent producers whose last
// write is producer.id.expiration.ms old, and keeps the others.
func TestRetentionPassExpiresProducers(t *testing.T) {
	m := testManager(t)
	m.cfg.Broker.ProducerIDExpiration = time.Hour
	lp := addLeader(t, m, "t", config.DefaultTopic())
	now := time.Now().UnixMilli()
	for _, w := range []struct {
		pid int64
		ts  int64
	}{{7, now - 2*time.Hour.Milliseconds()}, {8, now}} {
		batch := log.EncodeBatch([]log.KeyValue{{Value: []byte("v")}}, w.ts)
		log.SetProducer(batch, w.pid, 0, 0)
		hdrs, err := log.ValidateBatches(batch, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := lp.AppendAsLeader(batch, hdrs, 1); err != nil {
			t.Fatal(err)
		}
	}
	m.enforceRetention()
	got, err := lp.ActiveProducers()
	if err != nil || len(got) != 1 || got[0].ProducerID != 8 {
		t.Fatalf("producers after the retention pass: %+v, %v", got, err)
	}
}
