package log

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// testFS returns a file system and a log directory on it: the real one
// ("os") or a MemFS ("mem").
func testFS(t testing.TB, kind string) (FS, string) {
	if kind == "mem" {
		return NewMemFS(), "/p"
	}
	return OSFS, t.TempDir()
}

// errClass names the sentinel an error wraps, for comparing Read's and
// ReadRecords' errors.
func errClass(err error) string {
	for _, e := range []error{ErrOffsetOutOfRange, ErrStorage, ErrClosed} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	if err == nil {
		return "nil"
	}
	return "other: " + err.Error()
}

// partKinds counts a Records' file and memory parts.
func partKinds(r *Records) (file, mem int) {
	if r == nil {
		return 0, 0
	}
	for _, p := range r.parts {
		if p.pin != nil {
			file++
		} else {
			mem++
		}
	}
	return file, mem
}

// readBoth reads with Read and ReadRecords (in either order: a Read may
// verify what ReadRecords then sends from the file) and fails unless they
// agree: the same error class, the same bytes from Bytes and from WriteTo.
// The Records is returned unreleased, with Read's bytes.
func readBoth(t testing.TB, l *Log, off int64, maxBytes int, maxOffset int64, recordsFirst bool) (*Records, []byte) {
	t.Helper()
	var want []byte
	var werr error
	if !recordsFirst {
		want, werr = l.Read(off, maxBytes, maxOffset)
	}
	r, gerr := l.ReadRecords(off, maxBytes, maxOffset)
	if recordsFirst {
		want, werr = l.Read(off, maxBytes, maxOffset)
	}
	if errClass(werr) != errClass(gerr) {
		t.Fatalf("(%d, %d, %d): Read error %v, ReadRecords error %v", off, maxBytes, maxOffset, werr, gerr)
	}
	if gerr != nil {
		if r != nil {
			t.Fatal("a failed ReadRecords returned records")
		}
		return nil, nil
	}
	got, err := r.Bytes()
	must(t, err)
	if !bytes.Equal(got, want) || r.Len() != len(want) {
		t.Fatalf("(%d, %d, %d): ReadRecords %d bytes (Len %d), Read %d; equal %v", off, maxBytes, maxOffset, len(got), r.Len(), len(want), bytes.Equal(got, want))
	}
	var buf bytes.Buffer
	n, err := r.WriteTo(&buf)
	must(t, err)
	if n != int64(len(want)) || !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("(%d, %d, %d): WriteTo wrote %d bytes, want %d", off, maxBytes, maxOffset, n, len(want))
	}
	return r, want
}

// heldRecords is a Records kept across later operations, with its bytes.
type heldRecords struct {
	r    *Records
	want []byte
}

func (h heldRecords) check(t testing.TB, what string) {
	t.Helper()
	var buf bytes.Buffer
	if _, err := h.r.WriteTo(&buf); err != nil {
		t.Fatalf("%s: WriteTo: %v", what, err)
	}
	if !bytes.Equal(buf.Bytes(), h.want) {
		t.Fatalf("%s: a held Records changed: %d bytes, want %d", what, buf.Len(), len(h.want))
	}
}

// TestReadRecordsMatchesRead is the property: for random arguments, on logs
// of several segments with batches of varied sizes, offset gaps (as a
// compacted leader's), truncations, start-offset moves, retention and
// clean and unclean reopens (which change what is verified), ReadRecords
// returns exactly what Read returns. Records held across those operations
// keep their bytes, and every file goes back to the cache at the end.
func TestReadRecordsMatchesRead(t *testing.T) {
	for _, kind := range []string{"os", "mem"} {
		for seed := range uint64(4) {
			t.Run(fmt.Sprintf("%s/%d", kind, seed), func(t *testing.T) { runReadRecordsModel(t, kind, seed, 400) })
		}
	}
}

