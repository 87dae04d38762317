package log

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// modelBatch is one batch as the model keeps it.
type modelBatch struct {
	data        []byte
	base, last  int64
	firstTs     int64
	n           int
	maxTs       int64
	recTs       []int64
	maxTsOffset int64
}

// TestModel drives a log with random operations (appends of one or more
// batches, reads, truncations, start-offset moves, clean and unclean
// reopens, timestamp lookups) on tiny segments and a tiny index interval,
// and compares every answer with a plain slice of batches.
func TestModel(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runModel(t, seed, 250, Options{}, 1) })
	}
}

// TestModelSmallIndexCache is TestModel with index caches too small to
// hold more than a segment or two, so sealed segments' indexes are
// dropped and reloaded all the time.
func TestModelSmallIndexCache(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			runModel(t, seed, 250, Options{Indexes: NewIndexCache(int64(seed%3)*300, 0)}, 1)
		})
	}
}

// TestModelSpill is TestModel with segments ten times larger and the
// active segment's indexes spilling to their files a block of one to
// three entries at a time, so lookups, truncations, rolls and reopens meet
// indexes that are mostly only in the files.
func TestModelSpill(t *testing.T) {
	for seed := range uint64(9) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			runModel(t, seed, 300, Options{spillBlock: 1 + int(seed%3)}, 10)
		})
	}
}

func runModel(t *testing.T, seed uint64, ops int, opts Options, segScale int64) {
	rng := rand.New(rand.NewPCG(seed, 42))
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = int64(600+rng.IntN(1500)) * segScale
	cfg.IndexIntervalBytes = rng.IntN(300)
	openLog := func(t *testing.T, dir string, cfg Config) *Log {
		t.Helper()
		l, err := Open(dir, cfg, opts)
		must(t, err)
		t.Cleanup(func() { l.Close() })
		return l
	}
	l := openLog(t, dir, cfg)
	var model []modelBatch
	start, end := int64(0), int64(0)

	newBatch := func() []byte {
		n := 1 + rng.IntN(5)
		ts := int64(rng.IntN(10_000))
		recs := make([]testRecord, n)
		for i := range recs {
			recs[i] = testRecord{value: make([]byte, rng.IntN(120)), tsDelta: int64(rng.IntN(50)) - 10}
		}
		return batchSpec{firstTs: ts, records: recs}.build()
	}
	toModel := func(b []byte) modelBatch {
		h, _ := ParseBatchHeader(b)
		m := modelBatch{data: b, base: h.BaseOffset, last: h.LastOffset(), firstTs: h.FirstTimestamp, n: int(h.NumRecords), maxTs: h.MaxTimestamp, maxTsOffset: h.LastOffset()}
		_ = walkRecords(b[BatchHeaderSize:], h.NumRecords, func(_ int32, td int64) bool {
			m.recTs = append(m.recTs, h.FirstTimestamp+td)
			return true
		})
		return m
	}

	for op := range ops {
		switch k := rng.IntN(100); {
		case k < 45: // append one to three batches
			var payload []byte
			for range 1 + rng.IntN(3) {
				payload = append(payload, newBatch()...)
			}
			if _, err := ValidateBatches(payload, 0, nil); err != nil {
				t.Fatal(err)
			}
			res := mustAppend(t, l, payload, 1)
			if res.BaseOffset != end {
				t.Fatalf("op %d: append at %d, want %d", op, res.BaseOffset, end)
			}
			for p := 0; p < len(payload); {
				h, _ := ParseBatchHeader(payload[p:])
				model = append(model, toModel(append([]byte(nil), payload[p:p+h.Size()]...)))
				p += h.Size()
			}
			end = res.LastOffset + 1
		case k < 70: // read
			if end == start {
				continue
			}
			off := start + rng.Int64N(end-start+1)
			maxBytes := rng.IntN(3000)
			maxOffset := start + rng.Int64N(end-start+2)
			got, err := l.Read(off, maxBytes, maxOffset)
			if err != nil {
				t.Fatalf("op %d: Read(%d): %v", op, off, err)
			}
			var want []byte
			for i, b := range model {
				if b.last < off || b.base >= min(maxOffset, end) {
					continue
				}
				if len(want) > 0 && len(want)+len(b.data) > maxBytes {
					break
				}
				want = append(want, b.data...)
				_ = i
			}
			if off >= min(maxOffset, end) {
				want = nil
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("op %d: Read(%d, %d, %d): %d bytes, want %d", op, off, maxBytes, maxOffset, len(got), len(want))
			}
		case k < 76: // truncate
			target := start + rng.Int64N(end-start+1)
			first := l.segments[0].base
			must(t, l.Truncate(target))
			for len(model) > 0 && model[len(model)-1].last >= target {
				model = model[:len(model)-1]
			}
			if target < first { // below every segment: restart there
				start, end = target, target
				break
			}
			// Whole batches go, so the end is the last survivor's end (or
			// the first segment's base if none survives on disk).
			end = first
			if len(model) > 0 {
				end = max(first, model[len(model)-1].last+1)
			}
			start = min(start, end)
		case k < 82: // advance the start offset
			target := start + rng.Int64N(end-start+1)
			must(t, l.SetStartOffset(target))
			start = max(start, target)
		case k < 88: // reopen, clean or not
			if rng.IntN(2) == 0 {
				must(t, l.Close())
			} else {
				crash(t, l, dir)
			}
			l = openLog(t, dir, cfg)
		case k < 100: // timestamp lookup
			ts := int64(rng.IntN(10_100))
			off, gotTs, ok := l.OffsetForTimestamp(ts)
			wantOff, wantTs, wantOK := int64(-1), int64(-1), false
		search:
			for _, b := range model {
				for i, rt := range b.recTs {
					if o := b.base + int64(i); o >= start && rt >= ts {
						wantOff, wantTs, wantOK = o, rt, true
						break search
					}
				}
			}
			if off != wantOff || gotTs != wantTs || ok != wantOK {
				t.Fatalf("op %d: OffsetForTimestamp(%d) = (%d, %d, %v), want (%d, %d, %v)", op, ts, off, gotTs, ok, wantOff, wantTs, wantOK)
			}
		}
		if l.StartOffset() != start || l.EndOffset() != end {
			t.Fatalf("op %d: log [%d, %d), model [%d, %d)", op, l.StartOffset(), l.EndOffset(), start, end)
		}
		// MaxTimestamp covers the batches still on disk.
		first := l.segments[0].base
		wantOff, wantTs := int64(-1), int64(-1)
		for _, b := range model {
			if b.base >= first && b.maxTs > wantTs {
				wantOff, wantTs = b.maxTsOffset, b.maxTs
			}
		}
		if off, ts, _ := l.MaxTimestamp(); off != wantOff || ts != wantTs {
			t.Fatalf("op %d: MaxTimestamp (%d, %d), want (%d, %d)", op, off, ts, wantOff, wantTs)
		}
	}
}
