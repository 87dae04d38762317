package log

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"

	mkcompress "github.com/minikraft/minikraft/compress"
)

// kvRecord is a record as read back: offset, key, value (nil: tombstone).
type kvRecord struct {
	offset     int64
	key, value string
	tombstone  bool
}

// records decodes every record of a read result.
func records(t testing.TB, c Codecs, b []byte) []kvRecord {
	t.Helper()
	var out []kvRecord
	for _, h := range batches(t, b) {
		size := h.Size()
		recs, err := batchRecords(c, h, b[:size])
		if err != nil {
			t.Fatalf("batch at %d: %v", h.BaseOffset, err)
		}
		err = forEachRecord(recs, h.NumRecords, func(_ []byte, r recordFields) bool {
			out = append(out, kvRecord{h.BaseOffset + int64(r.offDelta), string(r.key), string(r.value), r.valueNull})
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		b = b[size:]
	}
	return out
}

func kvBatch(ts int64, kvs ...[2]string) []byte {
	recs := make([]testRecord, len(kvs))
	for i, kv := range kvs {
		recs[i] = testRecord{key: []byte(kv[0]), tsDelta: int64(i)}
		if kv[1] != "\x00" {
			recs[i].value = []byte(kv[1])
		}
	}
	return batchSpec{firstTs: ts, records: recs}.build()
}

func compactConfig() Config {
	c := DefaultConfig()
	c.Delete, c.Compact = false, true
	c.SegmentBytes = 16 << 10
	c.IndexIntervalBytes = 512
	c.MinCleanableDirtyRatio = 0
	c.FileDeleteDelayMs = 0
	return c
}

func mustClean(t testing.TB, l *Log, hw int64) CleanStats {
	t.Helper()
	st, err := l.Clean(hw)
	if err != nil {
		t.Fatalf("Clean: %v", err)
	}
	return st
}

// roll forces a roll by appending with a segment.ms in the past.
func forceRoll(t testing.TB, l *Log) {
	t.Helper()
	l.wmu.Lock()
	err := l.roll()
	l.wmu.Unlock()
	must(t, err)
}

// TestCompaction is the compaction "must show" at log level: 100
// keys written 100 times read back, after cleaning, with one value per key
// (the last), at its original offset; tombstones go after
// delete.retention.ms.
func TestCompaction(t *testing.T) {
	mem := NewMemFS()
	clock := &fakeClock{ms: 1_700_000_000_000}
	cfg := compactConfig()
	cfg.DeleteRetentionMs = 1000
	l := memLog(t, mem, "/c", cfg, clock)
	last := map[string]kvRecord{}
	for round := range 100 {
		var kvs [][2]string
		for k := range 100 {
			kvs = append(kvs, [2]string{fmt.Sprintf("key-%02d", k), fmt.Sprintf("value-%02d-%03d", k, round)})
			if len(kvs) == 10 {
				res := mustAppend(t, l, kvBatch(clock.ms, kvs...), 0)
				for i, kv := range kvs {
					last[kv[0]] = kvRecord{res.BaseOffset + int64(i), kv[0], kv[1], false}
				}
				kvs = kvs[:0]
			}
		}
	}
	forceRoll(t, l)
	end := l.EndOffset()
	before := l.Size()
	st := mustClean(t, l, end)
	if !st.Cleaned || st.End != end || st.RecordsRemoved != 9900 {
		t.Fatalf("clean: %+v", st)
	}
	if l.EndOffset() != end || l.StartOffset() != 0 || l.Size() >= before/10 {
		t.Fatalf("[%d, %d) %d bytes (was %d)", l.StartOffset(), l.EndOffset(), l.Size(), before)
	}
	check := func(want map[string]kvRecord) {
		t.Helper()
		got := records(t, nil, readAll(t, l))
		if len(got) != len(want) {
			t.Fatalf("%d records, want %d", len(got), len(want))
		}
		for _, r := range got {
			if w := want[r.key]; w != r {
				t.Fatalf("record %+v, want %+v", r, w)
			}
		}
	}
	check(last)

	// Tombstones for ten keys: kept by the first clean (which sets their
	// delete horizon), gone from the first clean after delete.retention.ms.
	var tomb [][2]string
	for k := range 10 {
		tomb = append(tomb, [2]string{fmt.Sprintf("key-%02d", k), "\x00"})
	}
	res := mustAppend(t, l, kvBatch(clock.ms, tomb...), 0)
	for i, kv := range tomb {
		last[kv[0]] = kvRecord{res.BaseOffset + int64(i), kv[0], "", true}
	}
	forceRoll(t, l)
	mustClean(t, l, l.EndOffset())
	check(last)
	clock.ms += 1001
	mustAppend(t, l, kvBatch(clock.ms, [2]string{"key-50", "new"}), 0)
	forceRoll(t, l)
	last["key-50"] = kvRecord{l.EndOffset() - 1, "key-50", "new", false}
	mustClean(t, l, l.EndOffset())
	for k := range 10 {
		delete(last, fmt.Sprintf("key-%02d", k))
	}
	check(last)

	// The result survives a crash (everything was synced by the cleaner)
	// and a reopen.
	want := readAll(t, l)
	must(t, l.Flush())
	mem = mem.Crash()
	l.Close()
	l = memLog(t, mem, "/c", cfg, clock)
	if !bytes.Equal(readAll(t, l), want) {
		t.Fatal("cleaned log differs after a crash")
	}
	check(last)
}

// TestCompactionBounds: the active segment, records at or above the high
// watermark and records younger than min.compaction.lag.ms stay dirty; the
// dirty ratio must exceed min.cleanable.dirty.ratio.
func TestCompactionBounds(t *testing.T) {
	mem := NewMemFS()
	clock := &fakeClock{ms: 1_700_000_000_000}
	cfg := compactConfig()
	l := memLog(t, mem, "/c", cfg, clock)
	for range 50 {
		mustAppend(t, l, kvBatch(clock.ms, [2]string{"k", "v"}), 0)
	}
	// Everything is in the active segment: nothing to clean.
	if st := mustClean(t, l, l.EndOffset()); st.Cleaned {
		t.Fatalf("cleaned the active segment: %+v", st)
	}
	forceRoll(t, l)
	hw := l.EndOffset() - 10
	mustClean(t, l, hw)
	got := records(t, nil, readAll(t, l))
	if len(got) != 11 || got[0].offset != hw-1 {
		t.Fatalf("kept %d records from %d, want 11 from %d", len(got), got[0].offset, hw-1)
	}

	// min.compaction.lag.ms
	cfg.MinCompactionLagMs = 5000
	l.SetConfig(cfg)
	for range 20 {
		mustAppend(t, l, kvBatch(clock.ms, [2]string{"k", "v"}), 0)
	}
	forceRoll(t, l)
	if st := mustClean(t, l, l.EndOffset()); st.Cleaned && st.End > hw {
		t.Fatalf("cleaned records younger than the lag: %+v", st)
	}
	clock.ms += 5001
	if st := mustClean(t, l, l.EndOffset()); !st.Cleaned || st.End != l.EndOffset() {
		t.Fatalf("did not clean once the lag passed: %+v", st)
	}
	if n := len(records(t, nil, readAll(t, l))); n != 1 {
		t.Fatalf("%d records, want 1", n)
	}

	// min.cleanable.dirty.ratio
	cfg.MinCompactionLagMs, cfg.MinCleanableDirtyRatio = 0, 0.5
	l.SetConfig(cfg)
	for range 50 {
		mustAppend(t, l, kvBatch(clock.ms, [2]string{"other", "v"}, [2]string{"more", "v"}), 0)
	}
	forceRoll(t, l)
	st := mustClean(t, l, l.EndOffset())
	if !st.Cleaned || st.DirtyRatio <= 0.5 {
		t.Fatalf("%+v", st)
	}
	mustAppend(t, l, kvBatch(clock.ms, [2]string{"k", "v"}), 0)
	forceRoll(t, l)
	if st := mustClean(t, l, l.EndOffset()); st.Cleaned || st.DirtyRatio >= 0.5 {
		t.Fatalf("cleaned below the ratio: %+v", st)
	}
	// max.compaction.lag.ms forces it.
	cfg.MaxCompactionLagMs = 1000
	l.SetConfig(cfg)
	clock.ms += 1001
	if st := mustClean(t, l, l.EndOffset()); !st.Cleaned {
		t.Fatalf("max.compaction.lag.ms did not force a clean: %+v", st)
	}
	// Not compacted: nothing.
	cfg.Compact = false
	l.SetConfig(cfg)
	mustAppend(t, l, kvBatch(clock.ms, [2]string{"k", "v"}), 0)
	forceRoll(t, l)
	if st := mustClean(t, l, l.EndOffset()); st.Cleaned {
		t.Fatal("cleaned a delete-only log")
	}
}

// TestCompactionProducerState: the last batch of each producer id stays,
// empty if need be, with its sequence; offsets and the last batch of the
// cleaned range stay too, so a follower replicating the compacted log
// ends at the same offset.
func TestCompactionProducerState(t *testing.T) {
	mem := NewMemFS()
	clock := &fakeClock{ms: 1_700_000_000_000}
	cfg := compactConfig()
	l := memLog(t, mem, "/c", cfg, clock)
	for i := range 10 {
		b := batchSpec{firstTs: clock.ms, producerID: 7, producerEpoch: 1, baseSeq: int32(2 * i),
			records: []testRecord{{key: []byte("a"), value: []byte("x")}, {key: []byte("b"), value: []byte("y")}}}.build()
		mustAppend(t, l, b, 0)
	}
	mustAppend(t, l, kvBatch(clock.ms, [2]string{"a", "z"}, [2]string{"b", "z"}), 0) // no producer id
	mustAppend(t, l, kvBatch(clock.ms, [2]string{"c", "1"}), 0)
	forceRoll(t, l)
	end := l.EndOffset()
	mustClean(t, l, end)
	data := readAll(t, l)
	hs := batches(t, data)
	var pidBatches []BatchHeader
	for _, h := range hs {
		if h.ProducerID == 7 {
			pidBatches = append(pidBatches, h)
		}
	}
	if len(pidBatches) != 1 || pidBatches[0].NumRecords != 0 || pidBatches[0].BaseSequence != 18 ||
		pidBatches[0].BaseOffset != 18 || pidBatches[0].LastOffset() != 19 || pidBatches[0].ProducerEpoch != 1 {
		t.Fatalf("producer 7's batches after cleaning: %+v", pidBatches)
	}
	if got := records(t, nil, data); len(got) != 3 || got[0].offset != 20 || got[2].key != "c" {
		t.Fatalf("records %+v", got)
	}
	// A follower copies the sparse log (gaps in the offsets) and ends at
	// the same offset.
	f := memLog(t, mem, "/f", DefaultConfig(), clock)
	if _, err := f.AppendReplicated(data); err != nil {
		t.Fatal(err)
	}
	if f.EndOffset() != end {
		t.Fatalf("follower ends at %d, want %d", f.EndOffset(), end)
	}
	// OffsetForTimestamp copes with the gaps.
	if off, _, ok := l.OffsetForTimestamp(clock.ms); !ok || off != 20 { // the empty batch has no record
		t.Fatalf("OffsetForTimestamp: %d %v", off, ok)
	}
}

// TestCompactionCompressed: gzip batches are rewritten compressed; a
// codec the log lacks keeps its batches whole (they can only come from a
// leader: Append refuses them); Options.Codecs supplies one.
func TestCompactionCompressed(t *testing.T) {
	gz := func(kvs ...[2]string) []byte {
		plain := kvBatch(1, kvs...)
		h := decodeHeader(plain)
		z, err := compress(mkcompress.Codecs{}, 1, nil, plain[BatchHeaderSize:])
		must(t, err)
		return batchSpec{firstTs: 1, attrs: 1, rawRecords: z, numRecords: h.NumRecords}.build()
	}
	fake := func(kvs ...[2]string) []byte { // codec 4 as "reverse the bytes"
		plain := kvBatch(1, kvs...)
		h := decodeHeader(plain)
		return batchSpec{firstTs: 1, attrs: 4, rawRecords: reversed(plain[BatchHeaderSize:]), numRecords: h.NumRecords}.build()
	}
	for _, c := range []struct {
		name       string
		codecs     Codecs
		build      func(...[2]string) []byte
		wantCodec  int
		compressed bool // the cleaner could read it
	}{
		{"gzip", mkcompress.Codecs{}, gz, 1, true},
		{"no codec", nil, fake, 4, false},
		{"codec", reverseCodec{}, fake, 4, true},
		{"decompress only", decompressOnly{}, fake, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := NewMemFS()
			clock := &fakeClock{ms: 1_700_000_000_000}
			l, err := Open("/c", compactConfig(), Options{FS: mem, Now: clock.now, Codecs: c.codecs})
			must(t, err)
			defer l.Close()
			for _, b := range [][]byte{c.build([2]string{"a", "1"}, [2]string{"b", "1"}), c.build([2]string{"a", "2"}, [2]string{"c", "2"})} {
				if c.codecs != nil {
					mustAppend(t, l, b, 0)
					continue
				}
				end := l.EndOffset()
				if _, err := l.Append(b, 0); !errors.Is(err, ErrCorruptBatch) || l.EndOffset() != end {
					t.Fatalf("Append without the codec: %v, end %d", err, l.EndOffset())
				}
				setBaseOffset(b, end)
				fixCRC(b)
				if _, err := l.AppendReplicated(b); err != nil {
					t.Fatal(err)
				}
			}
			mustAppend(t, l, kvBatch(1, [2]string{"d", "3"}), 0)
			forceRoll(t, l)
			mustClean(t, l, l.EndOffset())
			data := readAll(t, l)
			got := records(t, readAnyCodec{}, data)
			want := []kvRecord{{1, "b", "1", false}, {2, "a", "2", false}, {3, "c", "2", false}, {4, "d", "3", false}}
			if !c.compressed {
				want = append([]kvRecord{{0, "a", "1", false}}, want...)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("records %v, want %v", got, want)
			}
			if h := batches(t, data)[0]; h.Compression() != c.wantCodec {
				t.Fatalf("first batch codec %d, want %d", h.Compression(), c.wantCodec)
			}
		})
	}
}

type reverseCodec struct{}

// readAnyCodec reads the real codecs and reverseCodec's codec 4.
type readAnyCodec struct{ mkcompress.Codecs }

func (readAnyCodec) Decompress(codec int, dst, src []byte) ([]byte, error) {
	if codec == 4 {
		return reverseCodec{}.Decompress(codec, dst, src)
	}
	return mkcompress.Codecs{}.Decompress(codec, dst, src)
}

// decompressOnly reads codec 4 but cannot write it.
type decompressOnly struct{ reverseCodec }

func (decompressOnly) Compress(int, []byte, []byte) ([]byte, error) { return nil, errNoCodec }

func reversed(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[len(b)-1-i] = c
	}
	return out
}

