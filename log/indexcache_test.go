package log

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// setBudget changes a cache's budget, dropping indexes at once if over it.
func (c *IndexCache) setBudget(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.max = n
	c.evictLocked()
}

// encodedIndexes returns each segment's indexes as their files would hold
// them, by base offset.
func encodedIndexes(t testing.TB, l *Log) map[int64][2][]byte {
	t.Helper()
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := map[int64][2][]byte{}
	for _, s := range l.segments {
		x, err := l.indexes(s)
		must(t, err)
		out[s.base] = [2][]byte{x.oidx.encode(nil), x.tidx.encode(nil)}
	}
	return out
}

// dropped counts the segments whose indexes are not in memory.
func dropped(l *Log) int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	n := 0
	for _, s := range l.segments {
		if s.idx.Load() == nil {
			n++
		}
	}
	return n
}

// indexedLog is a log of many small segments, each with index entries,
// and its whole content.
func indexedLog(t testing.TB, fsys FS, dir string, indexes *IndexCache) (*Log, []byte) {
	t.Helper()
	cfg := testConfig()
	cfg.SegmentBytes = 8192
	cfg.IndexIntervalBytes = 200
	l, err := Open(dir, cfg, Options{FS: fsys, Indexes: indexes})
	must(t, err)
	t.Cleanup(func() { l.Close() })
	var all []byte
	for i := range 400 {
		b := valueBatch(1+i%4, 30+i%50, int64(1000+i))
		mustAppend(t, l, b, 0)
		all = append(all, b...)
	}
	return l, all
}

// TestIndexReload: sealed segments' indexes leave memory when the cache
// is over budget (the active segment's never do) and come back, equal to
// what they were, on the next lookup; reads and timestamp lookups give
// the same answers throughout.
func TestIndexReload(t *testing.T) {
	for _, kind := range []string{"os", "mem"} {
		t.Run(kind, func(t *testing.T) {
			fsys, dir := testFS(t, kind)
			c := NewIndexCache(1<<30, 0)
			l, all := indexedLog(t, fsys, dir, c)
			want := encodedIndexes(t, l)
			offTs, ts, _ := l.OffsetForTimestamp(1200)
			if len(want) < 10 || c.Bytes() == 0 || dropped(l) != 0 {
				t.Fatalf("%d segments, %d bytes cached, %d dropped", len(want), c.Bytes(), dropped(l))
			}
			c.setBudget(0)
			if n := dropped(l); n != len(want)-1 || c.Bytes() != 0 {
				t.Fatalf("%d of %d segments dropped their indexes, %d bytes cached", n, len(want), c.Bytes())
			}
			if !bytes.Equal(readAll(t, l), all) {
				t.Fatal("read differs after the drop")
			}
			if o, tt, _ := l.OffsetForTimestamp(1200); o != offTs || tt != ts {
				t.Fatal("timestamp lookup differs after the drop")
			}
			c.setBudget(1 << 30)
			got := encodedIndexes(t, l) // reloads them all
			for base, w := range want {
				if g := got[base]; !bytes.Equal(g[0], w[0]) || !bytes.Equal(g[1], w[1]) {
					t.Fatalf("segment %d: reloaded indexes differ", base)
				}
			}
			if dropped(l) != 0 || c.Bytes() == 0 {
				t.Fatal("the reloaded indexes are not cached")
			}
			for _, s := range l.segments {
				if s.testState().needsWrite {
					t.Fatalf("segment %d was rebuilt, not reloaded", s.base)
				}
			}
			must(t, l.Close())
			if c.Bytes() != 0 {
				t.Fatalf("%d bytes cached after Close", c.Bytes())
			}
		})
	}
}

