package log

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fillLog appends n batches of 3 records (epoch i/10) and returns the bytes.
func fillLog(t *testing.T, l *Log, n int) []byte {
	t.Helper()
	var all []byte
	for i := range n {
		b := valueBatch(3, 40, int64(1000+i))
		mustAppend(t, l, b, int32(i/10))
		all = append(all, b...)
	}
	return all
}

func readAll(t *testing.T, l *Log) []byte {
	t.Helper()
	b, err := l.Read(l.StartOffset(), 1<<30, l.EndOffset())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// lastBatchPos returns the position of the last batch in a segment file.
func lastBatchPos(t *testing.T, name string) (pos int64, h BatchHeader) {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	for p := 0; p < len(data); {
		hh, err := ParseBatchHeader(data[p:])
		if err != nil {
			t.Fatal(err)
		}
		pos, h = int64(p), hh
		p += hh.Size()
	}
	return pos, h
}

func TestReopen(t *testing.T) {
	for _, clean := range []bool{true, false} {
		name := map[bool]string{true: "clean", false: "unclean"}[clean]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig()
			cfg.SegmentBytes = 3000
			l := openLog(t, dir, cfg)
			want := fillLog(t, l, 50)
			end := l.EndOffset()
			maxOff, maxTs, _ := l.MaxTimestamp()
			idx0, _ := os.ReadFile(segmentName(dir, 0, extIndex))
			if clean {
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); err != nil {
					t.Fatalf("no clean-shutdown marker: %v", err)
				}
			} else {
				crash(t, l, dir)
			}
			l = openLog(t, dir, cfg)
			if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); clean != (err == nil) {
				// Left until the first change after a clean Open (deferredDirSync).
				t.Fatalf("marker after Open (clean shutdown %v): %v", clean, err)
			}
			if l.EndOffset() != end {
				t.Fatalf("end %d, want %d", l.EndOffset(), end)
			}
			if !bytes.Equal(readAll(t, l), want) {
				t.Fatal("data changed across reopen")
			}
			if o, ts, ok := l.MaxTimestamp(); !ok || o != maxOff || ts != maxTs {
				t.Fatalf("MaxTimestamp (%d, %d), want (%d, %d)", o, ts, maxOff, maxTs)
			}
			if e, ok := l.LatestEpoch(); !ok || e != 4 {
				t.Fatalf("latest epoch %d", e)
			}
			if got, _ := os.ReadFile(segmentName(dir, 0, extIndex)); !bytes.Equal(got, idx0) || len(idx0) == 0 {
				t.Fatalf("first segment's index changed (%d -> %d bytes)", len(idx0), len(got))
			}
			res := mustAppend(t, l, simpleBatch(2, 5000), 4)
			if res.BaseOffset != end {
				t.Fatalf("append after reopen at %d, want %d", res.BaseOffset, end)
			}
			if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); !os.IsNotExist(err) {
				t.Fatalf("marker still present after an append: %v", err)
			}
		})
	}
}

