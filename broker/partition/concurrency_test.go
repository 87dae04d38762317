package partition

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minikraft/minikraft/log"
)

// Many producers append idempotent batches (and retry some) to one partition while consumers
// long-poll it through Register and Read. Run with -race. At the end every batch is in the log
// exactly once, each producer's sequences are contiguous, and no reader ever saw a batch at or
// above the high watermark it was given, or a hole.
func TestConcurrentIdempotentAppendsAndReads(t *testing.T) {
	p := newPartition(t, "", Config{MinInsyncReplicas: 1})
	soleLeader(t, p, 0)

	const (
		producers = 8
		batches   = 40 // per producer
		readers   = 3
	)
	var (
		wg       sync.WaitGroup
		appended atomic.Int64 // records
	)
	// append builds, validates and appends one batch without touching t (goroutine-safe).
	appendBatch := func(b batch) (AppendInfo, error) {
		buf := b.encode()
		hdrs, err := log.ValidateBatches(buf, 0, nil)
		if err != nil {
			return AppendInfo{}, err
		}
		return p.AppendAsLeader(buf, hdrs, -1)
	}
	for i := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pid := int64(100 + i)
			var seq int32
			for j := range batches {
				b := idem(pid, 0, seq, 1+j%3)
				info, err := appendBatch(b)
				if err != nil || info.Duplicate {
					t.Errorf("producer %d batch %d: %+v, %v", pid, j, info, err)
					return
				}
				appended.Add(int64(b.n))
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				err = p.WaitForAck(ctx, info.LeaderEpoch, info.LastOffset)
				cancel()
				if err != nil {
					t.Errorf("producer %d batch %d: WaitForAck: %v", pid, j, err)
					return
				}
				if j%4 == 3 { // a retry whose response was "lost"
					dup, err := appendBatch(b)
					if err != nil || !dup.Duplicate || dup.BaseOffset != info.BaseOffset || dup.LastOffset != info.LastOffset {
						t.Errorf("producer %d retry of batch %d = %+v, %v; want a duplicate of %+v", pid, j, dup, err, info)
						return
					}
				}
				seq += int32(b.n)
			}
		}()
	}

	stop := make(chan struct{})
	var rwg sync.WaitGroup
	for r := range readers {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			wake := make(chan struct{}, 1)
			defer p.Register(wake)()
			var next int64
			for {
				res, err := p.Read(next, 1000+r*3000, -1, 0)
				if err != nil {
					t.Errorf("reader %d at %d: %v", r, next, err)
					return
				}
				if len(res.Records) == 0 {
					select {
					case <-wake:
						continue
					case <-stop:
						// One last read after the writers are done.
						if next == p.LogEndOffset() {
							return
						}
						continue
					}
				}
				hs, err := log.ValidateBatches(res.Records, 0, nil)
				if err != nil {
					t.Errorf("reader %d at %d: %v", r, next, err)
					return
				}
				for _, h := range hs {
					if h.BaseOffset > next || h.LastOffset() < next {
						t.Errorf("reader %d: batch %d..%d after offset %d", r, h.BaseOffset, h.LastOffset(), next)
						return
					}
					if h.LastOffset() >= res.HighWatermark {
						t.Errorf("reader %d: batch %d..%d at or above the high watermark %d", r, h.BaseOffset, h.LastOffset(), res.HighWatermark)
						return
					}
					next = h.LastOffset() + 1
				}
			}
		}()
	}

	wg.Wait()
	close(stop)
	rwg.Wait()
	if t.Failed() {
		return
	}

	total := appended.Load()
	wantHW(t, p, total, total)
	// Exactly one copy of every batch, sequences contiguous per producer, offsets contiguous.
	seqs := make(map[int64]int32)
	var next int64
	count := 0
	err := p.Log().ScanBatches(0, func(h log.BatchHeader) error {
		if h.BaseOffset != next {
			return fmt.Errorf("batch at %d, want %d", h.BaseOffset, next)
		}
		if h.BaseSequence != seqs[h.ProducerID] {
			return fmt.Errorf("producer %d: batch with sequence %d, want %d", h.ProducerID, h.BaseSequence, seqs[h.ProducerID])
		}
		seqs[h.ProducerID] += h.LastOffsetDelta + 1
		next = h.LastOffset() + 1
		count++
		return nil
	})
	wantOK(t, "scan", err)
	if count != producers*batches || len(seqs) != producers || next != total {
		t.Fatalf("log holds %d batches of %d producers ending at %d; want %d of %d ending at %d",
			count, len(seqs), next, producers*batches, producers, total)
	}
}