func (reverseCodec) Decompress(codec int, dst, src []byte) ([]byte, error) {
	if codec != 4 {
		return nil, errNoCodec
	}
	return append(dst, reversed(src)...), nil
}

func (reverseCodec) Compress(codec int, dst, src []byte) ([]byte, error) {
	if codec != 4 {
		return nil, errNoCodec
	}
	return append(dst, reversed(src)...), nil
}

// TestCompactedTopicNeedsKeys: Append refuses a record without a key on a
// compacted topic, as Kafka does.
func TestCompactedTopicNeedsKeys(t *testing.T) {
	l := openLog(t, t.TempDir(), compactConfig())
	b := batchSpec{records: []testRecord{{key: []byte("k"), value: []byte("v")}, {value: []byte("v")}}}.build()
	_, err := l.Append(b, 0)
	wantErr(t, err, ErrInvalidRecord)
	if !strings.Contains(err.Error(), "without key") {
		t.Fatal(err)
	}
	mustAppend(t, l, kvBatch(1, [2]string{"k", "v"}), 0)
}

// TestCompactionCrash: a crash at each step of the swap leaves either the
// old segments or the cleaned one, never a mix, and Open completes or
// undoes the swap.
func TestCompactionCrash(t *testing.T) {
	for _, step := range []string{".index.swap", ".log.swap", ".log.deleted", ".log"} {
		t.Run(step, func(t *testing.T) {
			mem := NewMemFS()
			hfs := &hookFS{FS: mem}
			clock := &fakeClock{ms: 1_700_000_000_000}
			cfg := compactConfig()
			l, err := Open("/c", cfg, Options{FS: hfs, Now: clock.now})
			must(t, err)
			for i := range 300 {
				mustAppend(t, l, kvBatch(clock.ms, [2]string{fmt.Sprint(i % 7), fmt.Sprint(i)}), 0)
			}
			forceRoll(t, l)
			must(t, l.Flush())
			before := records(t, nil, readAll(t, l))
			crashed := errors.New("crash")
			var once sync.Once
			hfs.setRename(func(old, new string) error {
				var err error
				if strings.HasSuffix(new, step) {
					once.Do(func() { err = crashed })
				}
				return err
			})
			_, err = l.Clean(l.EndOffset())
			if err == nil {
				t.Fatal("the crash did not happen")
			}
			mem = mem.Crash()
			l.Close()
			l = memLog(t, mem, "/c", cfg, clock)
			// Each group is either cleaned or not: every record left was
			// there before, at its offset, and each key's latest is left.
			after := records(t, nil, readAll(t, l))
			latest := map[string]kvRecord{}
			old := map[int64]kvRecord{}
			for _, r := range before {
				latest[r.key], old[r.offset] = r, r
			}
			for i, r := range after {
				if old[r.offset] != r || (i > 0 && r.offset <= after[i-1].offset) {
					t.Fatalf("record %+v after the crash", r)
				}
				if latest[r.key] == r {
					delete(latest, r.key)
				}
			}
			if len(latest) > 0 {
				t.Fatalf("lost the latest records %v", latest)
			}
			cleaned := len(after) < len(before)
			if want := step != ".index.swap" && step != ".log.swap"; cleaned != want {
				t.Fatalf("cleaned: %v, want %v (%d of %d records)", cleaned, want, len(after), len(before))
			}
			for _, r := range before {
				latest[r.key] = r
			}
			names, _ := mem.ReadDir("/c")
			for _, n := range names {
				if strings.HasSuffix(n, swapSuffix) || strings.HasSuffix(n, cleanedSuffix) || strings.HasSuffix(n, deletedSuffix) {
					t.Fatalf("%s left after Open", n)
				}
			}
			// The log works: a later clean finishes the job.
			mustAppend(t, l, kvBatch(clock.ms, [2]string{"x", "y"}), 0)
			forceRoll(t, l)
			mustClean(t, l, l.EndOffset())
			if got := records(t, nil, readAll(t, l)); len(got) != len(latest)+1 {
				t.Fatalf("%d records after a second clean, want %d", len(got), len(latest)+1)
			}
		})
	}
}