func runReadRecordsModel(t *testing.T, kind string, seed uint64, ops int) {
	rng := rand.New(rand.NewPCG(seed, 7))
	fsys, dir := testFS(t, kind)
	files := NewFileCache(4 + rng.IntN(8))
	var indexes *IndexCache // the shared one, or one that drops indexes all the time
	if seed%2 == 1 {
		indexes = NewIndexCache(int64(rng.IntN(3))*500, 0)
	}
	cfg := testConfig()
	cfg.SegmentBytes = int64(3000 + rng.IntN(6000))
	cfg.IndexIntervalBytes = rng.IntN(700)
	cfg.FileDeleteDelayMs = 0
	open := func() *Log {
		l, err := Open(dir, cfg, Options{FS: fsys, Files: files, Indexes: indexes})
		must(t, err)
		return l
	}
	l := open()
	var held []heldRecords
	var fileParts, memParts, mixed, rots int
	batch := func(base int64) []byte {
		n := 1 + rng.IntN(6)
		size := rng.IntN(400)
		if rng.IntN(12) == 0 {
			size = 1000 + rng.IntN(1500) // large: a batch may exceed the segment
		}
		recs := make([]testRecord, n)
		for i := range recs {
			recs[i] = testRecord{key: []byte{byte(i)}, value: bytes.Repeat([]byte{byte(rng.IntN(256))}, size), tsDelta: int64(i)}
		}
		return batchSpec{baseOffset: base, epoch: 1, firstTs: int64(1000 + rng.IntN(1000)), records: recs}.build()
	}
	for op := range ops {
		start, end := l.StartOffset(), l.EndOffset()
		switch k := rng.IntN(100); {
		case k < 28: // leader append
			var b []byte
			for range 1 + rng.IntN(3) {
				b = append(b, batch(0)...)
			}
			mustAppend(t, l, b, 1)
		case k < 36: // follower append with offset gaps
			var b []byte
			next := end
			for range 1 + rng.IntN(3) {
				bb := batch(next + int64(rng.IntN(4)))
				h, _ := ParseBatchHeader(bb)
				next = h.LastOffset() + 1
				b = append(b, bb...)
			}
			if _, err := l.AppendReplicated(b); err != nil {
				t.Fatalf("op %d: AppendReplicated: %v", op, err)
			}
		case k < 75: // compare
			for range 4 {
				off := start - 1 + rng.Int64N(end-start+3)
				var maxBytes int
				switch rng.IntN(4) {
				case 0:
					maxBytes = rng.IntN(300)
				case 1:
					maxBytes = 1 << 30
				default:
					maxBytes = rng.IntN(20000)
				}
				maxOffset := start - 1 + rng.Int64N(end-start+3)
				if rng.IntN(3) == 0 {
					maxOffset = math.MaxInt64
				}
				r, want := readBoth(t, l, off, maxBytes, maxOffset, rng.IntN(2) == 0)
				f, m := partKinds(r)
				fileParts, memParts = fileParts+f, memParts+m
				if f > 0 && m > 0 {
					mixed++
				}
				if rng.IntN(5) == 0 {
					held = append(held, heldRecords{r, want})
				} else {
					r.Release()
				}
			}
		case k < 80:
			must(t, l.Truncate(start+rng.Int64N(end-start+1)))
		case k < 83:
			must(t, l.SetStartOffset(start+rng.Int64N(end-start+1)))
		case k < 86: // retention by size
			c := cfg
			c.RetentionBytes = l.Size() / 2
			l.SetConfig(c)
			_, err := l.DeleteOldSegments(end)
			must(t, err)
			l.SetConfig(cfg)
		case k < 91: // reopen, clean or not
			must(t, l.Close())
			if rng.IntN(2) == 0 {
				must(t, fsys.Remove(filepath.Join(dir, cleanShutdownFile)))
			}
			l = open()
		case k < 93: // a copying read of everything verifies it (up to any rot)
			_, err := l.Read(start, 1<<30, math.MaxInt64)
			if err != nil && !errors.Is(err, ErrStorage) {
				t.Fatal(err)
			}
		case k < 96: // bit rot where nothing is verified (held Records could read it: let them go)
			for _, h := range held {
				h.check(t, fmt.Sprintf("op %d", op))
				h.r.Release()
			}
			held = held[:0]
			if rotUnverified(t, rng, l, fsys) {
				rots++
			}
		default:
			for _, h := range held {
				h.check(t, fmt.Sprintf("op %d", op))
				h.r.Release()
			}
			held = held[:0]
		}
	}
	for _, h := range held {
		h.check(t, "end")
		h.r.Release()
		h.r.Release() // idempotent
	}
	must(t, l.Close())
	if n := files.Open(); n != 0 {
		t.Fatalf("%d files still open after every Records was released and the log closed", n)
	}
	if fileParts == 0 || memParts == 0 || mixed == 0 {
		t.Fatalf("paths not all taken: %d file parts, %d memory parts, %d mixed results", fileParts, memParts, mixed)
	}
	t.Logf("%d file parts, %d memory parts, %d mixed results, %d bit flips", fileParts, memParts, mixed, rots)
}

// rotUnverified flips a bit inside the CRC-covered bytes of a batch that
// lies wholly in bytes not verified yet (where ReadRecords must catch it
// exactly as Read does), in a random segment, if it has such a batch.
func rotUnverified(t testing.TB, rng *rand.Rand, l *Log, fsys FS) bool {
	l.mu.RLock()
	s := l.segments[rng.IntN(len(l.segments))]
	lo, hi := s.verified.Load(), min(s.appendedFrom, s.size)
	name := s.file.name()
	l.mu.RUnlock()
	if hi-lo < BatchHeaderSize {
		return false
	}
	f, err := fsys.OpenFile(name, os.O_RDWR, 0)
	must(t, err)
	defer f.Close()
	data := make([]byte, hi)
	must(t, readFull(f, data, 0))
	var cands [][2]int64
	for p := int64(0); p < hi; {
		h, err := ParseBatchHeader(data[p:])
		if err != nil || p+int64(h.Size()) > hi {
			break
		}
		if p >= lo {
			cands = append(cands, [2]int64{p, int64(h.Size())})
		}
		p += int64(h.Size())
	}
	if len(cands) == 0 {
		return false
	}
	c := cands[rng.IntN(len(cands))]
	at := c[0] + offAttributes + rng.Int64N(c[1]-offAttributes)
	b := []byte{data[at] ^ byte(1<<rng.IntN(8))}
	_, err = f.WriteAt(b, at)
	must(t, err)
	return true
}