// TestIndexReloadRebuilt: an index file that changed while its indexes
// were out of memory (a flipped byte, torn, missing) is not trusted: the
// indexes are rebuilt from the log, equal to the originals, kept in memory
// until the next flush writes the files again, and reloadable after it.
func TestIndexReloadRebuilt(t *testing.T) {
	damage := map[string]func(mem *MemFS, name string){
		"flipped": func(mem *MemFS, name string) {
			b, _ := mem.ReadFile(name)
			b[len(b)/2] ^= 4
			must(t, mem.WriteFile(name, b))
		},
		"torn": func(mem *MemFS, name string) {
			b, _ := mem.ReadFile(name)
			must(t, mem.WriteFile(name, b[:len(b)-3]))
		},
		"missing": func(mem *MemFS, name string) { must(t, mem.Remove(name)) },
		"swapped": func(mem *MemFS, name string) { // another valid-looking index
			b, _ := mem.ReadFile(name)
			must(t, mem.WriteFile(name, b[:len(b)-timeEntrySize]))
		},
	}
	for what, fn := range damage {
		for _, ext := range []string{extIndex, extTimeIndex} {
			t.Run(what+ext, func(t *testing.T) {
				mem := NewMemFS()
				c := NewIndexCache(1<<30, 0)
				l, all := indexedLog(t, mem, "/p", c)
				want := encodedIndexes(t, l)
				victim := l.segments[3]
				c.setBudget(0)
				if victim.idx.Load() != nil {
					t.Fatal("not dropped")
				}
				name := segmentName("/p", victim.base, ext)
				if what == "swapped" && ext == extIndex {
					fn = func(mem *MemFS, name string) { // entries of another segment
						b, _ := mem.ReadFile(segmentName("/p", l.segments[4].base, extIndex))
						must(t, mem.WriteFile(name, b))
					}
				}
				fn(mem, name)
				if !bytes.Equal(readAll(t, l), all) {
					t.Fatal("read differs")
				}
				got := encodedIndexes(t, l)[victim.base]
				if !bytes.Equal(got[0], want[victim.base][0]) || !bytes.Equal(got[1], want[victim.base][1]) {
					t.Fatal("rebuilt indexes differ")
				}
				c.setBudget(0)
				if victim.idx.Load() == nil || !victim.testState().needsWrite {
					t.Fatal("rebuilt indexes should stay in memory until written")
				}
				must(t, l.Flush())
				for i, e := range []string{extIndex, extTimeIndex} {
					if b, _ := mem.ReadFile(segmentName("/p", victim.base, e)); !bytes.Equal(b, want[victim.base][i]) {
						t.Fatalf("%s not rewritten", e)
					}
				}
				c.setBudget(0)
				if victim.idx.Load() != nil {
					t.Fatal("not droppable again after the flush")
				}
				got = encodedIndexes(t, l)[victim.base]
				if !bytes.Equal(got[0], want[victim.base][0]) || victim.testState().needsWrite {
					t.Fatal("not reloaded from the rewritten files")
				}
			})
		}
	}
}

// TestIndexReloadCorruptLog: when the index files are bad and the log
// itself no longer frames batches, the lookup fails with a storage error.
func TestIndexReloadCorruptLog(t *testing.T) {
	mem := NewMemFS()
	c := NewIndexCache(0, 0)
	l, _ := indexedLog(t, mem, "/p", c)
	victim := l.segments[2]
	must(t, mem.Remove(segmentName("/p", victim.base, extIndex)))
	b, _ := mem.ReadFile(segmentName("/p", victim.base, extLog))
	b[offMagic] = 7
	must(t, mem.WriteFile(segmentName("/p", victim.base, extLog), b))
	_, err := l.Read(victim.base+1, 100, l.EndOffset())
	wantErr(t, err, ErrStorage)
	_, err = l.ReadRecords(victim.base+1, 100, l.EndOffset())
	wantErr(t, err, ErrStorage)
}

// TestIndexTruncateIntoDropped: a truncation into a sealed segment whose
// indexes were dropped makes it the active segment, with its indexes in
// memory for good.
func TestIndexTruncateIntoDropped(t *testing.T) {
	c := NewIndexCache(0, 0)
	l, all := indexedLog(t, OSFS, t.TempDir(), c)
	s := l.segments[5]
	if s.idx.Load() != nil {
		t.Fatal("not dropped")
	}
	must(t, l.Truncate(s.base+3))
	if l.active() != s || s.idx.Load() == nil || s.testState().droppable {
		t.Fatal("the truncated segment is not active with its indexes")
	}
	end := l.EndOffset()
	got := readAll(t, l)
	if !bytes.Equal(got, all[:len(got)]) || batches(t, got)[len(batches(t, got))-1].LastOffset() != end-1 {
		t.Fatal("read differs")
	}
	for i := range 200 { // appends index it and roll it again
		mustAppend(t, l, valueBatch(2, 40, int64(i)), 1)
	}
	if dropped(l) != len(l.segments)-1 {
		t.Fatalf("%d of %d segments dropped", dropped(l), len(l.segments))
	}
	ref := encodedIndexes(t, l)
	delete(ref, l.active().base) // Close seals it: one more time-index entry
	must(t, l.Close())
	l2, err := Open(l.dir, testConfig(), Options{Indexes: NewIndexCache(1<<30, 0)})
	must(t, err)
	defer l2.Close()
	if got := encodedIndexes(t, l2); len(got) != len(ref)+1 {
		t.Fatal("segments differ after reopen")
	} else {
		for base, w := range ref {
			if !bytes.Equal(got[base][0], w[0]) || !bytes.Equal(got[base][1], w[1]) {
				t.Fatalf("segment %d: indexes differ after reopen", base)
			}
		}
	}
}

// TestIndexCacheIdle: sealed segments' indexes not looked up for an idle
// period or two leave memory even under the budget; those in use stay.
func TestIndexCacheIdle(t *testing.T) {
	c := NewIndexCache(1<<30, 100*time.Millisecond)
	l, all := indexedLog(t, OSFS, t.TempDir(), c)
	waitFor(t, "idle indexes to be dropped", func() bool { return dropped(l) == len(l.segments)-1 && c.Bytes() == 0 })
	if !bytes.Equal(readAll(t, l), all) {
		t.Fatal("read differs")
	}
	s := l.segments[1]
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) { // in use: looked up between any two sweeps
		_, err := l.Read(s.base, 10, l.EndOffset())
		must(t, err)
		if s.idx.Load() == nil {
			t.Fatal("an index in use was dropped")
		}
		time.Sleep(time.Millisecond)
	}
	must(t, l.Close())
	waitFor(t, "the sweep to stop", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.timer == nil
	})
}

