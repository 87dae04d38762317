package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// offsets returns a partition's start and end offsets.
func offsets(t *testing.T, adm *kadm.Client, topic string) (start, end int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	e, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	so, _ := s.Lookup(topic, 0)
	eo, _ := e.Lookup(topic, 0)
	return so.Offset, eo.Offset
}

// TestRetentionDeletesOldSegments is issue 6's scenario: segment.bytes=1 MiB, retention.ms=3000,
// retention checked every 500 ms; after 8 MB the log start moves past 0 within seconds while the
// end stays, what is left is readable, and a kill -9 and restart keeps both offsets.
func TestRetentionDeletesOldSegments(t *testing.T) {
	n := startSingle(t, "--config", "log.retention.check.interval.ms=500", "--config", "file.delete.delay.ms=0")
	ctx := testContext(t)
	adm := kadm.NewClient(newClient(t, n.addr))
	cfg := map[string]*string{"segment.bytes": kadm.StringPtr("1048576"), "retention.ms": kadm.StringPtr("3000")}
	if r, err := adm.CreateTopic(ctx, 1, 1, cfg, "short"); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	prod := newClient(t, n.addr, kgo.DefaultProduceTopic("short"), kgo.ProducerBatchMaxBytes(64<<10))
	val := make([]byte, 1000)
	for i := 0; i < 8000; i++ {
		prod.Produce(ctx, &kgo.Record{Value: val}, nil)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	_, end := offsets(t, adm, "short")
	if end != 8000 {
		t.Fatalf("end offset %d, want 8000", end)
	}
	var start int64
	eventually(t, 20*time.Second, "the log start to move past 0", func() bool {
		start, _ = offsets(t, adm, "short")
		return start > 0
	})
	s2, e2 := offsets(t, adm, "short")
	if e2 != end || s2 < start {
		t.Fatalf("after retention start %d end %d, want end %d", s2, e2, end)
	}
	// Everything from the new start is readable (Kafka may delete every segment once writes
	// stop: then there is nothing left to read and start == end).
	if s2 < e2 {
		cons := newClient(t, n.addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"short": {0: kgo.NewOffset().At(s2)}}))
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		fs := cons.PollFetches(pctx)
		cancel()
		if recs := fs.Records(); len(recs) == 0 || recs[0].Offset != s2 {
			t.Fatalf("reading from the new start %d: %v (errors %v)", s2, len(recs), fs.Errors())
		}
	}
	n.kill()
	n.restart()
	s3, e3 := offsets(t, adm, "short")
	if e3 != e2 || s3 < s2 {
		t.Fatalf("after kill -9 and restart: start %d end %d, before %d %d", s3, e3, s2, e2)
	}
	t.Logf("start %d, end %d after retention; %d, %d after kill -9 and restart", s2, e2, s3, e3)
}

// TestCompaction: 100 keys written 100 times each read back, once cleaned, as one value per key,
// the last, at its original offset.
func TestCompaction(t *testing.T) {
	n := startSingle(t, "--config", "log.cleaner.backoff.ms=200")
	ctx := testContext(t)
	adm := kadm.NewClient(newClient(t, n.addr))
	cfg := map[string]*string{
		"cleanup.policy":            kadm.StringPtr("compact"),
		"segment.bytes":             kadm.StringPtr("65536"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
		"delete.retention.ms":       kadm.StringPtr("0"),
	}
	if r, err := adm.CreateTopic(ctx, 1, 1, cfg, "compacted"); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	prod := newClient(t, n.addr, kgo.DefaultProduceTopic("compacted"), kgo.ProducerBatchMaxBytes(16<<10))
	last := map[string]int64{}
	for round := 0; round < 100; round++ {
		for k := 0; k < 100; k++ {
			key := fmt.Sprint("key-", k)
			r := prod.ProduceSync(ctx, &kgo.Record{Key: []byte(key), Value: []byte(fmt.Sprint(round))})
			if err := r.FirstErr(); err != nil {
				t.Fatal(err)
			}
			last[key] = r[0].Record.Offset
		}
	}
	eventually(t, 30*time.Second, "compaction to leave one value per key", func() bool {
		cons := newClient(t, n.addr, kgo.ConsumeTopics("compacted"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		defer cons.Close()
		seen := map[string]int{}
		lastAt := map[string]int64{}
		total := 0
		for total < 10000 {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			fs := cons.PollFetches(pctx)
			cancel()
			if fs.NumRecords() == 0 {
				break
			}
			for _, r := range fs.Records() {
				total++
				seen[string(r.Key)]++
				lastAt[string(r.Key)] = r.Offset
				if r.Offset == last[string(r.Key)] && string(r.Value) != "99" {
					t.Fatalf("key %s at its last offset has value %s", r.Key, r.Value)
				}
			}
		}
		// The active segment keeps its duplicates; everything before it is one per key, and
		// every key's last value is still at its original offset.
		for k, off := range last {
			if lastAt[k] != off {
				return false
			}
		}
		return len(seen) == 100 && total < 10000/2
	})
}
