package log

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

func TestAppendReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	rng := rand.New(rand.NewPCG(1, 2))
	var want []BatchHeader
	var payloads [][]byte
	next := int64(0)
	for i := range 300 {
		n := 1 + rng.IntN(10)
		b := valueBatch(n, rng.IntN(200), int64(1000+i))
		res := mustAppend(t, l, b, 3)
		if res.BaseOffset != next || res.LastOffset != next+int64(n)-1 || res.LogAppendTime != -1 {
			t.Fatalf("append %d: %+v, want base %d", i, res, next)
		}
		h, _ := ParseBatchHeader(b)
		if h.BaseOffset != next || h.PartitionLeaderEpoch != 3 {
			t.Fatalf("batch not rewritten in place: %+v", h)
		}
		want = append(want, h)
		payloads = append(payloads, b)
		next += int64(n)
	}
	if l.EndOffset() != next || l.StartOffset() != 0 {
		t.Fatalf("offsets [%d, %d), want [0, %d)", l.StartOffset(), l.EndOffset(), next)
	}
	all, err := l.Read(0, 1<<30, next)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(all, bytes.Join(payloads, nil)) {
		t.Fatal("full read differs from what was appended")
	}
	if l.Size() != int64(len(all)) {
		t.Fatalf("Size %d, want %d", l.Size(), len(all))
	}
	// From every offset, the first batch returned holds it.
	for off := int64(0); off < next; off++ {
		hs := mustRead(t, l, off, 1, next)
		if len(hs) != 1 || hs[0].BaseOffset > off || hs[0].LastOffset() < off {
			t.Fatalf("Read(%d) = %+v", off, hs)
		}
	}
	// Paging through with small maxBytes sees every batch once, in order.
	var got []BatchHeader
	for off := int64(0); off < next; {
		hs := mustRead(t, l, off, 700, next)
		got = append(got, hs...)
		off = hs[len(hs)-1].LastOffset() + 1
	}
	if len(got) != len(want) {
		t.Fatalf("paged %d batches, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("batch %d: %+v want %+v", i, got[i], want[i])
		}
	}
}

