package log

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// activeIndexes returns the active segment's published indexes.
func activeIndexes(l *Log) *segIndexes {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.active().mustIndexes()
}

// checkLookups checks, for every offset of the log, that a read starting
// there begins with the batch holding it, and for every batch that the
// timestamp lookup answers as a scan of the batches would.
func checkLookups(t *testing.T, l *Log, want []AppendResult) {
	t.Helper()
	end := l.EndOffset()
	for i, res := range want {
		for _, off := range []int64{res.BaseOffset, res.LastOffset} {
			b, err := l.Read(off, 1, end)
			must(t, err)
			if hs := batches(t, b); len(hs) != 1 || hs[0].BaseOffset != res.BaseOffset {
				t.Fatalf("Read(%d) gave %v, want the batch at %d", off, hs, res.BaseOffset)
			}
			r, err := l.ReadRecords(off, 1, end)
			must(t, err)
			rb, err := r.Bytes()
			r.Release()
			must(t, err)
			if hs := batches(t, rb); len(hs) != 1 || hs[0].BaseOffset != res.BaseOffset {
				t.Fatalf("ReadRecords(%d) gave %v, want the batch at %d", off, hs, res.BaseOffset)
			}
		}
		// Timestamps grow with the offsets: the first record at or after
		// a batch's max timestamp is in that batch or the next.
		off, _, ok := l.OffsetForTimestamp(res.MaxTimestamp)
		if !ok || off < res.BaseOffset || off > res.LastOffset+1 {
			t.Fatalf("OffsetForTimestamp(%d) = %d, %v; batch %d holds [%d, %d]", res.MaxTimestamp, off, ok, i, res.BaseOffset, res.LastOffset)
		}
	}
}

// TestSpillBoundsActiveIndexes appends to one large active segment and
// checks that its indexes in memory stay within two blocks while the
// lookups still find every batch, before and after clean and unclean
// reopens.
func TestSpillBoundsActiveIndexes(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.IndexIntervalBytes = 0 // an entry for every batch but the first
	const block = 16
	open := func() *Log {
		l, err := Open(dir, cfg, Options{spillBlock: block})
		must(t, err)
		t.Cleanup(func() { l.Close() })
		return l
	}
	l := open()
	var res []AppendResult
	const n = 40*block + 7
	for i := range n {
		res = append(res, mustAppend(t, l, valueBatch(1+i%3, 20, int64(1000+10*i)), 0))
		x := activeIndexes(l)
		if len(x.oidx) >= 2*block || len(x.tidx) >= 2*block {
			t.Fatalf("after %d batches: %d offset and %d time entries in memory", i+1, len(x.oidx), len(x.tidx))
		}
	}
	x := activeIndexes(l)
	if x.sp == nil || x.sp.nOff < n-3*block {
		t.Fatalf("spill %+v: want most of %d entries only in the file", x.sp, n)
	}
	if n := len(segmentFiles(t, dir)); n != 1 {
		t.Fatalf("%d segments, want 1", n)
	}
	checkLookups(t, l, res)

	must(t, l.Close())
	l = open()
	if x := activeIndexes(l); x.sp == nil || len(x.oidx) >= 2*block {
		t.Fatalf("after a clean reopen: %d offset entries in memory, spill %v", len(x.oidx), x.sp)
	}
	checkLookups(t, l, res)

	crash(t, l, dir)
	l = open()
	if x := activeIndexes(l); x.sp == nil || len(x.oidx) >= 2*block {
		t.Fatalf("after recovery: %d offset entries in memory, spill %v", len(x.oidx), x.sp)
	}
	checkLookups(t, l, res)
}

// TestSpillTruncateAndRoll truncates into entries that are only in the
// files, appends on, and rolls: the indexes written then must be exactly
// those a rebuild from the log gives.
func TestSpillTruncateAndRoll(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.IndexIntervalBytes = 0
	l, err := Open(dir, cfg, Options{spillBlock: 4})
	must(t, err)
	t.Cleanup(func() { l.Close() })
	var res []AppendResult
	for i := range 100 {
		res = append(res, mustAppend(t, l, valueBatch(2, 10, int64(5000+i)), 0))
	}
	cut := res[30].BaseOffset
	must(t, l.Truncate(cut))
	res = res[:30]
	for i := range 50 {
		res = append(res, mustAppend(t, l, valueBatch(1, 30, int64(9000+i)), 0))
	}
	checkLookups(t, l, res)
	l.wmu.Lock()
	err = l.roll()
	l.wmu.Unlock()
	must(t, err)
	res = append(res, mustAppend(t, l, valueBatch(1, 30, 20000), 0))
	checkLookups(t, l, res)

	// The sealed segment's files hold what a rebuild from its batches gives.
	l.wmu.Lock()
	s := l.segments[0]
	full, err := s.materialize(s.mustIndexesOrLoad(t, l))
	if err == nil {
		d := l.dropStateOf(s)
		d.mu.Lock()
		var rebuilt *segIndexes
		rebuilt, err = l.rebuildIndexes(s)
		d.mu.Unlock()
		if err == nil && (string(rebuilt.oidx.encode(nil)) != string(full.oidx.encode(nil)) ||
			string(rebuilt.tidx.encode(nil)) != string(full.tidx.encode(nil))) {
			err = fmt.Errorf("indexes %d/%d entries, rebuilt %d/%d", len(full.oidx), len(full.tidx), len(rebuilt.oidx), len(rebuilt.tidx))
		}
	}
	l.wmu.Unlock()
	must(t, err)
}

// mustIndexesOrLoad returns s's indexes, loading them if the cache
// dropped them.
func (s *segment) mustIndexesOrLoad(t *testing.T, l *Log) *segIndexes {
	t.Helper()
	x, err := l.indexes(s)
	must(t, err)
	return x
}