// TestIndexCacheConcurrentReaders: readers race to reload indexes a tiny
// cache keeps dropping, beside appends (which roll and retire segments),
// truncations and retention, on several logs sharing the cache.
func TestIndexCacheConcurrentReaders(t *testing.T) {
	c := NewIndexCache(3000, time.Millisecond) // the idle sweep races too
	var logs []*Log
	for range 3 {
		l, _ := indexedLog(t, OSFS, t.TempDir(), c)
		logs = append(logs, l)
	}
	stop := concurrentReaders(t, 8, 5, func(g int, rng *rand.Rand) error {
		l := logs[rng.IntN(len(logs))]
		start, end := l.StartOffset(), l.EndOffset()
		off := start + rng.Int64N(end-start+1)
		var b []byte
		var err error
		switch g % 3 {
		case 0:
			b, err = l.Read(off, rng.IntN(3000), end)
		case 1:
			var r *Records
			if r, err = l.ReadRecords(off, rng.IntN(3000), end); err == nil {
				b, err = r.Bytes()
				r.Release()
			}
		default:
			l.OffsetForTimestamp(int64(1000 + rng.IntN(500)))
		}
		if errors.Is(err, ErrOffsetOutOfRange) {
			return errRetry
		}
		if err == nil {
			err = checkBatches(b, off)
		}
		return err
	})
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range 600 {
		l := logs[rng.IntN(len(logs))]
		switch k := rng.IntN(20); {
		case k < 17:
			mustAppend(t, l, valueBatch(1+rng.IntN(3), 40, int64(2000+i)), 1)
		case k < 19:
			end := l.EndOffset()
			must(t, l.Truncate(end-rng.Int64N(min(end-l.StartOffset(), 30)+1)))
		default:
			must(t, l.SetStartOffset(l.StartOffset()+rng.Int64N((l.EndOffset()-l.StartOffset())/5+1)))
		}
	}
	stop()
	if n := c.Bytes(); n > 3000 {
		t.Fatalf("%d bytes cached, budget 3000", n)
	}
	for _, l := range logs {
		must(t, l.Close())
	}
	if n := c.Bytes(); n != 0 {
		t.Fatalf("%d bytes cached after every log closed", n)
	}
}

// TestIndexMemoryPerGiB measures, on the heap, what the indexes of a log
// written with the default index interval cost per GiB of log when every
// segment keeps them (a budget large enough) and when sealed segments may
// drop them (a budget of 0): the difference is what the budget bounds.
func TestIndexMemoryPerGiB(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 128 MiB")
	}
	for _, tc := range []struct {
		name    string
		n, size int
	}{{"1KiB-batches", 10, 90}, {"16KiB-batches", 16, 1000}} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewIndexCache(1<<40, 0)
			cfg := DefaultConfig()
			cfg.SegmentBytes = 16 << 20
			dir := t.TempDir()
			l, err := Open(dir, cfg, Options{Indexes: c})
			must(t, err)
			defer l.Close()
			batch := valueBatch(tc.n, tc.size, 1_700_000_000_000)
			const total = 128 << 20
			heap := func() uint64 {
				var ms runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&ms)
				return ms.HeapAlloc
			}
			base := heap()
			for written := 0; written < total; written += len(batch) {
				// Growing timestamps: a time-index entry at every offset-index entry.
				setMaxTimestamp(batch, int64(1_700_000_000_000+written))
				mustAppend(t, l, batch, 0)
			}
			l.flushes.Wait()
			full := heap()
			counted := c.Bytes()
			c.setBudget(0)
			bounded := heap()
			perGiB := func(b uint64) string {
				return fmt.Sprintf("%.2f MiB", float64(b)*float64(1<<30)/float64(total)/(1<<20))
			}
			t.Logf("index memory per GiB of log: all in memory %s (heap growth), %s (the cache's count); sealed indexes dropped: heap %+d KiB against the start",
				perGiB(full-base), perGiB(uint64(counted)), (int64(bounded)-int64(base))>>10)
			if bounded >= full {
				t.Fatal("dropping the indexes freed nothing")
			}
		})
	}
}

// setMaxTimestamp rewrites a test batch's max timestamp and CRC.
func setMaxTimestamp(b []byte, ts int64) {
	for i := range 8 {
		b[offMaxTimestamp+i] = byte(uint64(ts) >> (56 - 8*i))
	}
	fixCRC(b)
}

// testState is a copy of what s's dropState holds, the zero state if it has none.
func (s *segment) testState() idxState {
	d := s.drop.Load()
	if d == nil {
		return idxState{}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st
}