// TestReopenWithoutClose opens the directory again while the first Log is
// still open and never closed: what a kill -9 after a flush leaves.
func TestReopenWithoutClose(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 3000
	l1, err := Open(dir, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := fillLog(t, l1, 30)
	if err := l1.Flush(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, s := range l1.segments {
			s.close()
		}
	}()
	l2 := openLog(t, dir, cfg)
	if !bytes.Equal(readAll(t, l2), want) {
		t.Fatal("data differs")
	}
}

func TestTornTail(t *testing.T) {
	garbageHeader := simpleBatch(1, 0)
	binary.BigEndian.PutUint32(garbageHeader[8:], 1<<30) // claims a gigabyte
	cases := []struct {
		name string
		// damage modifies the last segment, whose last batch is at pos;
		// it returns whether that batch survives.
		damage func(t *testing.T, f *os.File, pos int64, h BatchHeader) (keepsLast bool)
		clean  bool // leave the clean-shutdown marker in place
	}{
		{"cut mid batch", func(t *testing.T, f *os.File, pos int64, h BatchHeader) bool {
			must(t, f.Truncate(pos+int64(h.Size())/2))
			return false
		}, false},
		{"cut mid header", func(t *testing.T, f *os.File, pos int64, h BatchHeader) bool {
			must(t, f.Truncate(pos+30))
			return false
		}, false},
		{"garbage appended", func(t *testing.T, f *os.File, pos int64, h BatchHeader) bool {
			_, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, 100), pos+int64(h.Size()))
			must(t, err)
			return true
		}, false},
		{"header claiming a gigabyte appended", func(t *testing.T, f *os.File, pos int64, h BatchHeader) bool {
			_, err := f.WriteAt(garbageHeader, pos+int64(h.Size()))
			must(t, err)
			return true
		}, false},
		{"zeros appended", func(t *testing.T, f *os.File, pos int64, h BatchHeader) bool {
			must(t, f.Truncate(pos+int64(h.Size())+4096))
			return true
		}, false},
		{"flipped crc byte", func(t *testing.T, f *os.File, pos int64, h BatchHeader) bool {
			flip(t, f, pos+offCRC+2)
			return false
		}, false},
		{"flipped payload byte", func(t *testing.T, f *os.File, pos int64, h BatchHeader) bool {
			flip(t, f, pos+int64(h.Size())-3)
			return false
		}, false},
		{"garbage appended, clean marker", func(t *testing.T, f *os.File, pos int64, h BatchHeader) bool {
			_, err := f.WriteAt(bytes.Repeat([]byte{0x17}, 333), pos+int64(h.Size()))
			must(t, err)
			return true
		}, true},
		{"cut mid batch, clean marker", func(t *testing.T, f *os.File, pos int64, h BatchHeader) bool {
			must(t, f.Truncate(pos+70))
			return false
		}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig()
			cfg.SegmentBytes = 3000
			l := openLog(t, dir, cfg)
			fillLog(t, l, 40)
			last := simpleBatch(4, 9000)
			mustAppend(t, l, last, 9) // a new epoch, to see the cache follow the cut
			full := readAll(t, l)
			if c.clean {
				must(t, l.Close())
			} else {
				crash(t, l, dir)
			}
			segs := segmentFiles(t, dir)
			tail := segs[len(segs)-1]
			pos, h := lastBatchPos(t, tail)
			f, err := os.OpenFile(tail, os.O_RDWR, 0)
			must(t, err)
			keeps := c.damage(t, f, pos, h)
			must(t, f.Close())

			l = openLog(t, dir, cfg)
			wantEnd, wantSize, wantData := h.LastOffset()+1, pos+int64(h.Size()), full
			if !keeps {
				wantEnd, wantSize, wantData = h.BaseOffset, pos, full[:len(full)-len(last)]
			}
			if l.EndOffset() != wantEnd {
				t.Fatalf("end %d, want %d", l.EndOffset(), wantEnd)
			}
			if sz := fileSize(t, tail); sz != wantSize {
				t.Fatalf("tail segment %d bytes, want %d", sz, wantSize)
			}
			if !bytes.Equal(readAll(t, l), wantData) {
				t.Fatal("surviving data differs")
			}
			if e, _ := l.LatestEpoch(); keeps != (e == 9) {
				t.Fatalf("latest epoch %d (last batch kept: %v)", e, keeps)
			}
			res := mustAppend(t, l, simpleBatch(1, 0), 10)
			if res.BaseOffset != wantEnd {
				t.Fatalf("append at %d, want %d", res.BaseOffset, wantEnd)
			}
			crash(t, l, dir)
			l = openLog(t, dir, cfg)
			if l.EndOffset() != wantEnd+1 {
				t.Fatalf("after a second reopen end %d, want %d", l.EndOffset(), wantEnd+1)
			}
		})
	}
}