func TestReadAtLeastOneBatch(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	big := valueBatch(4, 1000, 0)
	mustAppend(t, l, big, 0)
	mustAppend(t, l, simpleBatch(1, 0), 0)
	for _, maxBytes := range []int{0, 1, len(big) - 1, len(big)} {
		b, err := l.Read(2, maxBytes, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != len(big) || len(batches(t, b)) != 1 {
			t.Fatalf("maxBytes %d: got %d bytes, want exactly the first batch (%d)", maxBytes, len(b), len(big))
		}
	}
	hs := mustRead(t, l, 0, len(big)+1000, 100)
	if len(hs) != 2 {
		t.Fatalf("roomy read returned %d batches", len(hs))
	}
	// A partial second batch is never returned.
	b, _ := l.Read(0, len(big)+10, 100)
	if len(b) != len(big) {
		t.Fatalf("read with room for part of the second batch returned %d bytes", len(b))
	}
}

func TestReadMaxOffset(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	for range 5 {
		mustAppend(t, l, simpleBatch(2, 0), 0) // batches at 0,2,4,6,8
	}
	cases := []struct {
		off, maxOffset int64
		batches        int
	}{
		{0, 10, 5}, {0, 4, 2}, {0, 5, 3}, {0, 1, 1}, {3, 4, 1}, {4, 4, 0}, {6, 4, 0}, {0, 1 << 40, 5},
	}
	for _, c := range cases {
		b, err := l.Read(c.off, 1<<20, c.maxOffset)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		if n := len(batches(t, b)); n != c.batches {
			t.Fatalf("Read(%d, max %d): %d batches, want %d", c.off, c.maxOffset, n, c.batches)
		}
	}
}

func TestReadOutOfRange(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	for range 4 {
		mustAppend(t, l, simpleBatch(5, 0), 0)
	}
	if err := l.SetStartOffset(5); err != nil {
		t.Fatal(err)
	}
	_, err := l.Read(4, 100, 100)
	wantErr(t, err, ErrOffsetOutOfRange)
	_, err = l.Read(21, 100, 100)
	wantErr(t, err, ErrOffsetOutOfRange)
	b, err := l.Read(20, 100, 100)
	if err != nil || len(b) != 0 {
		t.Fatalf("read at end: %d bytes, %v", len(b), err)
	}
	// The batch holding the start offset is returned whole.
	hs := mustRead(t, l, 5, 1, 100)
	if hs[0].BaseOffset != 5 {
		t.Fatalf("read at start got batch %d", hs[0].BaseOffset)
	}
}

func TestRolling(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 4096
	l := openLog(t, dir, cfg)
	var all [][]byte
	for i := range 60 {
		b := valueBatch(3, 100, int64(i))
		mustAppend(t, l, b, 0)
		all = append(all, b)
	}
	segs := segmentFiles(t, dir)
	if len(segs) < 5 {
		t.Fatalf("%d segments, want at least 5", len(segs))
	}
	for i, s := range segs {
		if sz := fileSize(t, s); sz > cfg.SegmentBytes {
			t.Fatalf("segment %s is %d bytes", s, sz)
		}
		if i > 0 && filepath.Base(s) <= filepath.Base(segs[i-1]) {
			t.Fatal("segments not in offset order")
		}
	}
	// Names are base offsets: each segment starts with a batch at its name.
	for _, s := range segs {
		data, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		h, err := ParseBatchHeader(data)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("%020d.log", h.BaseOffset); filepath.Base(s) != want {
			t.Fatalf("segment %s starts with offset %d", s, h.BaseOffset)
		}
	}
	// One big read crosses every boundary and returns everything.
	b, err := l.Read(0, 1<<20, l.EndOffset())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, bytes.Join(all, nil)) {
		t.Fatal("cross-segment read differs")
	}
	// Reads starting in the middle cross too.
	hs := mustRead(t, l, 100, 3000, l.EndOffset())
	if hs[0].BaseOffset != 99 || len(hs) < 5 {
		t.Fatalf("mid read: first %d, %d batches", hs[0].BaseOffset, len(hs))
	}
	// A batch larger than segment.bytes gets its own segment.
	huge := valueBatch(2, 5000, 0)
	res := mustAppend(t, l, huge, 0)
	mustAppend(t, l, simpleBatch(1, 0), 0)
	if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("%020d.log", res.BaseOffset))); err != nil {
		t.Fatalf("big batch not in its own segment: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("%020d.log", res.LastOffset+1))); err != nil {
		t.Fatalf("no segment after the big batch: %v", err)
	}
}