// TestSpillConcurrentReads reads at random offsets while appends spill
// blocks of two entries (run it with -race).
func TestSpillConcurrentReads(t *testing.T) {
	cfg := DefaultConfig()
	cfg.IndexIntervalBytes = 0
	cfg.SegmentBytes = 64 << 10
	l, err := Open(t.TempDir(), cfg, Options{spillBlock: 2})
	must(t, err)
	t.Cleanup(func() { l.Close() })
	mustAppend(t, l, valueBatch(1, 10, 1), 0)
	stop := concurrentReaders(t, 3, 7, func(_ int, rng *rand.Rand) error {
		end := l.EndOffset()
		off := rng.Int64N(end)
		r, err := l.ReadRecords(off, 1+rng.IntN(4096), end)
		if err != nil {
			return err
		}
		b, err := r.Bytes()
		r.Release()
		if err != nil {
			return err
		}
		if len(b) < BatchHeaderSize {
			return fmt.Errorf("ReadRecords(%d): %d bytes", off, len(b))
		}
		h, err := ParseBatchHeader(b)
		if err != nil {
			return err
		}
		if off < h.BaseOffset || off > h.LastOffset() {
			return fmt.Errorf("ReadRecords(%d) began with [%d, %d]", off, h.BaseOffset, h.LastOffset())
		}
		if o, _, ok := l.OffsetForTimestamp(h.MaxTimestamp); !ok || o > h.LastOffset() {
			return fmt.Errorf("OffsetForTimestamp(%d) = %d, %v; the batch at %d has it", h.MaxTimestamp, o, ok, h.BaseOffset)
		}
		return nil
	})
	for i := range 3000 {
		mustAppend(t, l, valueBatch(1+i%4, 20, int64(2+i)), 0)
	}
	stop()
}

// spilledLog opens a log in dir indexing every batch, spilling blocks of
// 8 entries, and appends n one-record batches with timestamps 0, 1, ...
func spilledLog(t *testing.T, dir string, n int) (*Log, []AppendResult) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.IndexIntervalBytes = 0
	l, err := Open(dir, cfg, Options{spillBlock: 8})
	must(t, err)
	t.Cleanup(func() { l.Close() })
	var res []AppendResult
	for i := range n {
		res = append(res, mustAppend(t, l, valueBatch(1, 10, int64(i)), 0))
	}
	return l, res
}

// breakIndexEntry makes entry 3 of segment 0's offset index (in dropped
// block 0) point far beyond entry 4, and returns the file as it was.
func breakIndexEntry(t *testing.T, dir string) (good []byte) {
	t.Helper()
	name := filepath.Join(dir, segmentBaseName(0)+extIndex)
	good, err := os.ReadFile(name)
	must(t, err)
	bad := append([]byte(nil), good...)
	bad[3*offsetEntrySize+4] = 0x7f
	must(t, os.WriteFile(name, bad, 0o644))
	return good
}

// TestSpillCorruptIndexBlock changes an entry of a block that is only in
// the index file: a lookup that needs the block fails with ErrStorage
// rather than serve from a wrong position.
func TestSpillCorruptIndexBlock(t *testing.T) {
	dir := t.TempDir()
	l, res := spilledLog(t, dir, 200)
	breakIndexEntry(t, dir)
	_, err := l.Read(res[4].BaseOffset, 1, l.EndOffset())
	if !errors.Is(err, ErrStorage) {
		t.Fatalf("Read over a changed index block: %v, want ErrStorage", err)
	}
	// Lookups in memory are unaffected.
	last := res[len(res)-1]
	if _, err := l.Read(last.BaseOffset, 1, l.EndOffset()); err != nil {
		t.Fatal(err)
	}
}

// TestSpillRollWithChangedIndexFile rolls an active segment whose index
// file changed under it: the sealed segment's indexes are rebuilt from the
// log (lookups keep working), and the next flush writes the files again.
func TestSpillRollWithChangedIndexFile(t *testing.T) {
	dir := t.TempDir()
	l, res := spilledLog(t, dir, 100)
	good := breakIndexEntry(t, dir)
	l.wmu.Lock()
	err := l.roll()
	l.wmu.Unlock()
	must(t, err)
	res = append(res, mustAppend(t, l, valueBatch(1, 10, 100), 0))
	checkLookups(t, l, res)
	must(t, l.Flush())
	now, err := os.ReadFile(filepath.Join(dir, segmentBaseName(0)+extIndex))
	must(t, err)
	if string(now[:len(good)]) != string(good) {
		t.Fatal("the flush did not write the rebuilt index")
	}
	must(t, l.Close())
	cfg := DefaultConfig()
	cfg.IndexIntervalBytes = 0
	l2, err := Open(dir, cfg, Options{spillBlock: 8})
	must(t, err)
	t.Cleanup(func() { l2.Close() })
	checkLookups(t, l2, res)
}

// TestPersistIndexRefusesAGap: entries only in the file cannot be written
// again, so a file that lacks some of them is an error, not a hole.
func TestPersistIndexRefusesAGap(t *testing.T) {
	fsys := NewMemFS()
	disk := int32(-1)
	mem := offsetIndex{{rel: 9, pos: 90}}.encode(nil)
	if err := persistIndex(fsys, "/x.index", mem, 4, offsetEntrySize, &disk, false); err == nil {
		t.Fatal("persistIndex wrote entries 4.. to a file to be recreated")
	}
	disk = 2
	if err := persistIndex(fsys, "/x.index", mem, 4, offsetEntrySize, &disk, false); err == nil {
		t.Fatal("persistIndex wrote entries 4.. to a file of 2")
	}
}