func TestIndexRebuilt(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string, base int64)
	}{
		{"missing", func(t *testing.T, dir string, base int64) {
			must(t, os.Remove(segmentName(dir, base, extIndex)))
			must(t, os.Remove(segmentName(dir, base, extTimeIndex)))
		}},
		{"missing offset index only", func(t *testing.T, dir string, base int64) {
			must(t, os.Remove(segmentName(dir, base, extIndex)))
		}},
		{"ragged", func(t *testing.T, dir string, base int64) {
			appendFile(t, segmentName(dir, base, extIndex), []byte{1, 2, 3})
		}},
		{"wrong position", func(t *testing.T, dir string, base int64) {
			f, err := os.OpenFile(segmentName(dir, base, extIndex), os.O_RDWR, 0)
			must(t, err)
			fi, _ := f.Stat()
			_, err = f.WriteAt([]byte{0, 0, 0, 0}, fi.Size()-4) // last entry now points at position 0
			must(t, err)
			must(t, f.Close())
		}},
		{"time index out of order", func(t *testing.T, dir string, base int64) {
			appendFile(t, segmentName(dir, base, extTimeIndex), make([]byte, timeEntrySize))
		}},
		{"time index past the log", func(t *testing.T, dir string, base int64) {
			e := timeIndex{{ts: 1 << 50, rel: 1 << 20}}.encode(nil)
			appendFile(t, segmentName(dir, base, extTimeIndex), e)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig()
			cfg.SegmentBytes = 3000
			l := openLog(t, dir, cfg)
			want := fillLog(t, l, 50)
			must(t, l.Close())
			bases := l.segments
			if len(bases) < 3 {
				t.Fatal("need three segments")
			}
			mid := bases[1].base
			idx, _ := os.ReadFile(segmentName(dir, mid, extIndex))
			tidx, _ := os.ReadFile(segmentName(dir, mid, extTimeIndex))
			c.damage(t, dir, mid)
			l = openLog(t, dir, cfg)
			gotIdx, _ := os.ReadFile(segmentName(dir, mid, extIndex))
			gotTidx, _ := os.ReadFile(segmentName(dir, mid, extTimeIndex))
			if !bytes.Equal(gotIdx, idx) || !bytes.Equal(gotTidx, tidx) {
				t.Fatalf("rebuilt index differs:\n%x\n%x\ntime:\n%x\n%x", idx, gotIdx, tidx, gotTidx)
			}
			if !bytes.Equal(readAll(t, l), want) {
				t.Fatal("data differs")
			}
		})
	}
}

func TestStaleFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	fillLog(t, l, 3)
	must(t, l.Close())
	orphan := segmentName(dir, 999, extIndex)
	tmp := filepath.Join(dir, epochCheckpointFile+".tmp")
	must(t, os.WriteFile(orphan, []byte("x"), 0o644))
	must(t, os.WriteFile(tmp, []byte("x"), 0o644))
	other := filepath.Join(dir, "00000000000000000000.snapshot") // someone else's file: kept
	must(t, os.WriteFile(other, []byte("x"), 0o644))
	openLog(t, dir, testConfig())
	for _, f := range []string{orphan, tmp} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Fatalf("%s not removed", f)
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatal("unrelated file removed")
	}
}

func TestStartCheckpointBeyondEnd(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	fillLog(t, l, 5)
	must(t, l.Close())
	must(t, writeStartCheckpoint(OSFS, dir, 1000))
	l = openLog(t, dir, testConfig())
	if l.StartOffset() != 1000 || l.EndOffset() != 1000 {
		t.Fatalf("[%d, %d)", l.StartOffset(), l.EndOffset())
	}
	if _, ok := l.LatestEpoch(); ok {
		t.Fatal("epochs kept")
	}
}

func TestCorruptCheckpoint(t *testing.T) {
	for _, content := range []string{"1\n0\n", "0\n2\n1 5\n", "0\n1\n1\n", "garbage", "0\n1\n-1 5\n"} {
		dir := t.TempDir()
		must(t, os.WriteFile(filepath.Join(dir, epochCheckpointFile), []byte(content), 0o644))
		_, err := Open(dir, testConfig(), Options{})
		wantErr(t, err, ErrCorruptCheckpoint)
	}
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, startCheckpointFile), []byte("0\n1\nx\n"), 0o644))
	_, err := Open(dir, testConfig(), Options{})
	wantErr(t, err, ErrCorruptCheckpoint)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func flip(t *testing.T, f *os.File, pos int64) {
	t.Helper()
	b := []byte{0}
	_, err := f.ReadAt(b, pos)
	must(t, err)
	b[0] ^= 0x10
	_, err = f.WriteAt(b, pos)
	must(t, err)
}