// TestCompactionAborted: a truncation during a clean makes it give up
// without touching the log.
func TestCompactionAborted(t *testing.T) {
	mem := NewMemFS()
	hfs := &hookFS{FS: mem}
	clock := &fakeClock{ms: 1_700_000_000_000}
	l, err := Open("/c", compactConfig(), Options{FS: hfs, Now: clock.now})
	must(t, err)
	defer l.Close()
	for i := range 300 {
		mustAppend(t, l, kvBatch(clock.ms, [2]string{fmt.Sprint(i % 7), fmt.Sprint(i)}), 0)
	}
	forceRoll(t, l)
	var once sync.Once
	hfs.setOpen(func(name string) {
		if strings.HasSuffix(name, cleanedSuffix) {
			once.Do(func() { must(t, l.Truncate(250)) })
		}
	})
	st, err := l.Clean(l.EndOffset())
	if err != nil || !st.Aborted {
		t.Fatalf("%+v %v", st, err)
	}
	if got := records(t, nil, readAll(t, l)); len(got) != 250 {
		t.Fatalf("%d records, want 250", len(got))
	}
	names, _ := mem.ReadDir("/c")
	for _, n := range names {
		if strings.Contains(n, cleanedSuffix) || strings.Contains(n, swapSuffix) {
			t.Fatalf("%s left behind", n)
		}
	}
}

