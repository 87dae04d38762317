package partition

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/minikraft/minikraft/log"
)

// BenchmarkPartitionAppend is what the produce path costs a partition per append, beside the
// log's own write: the leader and min-ISR checks, the idempotence check and record, the high
// watermark's move, waking waiters, and the acks check that the produce handler makes right after
// (Acked). The log is in memory (log.MemFS), so file-system costs stay out of the figure.
//
// Each append is one batch, as clients send one per partition. The batch is encoded once; each
// iteration only advances its base sequence in place (the CRC goes stale, which nothing checks
// here: ValidateBatches ran once, and the log never re-reads these batches).
func BenchmarkPartitionAppend(b *testing.B) {
	cases := []struct {
		name    string
		pid     int64 // -1: not idempotent
		records int
		acks    int16
		watcher bool // a long-poll fetch parked on the partition (Register)
	}{
		{name: "idempotent/acks=all", pid: 7, records: 1, acks: -1},
		{name: "idempotent/acks=all/watcher", pid: 7, records: 1, acks: -1, watcher: true},
		{name: "idempotent/acks=1", pid: 7, records: 1, acks: 1},
		{name: "plain/acks=all", pid: -1, records: 1, acks: -1},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			p := benchPartition(b)
			if c.watcher {
				ch := make(chan struct{}, 1)
				defer p.Register(ch)()
			}
			bt := plain(c.records)
			if c.pid >= 0 {
				bt = idem(c.pid, 0, 0, c.records)
			}
			buf, hdrs := payload(b, bt)
			seq := int32(0)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if c.pid >= 0 {
					binary.BigEndian.PutUint32(buf[53:], uint32(seq)) // base sequence
					hdrs[0].BaseSequence = seq
					seq += int32(c.records)
				}
				info, err := p.AppendAsLeader(buf, hdrs, c.acks)
				if err != nil || info.Duplicate {
					b.Fatalf("AppendAsLeader: %+v, %v", info, err)
				}
				if c.acks == -1 {
					if done, err := p.Acked(info.LeaderEpoch, info.LastOffset); !done || err != nil {
						b.Fatalf("Acked: %v, %v", done, err)
					}
				}
			}
		})
	}
}

// BenchmarkPartitionAppendParallel appends to one partition from many goroutines, as producers on
// several connections do, while a reader polls the high watermark the way a fetch does.
func BenchmarkPartitionAppendParallel(b *testing.B) {
	p := benchPartition(b)
	buf, hdrs := payload(b, plain(1))
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				_ = p.HighWatermark()
			}
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		own := append([]byte(nil), buf...) // Append rewrites the header in place
		for pb.Next() {
			info, err := p.AppendAsLeader(own, hdrs, -1)
			if err != nil {
				b.Errorf("AppendAsLeader: %v", err)
				return
			}
			if done, err := p.Acked(info.LeaderEpoch, info.LastOffset); !done || err != nil {
				b.Errorf("Acked: %v, %v", done, err)
				return
			}
		}
	})
	b.StopTimer()
	close(stop)
	<-done
}

// benchPartition is a sole-leader partition on an in-memory log.
func benchPartition(b *testing.B) *Partition {
	b.Helper()
	cfg := log.DefaultConfig()
	cfg.SegmentBytes = 1 << 20 // small segments: an in-memory file grows by copying
	l := openLog(b, "/bench/t-0", cfg, log.Options{FS: log.NewMemFS()})
	p, err := New(l, Config{Topic: "t", NodeID: self, MinInsyncReplicas: 1, ReplicaLagTimeMax: 30 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	soleLeader(b, p, 0)
	return p
}