func appendFile(t *testing.T, name string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	_, err = f.Write(data)
	must(t, err)
	must(t, f.Close())
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRecoveryPoint(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 3000
	l := openLog(t, dir, cfg)
	fillLog(t, l, 40)
	active := func() int64 {
		l.mu.RLock()
		defer l.mu.RUnlock()
		return l.active().base
	}
	// The background flush after each roll advances the checkpoint to the
	// active segment's base.
	waitFor(t, "recovery point to reach the active segment", func() bool {
		rp, err := readRecoveryPoint(OSFS, dir)
		return err == nil && rp == active()
	})
	must(t, l.Flush())
	if rp, _ := readRecoveryPoint(OSFS, dir); rp != l.EndOffset() {
		t.Fatalf("recovery point %d after Flush, want %d", rp, l.EndOffset())
	}
	// Truncation lowers it to the new end.
	must(t, l.Truncate(50))
	if rp, _ := readRecoveryPoint(OSFS, dir); rp != 48 {
		t.Fatalf("recovery point %d after truncating to 50 (end 48)", rp)
	}
	must(t, l.Close())
}

// TestUnflushedSegmentsRecovered: after a crash, every segment from the
// recovery point on is re-checked, not just the last, and a corrupt one
// takes the segments after it along.
func TestUnflushedSegmentsRecovered(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 3000
	l := openLog(t, dir, cfg)
	fillLog(t, l, 70)
	segs := l.segments
	if len(segs) < 4 {
		t.Fatal("need four segments")
	}
	second, third := segs[1], segs[2]
	crash(t, l, dir)
	must(t, os.WriteFile(filepath.Join(dir, recoveryPointFile), []byte(fmt.Sprintf("0\n1\n%d\n", second.base)), 0o644))
	name := segmentName(dir, second.base, extLog)
	pos, h := lastBatchPos(t, name)
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	must(t, err)
	flip(t, f, pos+int64(h.Size())-1)
	must(t, f.Close())

	l = openLog(t, dir, cfg)
	if l.EndOffset() != h.BaseOffset {
		t.Fatalf("end %d, want %d (cut at the corrupt batch)", l.EndOffset(), h.BaseOffset)
	}
	if _, err := os.Stat(segmentName(dir, third.base, extLog)); !os.IsNotExist(err) {
		t.Fatal("segment after the corrupt one kept")
	}
	if n := len(segmentFiles(t, dir)); n != 2 {
		t.Fatalf("%d segments left, want 2", n)
	}
	if rp, _ := readRecoveryPoint(OSFS, dir); rp != l.EndOffset() {
		t.Fatalf("recovery point %d after open, want %d", rp, l.EndOffset())
	}
}

func TestOverlappingSegmentDropped(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 3000
	l := openLog(t, dir, cfg)
	fillLog(t, l, 40)
	first := l.segments[0]
	firstEnd := first.next
	must(t, l.Close())
	// A stray segment whose name claims offsets inside the first segment.
	data, err := os.ReadFile(segmentName(dir, first.base, extLog))
	must(t, err)
	must(t, os.WriteFile(segmentName(dir, first.base+1, extLog), data, 0o644))
	l = openLog(t, dir, cfg)
	if l.EndOffset() != firstEnd || len(segmentFiles(t, dir)) != 1 {
		t.Fatalf("end %d with %d segments, want %d with 1", l.EndOffset(), len(segmentFiles(t, dir)), firstEnd)
	}
	res := mustAppend(t, l, simpleBatch(1, 0), 0)
	if res.BaseOffset != firstEnd {
		t.Fatalf("append at %d", res.BaseOffset)
	}
}