func TestRollBySegmentMs(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentMs = 1000
	clock := &fakeClock{ms: 50_000}
	l, err := Open(dir, cfg, Options{Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	mustAppend(t, l, simpleBatch(1, 10_000), 0)
	mustAppend(t, l, simpleBatch(1, 10_900), 0) // 900 ms after the first batch: same segment
	if n := len(segmentFiles(t, dir)); n != 1 {
		t.Fatalf("%d segments", n)
	}
	mustAppend(t, l, simpleBatch(1, 11_001), 0) // 1001 ms: roll
	if n := len(segmentFiles(t, dir)); n != 2 {
		t.Fatalf("%d segments after a late batch", n)
	}
	// A segment whose first batch has no timestamp ages by the clock.
	dir2 := t.TempDir()
	l2, err := Open(dir2, cfg, Options{Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	noTs := func() []byte {
		return batchSpec{firstTs: -1, maxTs: -1, records: []testRecord{{value: []byte("x")}}}.build()
	}
	mustAppend(t, l2, noTs(), 0)
	clock.ms += 999
	mustAppend(t, l2, noTs(), 0)
	if n := len(segmentFiles(t, dir2)); n != 1 {
		t.Fatalf("%d segments before the clock passed segment.ms", n)
	}
	clock.ms += 2
	mustAppend(t, l2, noTs(), 0)
	if n := len(segmentFiles(t, dir2)); n != 2 {
		t.Fatalf("%d segments after the clock passed segment.ms", n)
	}
}

func TestTruncate(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 2048
	l := openLog(t, dir, cfg)
	for i := range 40 {
		mustAppend(t, l, valueBatch(4, 60, int64(i)), int32(i/10)) // epochs 0..3 at 0,40,80,120
	}
	if l.EndOffset() != 160 {
		t.Fatal(l.EndOffset())
	}
	segsBefore := len(segmentFiles(t, dir))

	// Mid-batch: the straddling batch goes whole.
	if err := l.Truncate(130); err != nil {
		t.Fatal(err)
	}
	if l.EndOffset() != 128 {
		t.Fatalf("end %d after truncating mid-batch, want 128", l.EndOffset())
	}
	if e, o := l.EndOffsetForEpoch(3); e != 3 || o != 128 {
		t.Fatalf("epoch 3 end (%d, %d)", e, o)
	}
	// Into an earlier segment, removing later ones and epochs.
	if err := l.Truncate(60); err != nil {
		t.Fatal(err)
	}
	if l.EndOffset() != 60 {
		t.Fatalf("end %d", l.EndOffset())
	}
	if n := len(segmentFiles(t, dir)); n >= segsBefore {
		t.Fatalf("%d segments, had %d", n, segsBefore)
	}
	if e, ok := l.LatestEpoch(); !ok || e != 1 {
		t.Fatalf("latest epoch %d %v, want 1", e, ok)
	}
	hs := mustRead(t, l, 0, 1<<20, 1000)
	if last := hs[len(hs)-1]; last.LastOffset() != 59 {
		t.Fatalf("last batch ends at %d", last.LastOffset())
	}
	_, err := l.Read(61, 10, 1000)
	wantErr(t, err, ErrOffsetOutOfRange)
	// Appends continue from the new end, in the truncated segment.
	res := mustAppend(t, l, simpleBatch(2, 0), 5)
	if res.BaseOffset != 60 {
		t.Fatalf("append after truncate at %d", res.BaseOffset)
	}
	if hs := mustRead(t, l, 60, 100, 1000); len(hs) != 1 || hs[0].BaseOffset != 60 {
		t.Fatalf("read after truncate %+v", hs)
	}
	// No-op at or beyond the end.
	if err := l.Truncate(1000); err != nil || l.EndOffset() != 62 {
		t.Fatalf("truncate beyond end: %v, end %d", err, l.EndOffset())
	}
	// To a segment boundary exactly.
	var bases []int64
	for _, s := range segmentFiles(t, dir) {
		var b int64
		fmt.Sscanf(filepath.Base(s), "%d.log", &b)
		bases = append(bases, b)
	}
	if len(bases) < 2 {
		t.Fatal("need two segments")
	}
	if err := l.Truncate(bases[1]); err != nil {
		t.Fatal(err)
	}
	if l.EndOffset() != bases[1] {
		t.Fatalf("end %d, want %d", l.EndOffset(), bases[1])
	}
	// Reopen sees the same.
	l.Close()
	l = openLog(t, dir, cfg)
	if l.EndOffset() != bases[1] {
		t.Fatalf("after reopen end %d, want %d", l.EndOffset(), bases[1])
	}
	// The timestamp state follows the truncation.
	if off, ts, ok := l.MaxTimestamp(); !ok || off >= bases[1] || ts < 0 {
		t.Fatalf("max timestamp (%d, %d, %v) after truncation", off, ts, ok)
	}
}

func TestTruncateBelowStartRestarts(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 1024
	l := openLog(t, dir, cfg)
	for range 20 {
		mustAppend(t, l, valueBatch(2, 100, 0), 1)
	}
	if err := l.SetStartOffset(30); err != nil {
		t.Fatal(err)
	}
	first := l.segments[0].base
	if first == 0 {
		t.Fatal("SetStartOffset kept the first segment")
	}
	if err := l.Truncate(first - 1); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != first-1 || l.EndOffset() != first-1 {
		t.Fatalf("[%d, %d), want empty at %d", l.StartOffset(), l.EndOffset(), first-1)
	}
	if _, ok := l.LatestEpoch(); ok {
		t.Fatal("epoch cache not cleared")
	}
	res := mustAppend(t, l, simpleBatch(1, 0), 2)
	if res.BaseOffset != first-1 {
		t.Fatalf("append at %d", res.BaseOffset)
	}
	if err := l.TruncateFullyAndStartAt(1000); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = openLog(t, dir, cfg)
	if l.StartOffset() != 1000 || l.EndOffset() != 1000 || len(segmentFiles(t, dir)) != 1 {
		t.Fatalf("after restart at 1000 and reopen: [%d, %d), %d segments", l.StartOffset(), l.EndOffset(), len(segmentFiles(t, dir)))
	}
}

func TestSetStartOffset(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 1024
	l := openLog(t, dir, cfg)
	for i := range 30 {
		mustAppend(t, l, valueBatch(2, 100, 0), int32(i/10)) // epochs 0,1,2 start 0,20,40
	}
	before := len(segmentFiles(t, dir))
	if err := l.SetStartOffset(25); err != nil {
		t.Fatal(err)
	}
	after := len(segmentFiles(t, dir))
	if after >= before {
		t.Fatalf("no segment deleted: %d -> %d", before, after)
	}
	if l.segments[0].base > 25 || (len(l.segments) > 1 && l.segments[1].base <= 25) {
		t.Fatalf("first segment %d does not hold offset 25", l.segments[0].base)
	}
	_, err := l.Read(24, 10, 100)
	wantErr(t, err, ErrOffsetOutOfRange)
	if hs := mustRead(t, l, 25, 1, 100); hs[0].BaseOffset != 24 {
		t.Fatalf("batch holding 25 starts at %d", hs[0].BaseOffset)
	}
	// The epoch cache moved its first entry up to the start.
	if e, o := l.EndOffsetForEpoch(0); e != 0 || o != 25 {
		t.Fatalf("EndOffsetForEpoch(0) = (%d, %d), want (0, 25)", e, o)
	}
	wantErr(t, l.SetStartOffset(61), ErrOffsetOutOfRange)
	if err := l.SetStartOffset(10); err != nil || l.StartOffset() != 25 {
		t.Fatalf("moving back: %v, start %d", err, l.StartOffset())
	}
	l.Close()
	l = openLog(t, dir, cfg)
	if l.StartOffset() != 25 || l.EndOffset() != 60 {
		t.Fatalf("after reopen [%d, %d)", l.StartOffset(), l.EndOffset())
	}
	// Everything: the active segment is replaced by an empty one at the end.
	if err := l.SetStartOffset(60); err != nil {
		t.Fatal(err)
	}
	if segs := segmentFiles(t, dir); len(segs) != 1 || filepath.Base(segs[0]) != fmt.Sprintf("%020d.log", 60) {
		t.Fatalf("segments after deleting all records: %v", segs)
	}
	if b, err := l.Read(60, 100, 100); err != nil || b != nil {
		t.Fatalf("read at end: %v %v", b, err)
	}
	res := mustAppend(t, l, simpleBatch(1, 0), 3)
	if res.BaseOffset != 60 {
		t.Fatalf("append at %d", res.BaseOffset)
	}
	// A crash between the checkpoint and the deletion: Open finishes it.
	l.Close()
	if err := writeStartCheckpoint(OSFS, dir, 61); err != nil {
		t.Fatal(err)
	}
	mustAppendAfterReopen := openLog(t, dir, cfg)
	if mustAppendAfterReopen.StartOffset() != 61 {
		t.Fatalf("start %d", mustAppendAfterReopen.StartOffset())
	}
	if n := len(segmentFiles(t, dir)); n != 1 {
		t.Fatalf("%d segments", n)
	}
}

func TestLogAppendTime(t *testing.T) {
	cfg := testConfig()
	cfg.MessageTimestampType = LogAppendTime
	clock := &fakeClock{ms: 1_700_000_000_123}
	l, err := Open(t.TempDir(), cfg, Options{Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	in := append(simpleBatch(3, 5), simpleBatch(2, 6)...)
	res := mustAppend(t, l, in, 4)
	if res.LogAppendTime != clock.ms || res.MaxTimestamp != clock.ms {
		t.Fatalf("result %+v", res)
	}
	b, err := l.Read(0, 1<<20, 100)
	if err != nil {
		t.Fatal(err)
	}
	hs := batches(t, b) // checks CRCs
	for _, h := range hs {
		if h.TimestampType() != 1 || h.MaxTimestamp != clock.ms || h.PartitionLeaderEpoch != 4 {
			t.Fatalf("header %+v", h)
		}
	}
	if _, err := ValidateBatches(b, 0, nil); err != nil {
		t.Fatalf("rewritten batches no longer validate: %v", err)
	}
	if off, ts, ok := l.OffsetForTimestamp(clock.ms); !ok || off != 0 || ts != clock.ms {
		t.Fatalf("OffsetForTimestamp = %d %d %v", off, ts, ok)
	}
	// Switching back to CreateTime at run time.
	cfg.MessageTimestampType = CreateTime
	l.SetConfig(cfg)
	if res := mustAppend(t, l, simpleBatch(1, 77), 4); res.LogAppendTime != -1 || res.MaxTimestamp != 77 {
		t.Fatalf("after SetConfig %+v", res)
	}
}

func TestAppendReplicated(t *testing.T) {
	leader := openLog(t, t.TempDir(), testConfig())
	for i := range 10 {
		mustAppend(t, leader, simpleBatch(3, int64(i)), int32(1+i/5)) // epoch 1 at 0, 2 at 15
	}
	data, err := leader.Read(0, 1<<20, 30)
	if err != nil {
		t.Fatal(err)
	}
	f := openLog(t, t.TempDir(), testConfig())
	hs := batches(t, data)
	split := 0
	for _, h := range hs[:4] {
		split += h.Size()
	}
	res, err := f.AppendReplicated(data[:split])
	if err != nil || res.BaseOffset != 0 || res.LastOffset != 11 {
		t.Fatalf("first part: %+v %v", res, err)
	}
	_, err = f.AppendReplicated(data[:hs[0].Size()]) // below the log end
	wantErr(t, err, ErrUnexpectedOffset)
	_, err = f.AppendReplicated(append(slices.Clone(data[split:split+hs[4].Size()]), data[split:split+hs[4].Size()]...)) // goes back
	wantErr(t, err, ErrUnexpectedOffset)
	if _, err := f.AppendReplicated(data[split:]); err != nil {
		t.Fatal(err)
	}
	got, _ := f.Read(0, 1<<20, 100)
	if !bytes.Equal(got, data) {
		t.Fatal("follower bytes differ from the leader's")
	}
	if e, o := f.EndOffsetForEpoch(1); e != 1 || o != 15 {
		t.Fatalf("follower epoch 1 ends (%d, %d), want (1, 15)", e, o)
	}
	if e, ok := f.LatestEpoch(); !ok || e != 2 {
		t.Fatalf("follower latest epoch %d", e)
	}
	bad := simpleBatch(1, 0)
	setBaseOffset(bad, 30)
	bad[len(bad)-1] ^= 1
	_, err = f.AppendReplicated(bad)
	wantErr(t, err, ErrCorruptBatch)
	if f.EndOffset() != 30 {
		t.Fatalf("end %d after a rejected append", f.EndOffset())
	}
}

// TestConcurrentReadAppend runs readers against a writer; every read must
// see whole, valid batches with contiguous offsets.
func TestConcurrentReadAppend(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 8192
	l := openLog(t, t.TempDir(), cfg)
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 9))
			for !done.Load() {
				end := l.EndOffset()
				if end == 0 {
					continue
				}
				off := rng.Int64N(end)
				b, err := l.Read(off, 1+rng.IntN(4000), end)
				if err != nil {
					errs <- err
					return
				}
				expect := int64(-1)
				for p := 0; p < len(b); {
					h, size, err := frameBatch(b[p:], 0)
					if err == nil {
						err = checkCRC(h, b[p:p+size])
					}
					if err == nil && expect >= 0 && h.BaseOffset != expect {
						err = fmt.Errorf("gap: batch at %d, expected %d", h.BaseOffset, expect)
					}
					if err != nil {
						errs <- err
						return
					}
					expect = h.LastOffset() + 1
					p += size
				}
				_, _, _ = l.MaxTimestamp()
				_, _, _ = l.OffsetForTimestamp(rng.Int64N(1000))
			}
		}()
	}
	for i := range 1500 {
		mustAppend(t, l, valueBatch(1+i%4, 50, int64(i)), 0)
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestScanBatches(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 2048
	l := openLog(t, t.TempDir(), cfg)
	for i := range 600 {
		mustAppend(t, l, simpleBatch(2, int64(i)), 0)
	}
	var got []int64
	err := l.ScanBatches(101, func(h BatchHeader) error {
		got = append(got, h.BaseOffset)
		if h.BaseOffset == 1100 {
			_ = l.EndOffset() // calling back into the log is fine
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 550 || got[0] != 100 || got[549] != 1198 {
		t.Fatalf("scan from 101: %d batches, first %d", len(got), got[0])
	}
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+2 {
			t.Fatalf("scan out of order at %d", i)
		}
	}
	stop := fmt.Errorf("stop")
	n := 0
	if err := l.ScanBatches(0, func(BatchHeader) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("stopping scan: %v after %d", err, n)
	}
}

func TestClosedAndDelete(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "topic-0")
	l, err := Open(dir, testConfig(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, simpleBatch(1, 0), 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err = l.Append(simpleBatch(1, 0), 0)
	wantErr(t, err, ErrClosed)
	_, err = l.Read(0, 1, 1)
	wantErr(t, err, ErrClosed)
	wantErr(t, l.Truncate(0), ErrClosed)
	wantErr(t, l.SetStartOffset(1), ErrClosed)
	wantErr(t, l.Flush(), ErrClosed)
	wantErr(t, l.ScanBatches(0, func(BatchHeader) error { return nil }), ErrClosed)
	l, err = Open(dir, testConfig(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("dir still there: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []func(*Config){
		func(c *Config) { c.SegmentBytes = 13 },
		func(c *Config) { c.SegmentBytes = 1 << 31 },
		func(c *Config) { c.SegmentMs = 0 },
		func(c *Config) { c.IndexIntervalBytes = -1 },
		func(c *Config) { c.SegmentIndexBytes = 3 },
		func(c *Config) { c.MaxMessageBytes = -1 },
		func(c *Config) { c.MessageTimestampType = "Wallclock" },
		func(c *Config) { c.FileDeleteDelayMs = -1 },
	} {
		c := DefaultConfig()
		f(&c)
		wantErr(t, c.Validate(), ErrInvalidConfig)
		_, err := Open(t.TempDir(), c, Options{})
		wantErr(t, err, ErrInvalidConfig)
	}
}

func TestAppendRejectsGarbage(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	_, err := l.Append(nil, 0)
	wantErr(t, err, ErrInvalidRecord)
	_, err = l.Append([]byte("not a batch at all, but long enough to hold a header......."), 0)
	wantErr(t, err, ErrCorruptBatch)
	if l.EndOffset() != 0 || l.Size() != 0 {
		t.Fatal("garbage changed the log")
	}
}

// TestConcurrentMutations runs readers, scans and timestamp lookups while
// the writer appends, rolls, truncates and deletes from the front; readers
// may see ErrOffsetOutOfRange but never a bad batch.
func TestConcurrentMutations(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 2048
	l := openLog(t, t.TempDir(), cfg)
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 7))
			for !done.Load() {
				start, end := l.StartOffset(), l.EndOffset()
				if end <= start {
					continue
				}
				b, err := l.Read(start+rng.Int64N(end-start), 1+rng.IntN(3000), end)
				if err != nil && !errors.Is(err, ErrOffsetOutOfRange) {
					errs <- err
					return
				}
				for p := 0; p < len(b); {
					h, size, err := frameBatch(b[p:], 0)
					if err == nil {
						err = checkCRC(h, b[p:p+size])
					}
					if err != nil {
						errs <- err
						return
					}
					p += size
				}
				if r == 0 {
					err := l.ScanBatches(start, func(BatchHeader) error { return nil })
					if err != nil {
						errs <- err
						return
					}
				}
				_, _, _ = l.OffsetForTimestamp(rng.Int64N(500))
			}
		}()
	}
	rng := rand.New(rand.NewPCG(3, 3))
	for i := range 1500 {
		mustAppend(t, l, valueBatch(1+i%3, 40, int64(i%500)), int32(i/100))
		switch end := l.EndOffset(); {
		case i%97 == 0:
			must(t, l.Truncate(end-rng.Int64N(min(end-l.StartOffset(), 20)+1)))
		case i%61 == 0:
			must(t, l.SetStartOffset(l.StartOffset()+rng.Int64N(end-l.StartOffset()+1)))
		case i%250 == 0:
			must(t, l.Flush())
		}
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