// TestCompactionConcurrent cleans while appends and reads go on.
func TestCompactionConcurrent(t *testing.T) {
	cfg := compactConfig()
	cfg.SegmentBytes = 4096
	l := openLog(t, t.TempDir(), cfg)
	stop := concurrentReaders(t, 1, 0, func(int, *rand.Rand) error {
		b, err := l.Read(l.StartOffset(), 64<<10, l.EndOffset())
		if err == nil {
			batches(t, b)
		}
		return err
	})
	for i := range 2000 {
		mustAppend(t, l, kvBatch(int64(i), [2]string{fmt.Sprint(i % 13), fmt.Sprint(i)}), 0)
		if i%100 == 0 {
			if _, err := l.Clean(l.EndOffset()); err != nil {
				t.Fatal(err)
			}
		}
	}
	stop()
	forceRoll(t, l)
	mustClean(t, l, l.EndOffset())
	if got := records(t, nil, readAll(t, l)); len(got) != 13 {
		t.Fatalf("%d records, want 13", len(got))
	}
}

// hookFS wraps an FS with hooks on rename and open (background flushes
// call it too, hence the lock).
type hookFS struct {
	FS
	mu     sync.Mutex
	rename func(old, new string) error
	open   func(name string)
}

func (h *hookFS) setRename(fn func(old, new string) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rename = fn
}

func (h *hookFS) setOpen(fn func(name string)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.open = fn
}

func (h *hookFS) Rename(old, new string) error {
	h.mu.Lock()
	fn := h.rename
	h.mu.Unlock()
	if fn != nil {
		if err := fn(old, new); err != nil {
			return err
		}
	}
	return h.FS.Rename(old, new)
}

func (h *hookFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	h.mu.Lock()
	fn := h.open
	h.mu.Unlock()
	if fn != nil {
		fn(name)
	}
	return h.FS.OpenFile(name, flag, perm)
}
