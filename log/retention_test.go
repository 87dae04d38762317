package log

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

const mib = 1 << 20

// memLog opens dir on mem with a fake clock.
func memLog(t testing.TB, mem *MemFS, dir string, cfg Config, clock *fakeClock) *Log {
	t.Helper()
	l, err := Open(dir, cfg, Options{FS: mem, Now: clock.now})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// appendBytes appends about n bytes in batches of 10 records of 1 KB with
// timestamps from the clock, returning the last result.
func appendBytes(t testing.TB, l *Log, clock *fakeClock, n int) AppendResult {
	t.Helper()
	var res AppendResult
	for written := 0; written < n; {
		b := valueBatch(10, 1000, clock.ms)
		written += len(b)
		res = mustAppend(t, l, b, 0)
	}
	return res
}

func deleteOld(t testing.TB, l *Log, hw int64) int {
	t.Helper()
	n, err := l.DeleteOldSegments(hw)
	if err != nil {
		t.Fatalf("DeleteOldSegments: %v", err)
	}
	return n
}

// TestRetentionMs is the first "must show" at log level:
// segment.bytes=1 MiB, retention.ms=3000, 8 MB appended; after retention
// runs with the clock past 3 s the start offset moves past 0, the end does
// not move, everything from the new start reads back, and a reopen (clean
// or after a crash) gives the same start and end.
func TestRetentionMs(t *testing.T) {
	for _, crashed := range []bool{false, true} {
		t.Run(map[bool]string{false: "clean", true: "crash"}[crashed], func(t *testing.T) {
			mem := NewMemFS()
			clock := &fakeClock{ms: 1_700_000_000_000}
			cfg := DefaultConfig()
			cfg.SegmentBytes = mib
			cfg.RetentionMs = 3000
			cfg.FileDeleteDelayMs = 0
			l := memLog(t, mem, "/data/t-0", cfg, clock)
			appendBytes(t, l, clock, 8*mib)
			old := l.EndOffset()
			clock.ms += 2000
			appendBytes(t, l, clock, 2*mib) // newer data that must stay
			end := l.EndOffset()
			segs := len(l.segments)
			if n := deleteOld(t, l, end); n != 0 {
				t.Fatalf("deleted %d segments before anything expired", n)
			}
			clock.ms += 1500 // the first 8 MB are now 3.5 s old, the rest 1.5 s
			n := deleteOld(t, l, end)
			start := l.StartOffset()
			if n == 0 || start == 0 || start > old || l.EndOffset() != end {
				t.Fatalf("deleted %d of %d segments: [%d, %d), want start in (0, %d], end %d", n, segs, start, l.EndOffset(), old, end)
			}
			if l.segments[0].base != start {
				t.Fatalf("first segment %d, start %d", l.segments[0].base, start)
			}
			want := readAll(t, l)
			if h := batches(t, want); h[0].BaseOffset != start || h[len(h)-1].LastOffset() != end-1 {
				t.Fatalf("read [%d, %d], want [%d, %d]", h[0].BaseOffset, h[len(h)-1].LastOffset(), start, end-1)
			}
			_, err := l.Read(start-1, 100, end)
			wantErr(t, err, ErrOffsetOutOfRange)
			if crashed {
				must(t, l.Flush()) // what a kill -9 leaves: the data; the checkpoint was written at once
				mem = mem.Crash()
				l.Close()
			} else {
				must(t, l.Close())
			}
			l = memLog(t, mem, "/data/t-0", cfg, clock)
			if l.StartOffset() != start || l.EndOffset() != end {
				t.Fatalf("after reopen [%d, %d), want [%d, %d)", l.StartOffset(), l.EndOffset(), start, end)
			}
			if !bytes.Equal(readAll(t, l), want) {
				t.Fatal("data differs after reopen")
			}
			names, _ := mem.ReadDir("/data/t-0")
			for _, n := range names {
				if strings.HasSuffix(n, deletedSuffix) {
					t.Fatalf("%s left behind", n)
				}
			}
		})
	}
}

// TestRetentionMsWholeLog: when every segment expired and the high
// watermark is the log end, Kafka deletes the active segment too, after
// rolling an empty one: the log is empty at its old end.
func TestRetentionMsWholeLog(t *testing.T) {
	mem := NewMemFS()
	clock := &fakeClock{ms: 1_700_000_000_000}
	cfg := DefaultConfig()
	cfg.SegmentBytes = mib
	cfg.RetentionMs = 3000
	l := memLog(t, mem, "/d", cfg, clock)
	appendBytes(t, l, clock, 3*mib)
	end := l.EndOffset()
	clock.ms += 3100
	if n := deleteOld(t, l, end-1); n == 0 || len(l.segments) != 1 {
		t.Fatalf("with the high watermark inside the active segment %d segments went, %d left; want only the active one left", n, len(l.segments))
	}
	if n := deleteOld(t, l, end); n != 1 {
		t.Fatalf("%d segments went, want the active one", n)
	}
	if l.StartOffset() != end || l.EndOffset() != end || len(l.segments) != 1 || l.Size() != 0 {
		t.Fatalf("[%d, %d) with %d segments, want an empty log at %d", l.StartOffset(), l.EndOffset(), len(l.segments), end)
	}
	if n := deleteOld(t, l, end); n != 0 {
		t.Fatalf("the empty active segment was deleted (%d)", n)
	}
	res := mustAppend(t, l, simpleBatch(1, clock.ms), 0)
	if res.BaseOffset != end {
		t.Fatalf("append at %d, want %d", res.BaseOffset, end)
	}
	// Records timestamped in the future are not deleted.
	mustAppend(t, l, simpleBatch(1, clock.ms+time.Hour.Milliseconds()), 0)
	clock.ms += 10_000
	if n := deleteOld(t, l, l.EndOffset()); n != 0 {
		t.Fatalf("a segment with a future timestamp went (%d)", n)
	}
}

// TestRetentionBytes: the oldest segments go while the log minus the
// segment stays at least retention.bytes, so the log ends within one
// segment of the bound.
func TestRetentionBytes(t *testing.T) {
	mem := NewMemFS()
	clock := &fakeClock{ms: 1_700_000_000_000}
	cfg := DefaultConfig()
	cfg.SegmentBytes = mib
	cfg.RetentionBytes = 3 * mib
	l := memLog(t, mem, "/d", cfg, clock)
	appendBytes(t, l, clock, 10*mib)
	end := l.EndOffset()
	deleteOld(t, l, end)
	size := l.Size()
	if size < cfg.RetentionBytes || size >= cfg.RetentionBytes+cfg.SegmentBytes {
		t.Fatalf("size %d after retention, want [%d, %d)", size, cfg.RetentionBytes, cfg.RetentionBytes+cfg.SegmentBytes)
	}
	if l.EndOffset() != end {
		t.Fatal("end moved")
	}
	// Unlimited (-1) and a policy without delete keep everything.
	cfg.RetentionBytes = -1
	l.SetConfig(cfg)
	appendBytes(t, l, clock, 2*mib)
	if n := deleteOld(t, l, l.EndOffset()); n != 0 {
		t.Fatalf("retention.bytes=-1 deleted %d", n)
	}
	cfg.RetentionBytes, cfg.Delete, cfg.Compact = 1, false, true
	l.SetConfig(cfg)
	if n := deleteOld(t, l, l.EndOffset()); n != 0 {
		t.Fatalf("cleanup.policy=compact deleted %d", n)
	}
}

// TestRetentionHighWatermark: nothing at or above the high watermark goes.
func TestRetentionHighWatermark(t *testing.T) {
	mem := NewMemFS()
	clock := &fakeClock{ms: 1_700_000_000_000}
	cfg := DefaultConfig()
	cfg.SegmentBytes = mib
	cfg.RetentionBytes = 0
	l := memLog(t, mem, "/d", cfg, clock)
	appendBytes(t, l, clock, 4*mib)
	third := l.segments[2].base
	deleteOld(t, l, third+1) // inside the third segment: only the first two may go
	if l.StartOffset() != third {
		t.Fatalf("start %d, want %d", l.StartOffset(), third)
	}
	deleteOld(t, l, 0)
	if l.StartOffset() != third {
		t.Fatal("moved with a high watermark of 0")
	}
}

// TestRetentionLogAppendTime: with LogAppendTime the stored max timestamp is
// the append time, so old CreateTime stamps from the producer do not matter.
func TestRetentionLogAppendTime(t *testing.T) {
	mem := NewMemFS()
	clock := &fakeClock{ms: 1_700_000_000_000}
	cfg := DefaultConfig()
	cfg.SegmentBytes = 10_000
	cfg.RetentionMs = 3000
	cfg.MessageTimestampType = LogAppendTime
	l := memLog(t, mem, "/d", cfg, clock)
	for range 20 {
		mustAppend(t, l, valueBatch(5, 1000, 1000), 0) // producer time: 1970
	}
	if n := deleteOld(t, l, l.EndOffset()); n != 0 {
		t.Fatalf("deleted %d segments by their CreateTime", n)
	}
	clock.ms += 3001 // 3000 after the last append
	if n := deleteOld(t, l, l.EndOffset()); n == 0 || l.StartOffset() != l.EndOffset() {
		t.Fatalf("deleted %d; [%d, %d)", n, l.StartOffset(), l.EndOffset())
	}
}

// TestDeletedFilesLinger: deleted segments are renamed to .deleted and
// removed after file.delete.delay.ms; Close removes what is pending, Open
// removes leftovers.
func TestDeletedFilesLinger(t *testing.T) {
	mem := NewMemFS()
	clock := &fakeClock{ms: 1_700_000_000_000}
	cfg := DefaultConfig()
	cfg.SegmentBytes = mib
	cfg.RetentionBytes = 0
	cfg.FileDeleteDelayMs = 60_000
	l := memLog(t, mem, "/d", cfg, clock)
	appendBytes(t, l, clock, 2*mib)
	n := deleteOld(t, l, l.EndOffset())
	deleted := func() int {
		names, _ := mem.ReadDir("/d")
		n := 0
		for _, name := range names {
			if strings.HasSuffix(name, deletedSuffix) {
				n++
			}
		}
		return n
	}
	if n == 0 || deleted() != 3*n { // three files each
		t.Fatalf("%d .deleted files for %d segments", deleted(), n)
	}
	// A crash leaves them; Open removes them.
	must(t, l.Flush())
	mem = mem.Crash()
	l.Close()
	l = memLog(t, mem, "/d", cfg, clock)
	if deleted() != 0 {
		t.Fatal(".deleted files survive Open")
	}
	appendBytes(t, l, clock, 2*mib)
	cfg.FileDeleteDelayMs = 20
	l.SetConfig(cfg)
	deleteOld(t, l, l.EndOffset())
	waitFor(t, ".deleted files removed", func() bool { return deleted() == 0 })
	cfg.FileDeleteDelayMs = 60_000
	l.SetConfig(cfg)
	appendBytes(t, l, clock, 2*mib)
	deleteOld(t, l, l.EndOffset())
	if deleted() == 0 {
		t.Fatal("no .deleted files")
	}
	must(t, l.Close())
	if deleted() != 0 {
		t.Fatal("Close left .deleted files")
	}
}

// TestRetentionConcurrentReads: reads keep returning whole batches from
// the start offset or OFFSET_OUT_OF_RANGE while retention deletes.
func TestRetentionConcurrentReads(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 64 << 10
	cfg.RetentionBytes = 256 << 10
	cfg.FileDeleteDelayMs = 0
	l := openLog(t, t.TempDir(), cfg)
	clock := &fakeClock{ms: 1_700_000_000_000}
	done := make(chan struct{})
	errs := make(chan error, 1)
	go func() {
		defer close(errs)
		for {
			select {
			case <-done:
				return
			default:
			}
			start := l.StartOffset()
			b, err := l.Read(start, 32<<10, l.EndOffset())
			if err != nil && !errors.Is(err, ErrOffsetOutOfRange) {
				errs <- err
				return
			}
			if err == nil && len(b) > 0 {
				if h, err := ParseBatchHeader(b); err != nil || h.LastOffset() < start {
					errs <- errors.New("read returned a batch before the start offset")
					return
				}
			}
		}
	}()
	for range 50 {
		appendBytes(t, l, clock, 32<<10)
		if _, err := l.DeleteOldSegments(l.EndOffset()); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if l.Size() >= cfg.RetentionBytes+cfg.SegmentBytes {
		t.Fatalf("size %d", l.Size())
	}
}
