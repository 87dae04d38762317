package log

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// hold reads with ReadRecords, checks it against Read and that it sends
// part of it from the file, and returns it unreleased.
func hold(t testing.TB, l *Log, off int64, maxBytes int, maxOffset int64) heldRecords {
	t.Helper()
	r, want := readBoth(t, l, off, maxBytes, maxOffset, true)
	if f, _ := partKinds(r); f == 0 {
		t.Fatal("ReadRecords sent nothing from the file")
	}
	return heldRecords{r, want}
}

// openWith opens dir with its own file cache, so tests can count what
// stays open.
func openWith(t testing.TB, fsys FS, dir string, cfg Config, files *FileCache) *Log {
	t.Helper()
	l, err := Open(dir, cfg, Options{FS: fsys, Files: files})
	must(t, err)
	t.Cleanup(func() { l.Close() })
	return l
}

// closeAndCount closes the log and fails unless the cache holds exactly
// open files afterwards.
func closeAndCount(t testing.TB, l *Log, files *FileCache, open int) {
	t.Helper()
	must(t, l.Close())
	if n := files.Open(); n != open {
		t.Fatalf("%d files open, want %d", n, open)
	}
}

// TestRecordsAcrossRetention: Records held while retention or
// DeleteRecords removes their segments (renamed to .deleted, then removed,
// at once or after the delay) still send the old bytes, and the files
// close when released.
func TestRecordsAcrossRetention(t *testing.T) {
	for _, delay := range []int64{0, 60_000} {
		for _, how := range []string{"retention", "start-offset"} {
			t.Run(fmt.Sprintf("%s/delay=%d", how, delay), func(t *testing.T) {
				dir := t.TempDir()
				files := NewFileCache(100)
				cfg := testConfig()
				cfg.SegmentBytes = 4096
				cfg.FileDeleteDelayMs = delay
				l := openWith(t, OSFS, dir, cfg, files)
				fillLog(t, l, 80)
				h := hold(t, l, 0, 1<<30, l.EndOffset())
				before := len(segmentFiles(t, dir))
				switch how {
				case "retention":
					c := cfg
					c.RetentionBytes = 4096
					l.SetConfig(c)
					n, err := l.DeleteOldSegments(l.EndOffset())
					must(t, err)
					if n == 0 {
						t.Fatal("nothing deleted")
					}
				case "start-offset":
					must(t, l.SetStartOffset(l.EndOffset()-2))
				}
				if delay == 0 && len(segmentFiles(t, dir)) >= before {
					t.Fatal("the segment files were not removed")
				}
				h.check(t, how)
				if n := files.Open(); n < 2 {
					t.Fatalf("%d files open: the held segments' files should be", n)
				}
				h.r.Release()
				closeAndCount(t, l, files, 0)
			})
		}
	}
}

// TestRecordsAcrossClean: Records held across a compaction that swaps
// their segments out send the old, uncompacted bytes.
func TestRecordsAcrossClean(t *testing.T) {
	dir := t.TempDir()
	files := NewFileCache(100)
	l := openWith(t, OSFS, dir, compactConfig(), files)
	for i := range 400 {
		mustAppend(t, l, kvBatch(int64(i), [2]string{fmt.Sprint("k", i%10), fmt.Sprint("v", i)}), 0)
	}
	forceRoll(t, l)
	h := hold(t, l, 0, 1<<30, l.EndOffset())
	if st := mustClean(t, l, l.EndOffset()); !st.Cleaned || st.SegmentsWritten == 0 {
		t.Fatalf("not cleaned: %+v", st)
	}
	if bytes.Equal(readAll(t, l), h.want) {
		t.Fatal("the clean changed nothing")
	}
	h.check(t, "after the clean")
	h.r.Release()
	closeAndCount(t, l, files, 0)
}

// TestRecordsAcrossTruncate: Records held while a truncation cuts their
// segment in place, and appends then write other bytes at the same
// positions, keep the old bytes (the truncation copies them first); so do
// Records of segments a truncation removes whole, or a restart removes.
func TestRecordsAcrossTruncate(t *testing.T) {
	for _, kind := range []string{"os", "mem"} {
		t.Run(kind, func(t *testing.T) {
			fsys, dir := testFS(t, kind)
			files := NewFileCache(100)
			cfg := testConfig()
			cfg.SegmentBytes = 8192
			l := openWith(t, fsys, dir, cfg, files)
			fillLog(t, l, 100)
			end := l.EndOffset()
			l.mu.RLock()
			last := l.active()
			cut := last.base + (end-last.base)/2
			l.mu.RUnlock()

			all := hold(t, l, 0, 1<<30, end)         // every segment, the cut one included
			below := hold(t, l, last.base, 300, cut) // the cut segment's head, below the cut
			above := hold(t, l, cut, 1<<30, end)     // its tail
			must(t, l.Truncate(cut))
			for i := range 40 { // other bytes over the cut
				mustAppend(t, l, valueBatch(2, 60, int64(i)), 3)
			}
			if bytes.Equal(readAll(t, l), all.want) {
				t.Fatal("the log did not change")
			}
			for _, h := range []heldRecords{all, below, above} {
				h.check(t, "after the in-place truncation")
			}
			if p := below.r.parts[0].pin; p == nil || p.mem != nil {
				t.Fatal("a range below the cut should stay in the file")
			}
			if p := above.r.parts[0].pin; p == nil || p.mem == nil {
				t.Fatal("a range above the cut should have been copied")
			}

			// Whole segments removed by a truncation, then everything by a restart.
			whole := hold(t, l, 0, 1<<30, l.EndOffset())
			must(t, l.Truncate(20))
			mustAppend(t, l, valueBatch(5, 10, 0), 4)
			whole.check(t, "after a truncation into the first segment")
			restart := hold(t, l, 0, 1<<30, l.EndOffset())
			must(t, l.TruncateFullyAndStartAt(1000))
			for range 30 {
				mustAppend(t, l, valueBatch(3, 50, 0), 5)
			}
			for _, h := range []heldRecords{all, below, above, whole, restart} {
				h.check(t, "at the end")
				h.r.Release()
			}
			closeAndCount(t, l, files, 0)
		})
	}
}

// TestRecordsAcrossCloseAndReopen: Records outlive Close (their files
// close at Release), Delete, and a reopen of the same directory whose
// truncation cuts their segment (the file cache knows the ranges by name).
func TestRecordsAcrossCloseAndReopen(t *testing.T) {
	dir := t.TempDir()
	files := NewFileCache(100)
	cfg := testConfig()
	cfg.SegmentBytes = 8192
	l := openWith(t, OSFS, dir, cfg, files)
	fillLog(t, l, 60)
	h := hold(t, l, 0, 1<<30, l.EndOffset())
	must(t, l.Close())
	if files.Open() == 0 {
		t.Fatal("Close closed the files of held Records")
	}
	h.check(t, "after Close")

	l = openWith(t, OSFS, dir, cfg, files)
	must(t, l.Truncate(l.EndOffset()-5))
	for range 10 {
		mustAppend(t, l, valueBatch(4, 30, 0), 2)
	}
	h.check(t, "after a reopen and a truncation")
	h.r.Release()
	closeAndCount(t, l, files, 0)

	l = openWith(t, OSFS, dir, cfg, files)
	readAll(t, l) // after a clean open nothing is verified until read
	h = hold(t, l, 0, 1<<30, l.EndOffset())
	must(t, l.Delete())
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("Delete left the directory")
	}
	h.check(t, "after Delete")
	h.r.Release()
	if n := files.Open(); n != 0 {
		t.Fatalf("%d files open", n)
	}
}

// TestReadRecordsVerified: what ReadRecords sends from the file follows
// the verified bytes: everything appended; after a clean open nothing
// until a copying read checks it (from a segment's start, or contiguously
// from what is verified), then what it checked; what is appended after
// the open; after an unclean open, what recovery re-read.
func TestReadRecordsVerified(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 1 << 20
	l := openLog(t, dir, cfg)
	fillLog(t, l, 100)
	end := l.EndOffset()
	kinds := func(off int64, maxBytes int) (file, mem int) {
		t.Helper()
		r, _ := readBoth(t, l, off, maxBytes, end, true)
		defer r.Release()
		return partKinds(r)
	}
	if f, m := kinds(40, 2000); f != 1 || m != 0 {
		t.Fatalf("appended: %d file, %d memory parts", f, m)
	}
	must(t, l.Close())
	l = openLog(t, dir, cfg)
	if f, m := kinds(40, 2000); f != 0 || m != 1 {
		t.Fatalf("after a clean open: %d file, %d memory parts", f, m)
	}
	if f, _ := kinds(40, 2000); f != 0 {
		t.Fatal("a read from the middle verified something")
	}
	if f, m := kinds(0, 3000); f != 0 || m != 1 { // from the start: verifies
		t.Fatalf("first read from the start: %d file, %d memory parts", f, m)
	}
	if f, m := kinds(0, 6000); f != 1 || m != 1 { // the first 3000 bytes from the file, the rest read (and verified)
		t.Fatalf("second read from the start: %d file, %d memory parts", f, m)
	}
	if f, m := kinds(0, 6000); f != 1 || m != 0 {
		t.Fatalf("third read from the start: %d file, %d memory parts", f, m)
	}
	res := mustAppend(t, l, valueBatch(3, 40, 0), 10)
	end = l.EndOffset()
	if f, m := kinds(res.BaseOffset, 1000); f != 1 || m != 0 {
		t.Fatalf("appended after the open: %d file, %d memory parts", f, m)
	}
	// Across the verified head, the unverified middle and what was
	// appended: the middle and the rest are read (and so verified).
	if f, m := kinds(60, 1<<20); f != 1 || m != 1 {
		t.Fatalf("across: %d file, %d memory parts", f, m)
	}
	if f, m := kinds(0, 1<<20); f != 1 || m != 0 {
		t.Fatalf("after reading it all: %d file, %d memory parts", f, m)
	}
	crash(t, l, dir)
	l = openLog(t, dir, cfg)
	if f, m := kinds(40, 2000); f != 1 || m != 0 {
		t.Fatalf("after recovery: %d file, %d memory parts", f, m)
	}

	var nilRecords *Records
	if nilRecords.Len() != 0 {
		t.Fatal("nil Len")
	}
	nilRecords.Release()
	if n, err := nilRecords.WriteTo(io.Discard); n != 0 || err != nil {
		t.Fatal("nil WriteTo")
	}
	r, err := l.ReadRecords(end, 100, end)
	if r != nil || err != nil {
		t.Fatal("an empty read returned records")
	}
	r, err = l.ReadRecords(0, 100, end)
	must(t, err)
	r.Release()
	r.Release()
	if _, err := r.WriteTo(io.Discard); !errors.Is(err, ErrClosed) {
		t.Fatalf("WriteTo after Release: %v", err)
	}
	if _, err := r.Bytes(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Bytes after Release: %v", err)
	}
}

// TestRecordsCollectedWithoutRelease: the safety net gives a forgotten
// Records' files back when it is collected.
func TestRecordsCollectedWithoutRelease(t *testing.T) {
	files := NewFileCache(100)
	l := openWith(t, OSFS, t.TempDir(), testConfig(), files)
	fillLog(t, l, 20)
	func() {
		r, err := l.ReadRecords(0, 1<<20, l.EndOffset())
		must(t, err)
		if f, _ := partKinds(r); f == 0 {
			t.Fatal("no file part")
		}
	}()
	must(t, l.Close())
	waitFor(t, "the forgotten Records to be collected", func() bool {
		runtime.GC()
		return files.Open() == 0
	})
}

// loopback returns a connected pair of TCP connections on 127.0.0.1.
func loopback(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	must(t, err)
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// TestRecordsWriteToTCP: a Records of file and memory parts written to a
// TCP connection (with sendfile on Linux) arrives exactly as Read returns
// it; so does one written to a regular file, a net.Pipe and a buffer
// (copied through the pooled buffer).
func TestRecordsWriteToTCP(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 256 << 10
	l := openLog(t, dir, cfg)
	for i := range 200 {
		mustAppend(t, l, valueBatch(5, 1000, int64(i)), 0)
	}
	must(t, l.Close())
	l = openLog(t, dir, cfg)
	end := l.EndOffset()
	_, err := l.Read(0, 300<<10, end) // verifies the first segment and part of the second
	must(t, err)
	// One Records of file and memory parts, written to each writer in turn.
	r, want := readBoth(t, l, 10, 1<<30, end, true)
	if f, m := partKinds(r); f == 0 || m == 0 {
		t.Fatalf("%d file and %d memory parts, want both", f, m)
	}
	defer r.Release()

	client, server := loopback(t)
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(server)
		got <- b
	}()
	sentBefore := sendfileBytes.Load()
	n, err := r.WriteTo(client)
	must(t, err)
	must(t, client.Close())
	if b := <-got; n != int64(len(want)) || !bytes.Equal(b, want) {
		t.Fatalf("TCP: wrote %d, received %d bytes, want %d; equal %v", n, len(b), len(want), bytes.Equal(b, want))
	}
	if runtime.GOOS == "linux" && sendfileBytes.Load() == sentBefore {
		t.Fatal("sendfile was not used for the TCP connection")
	}

	// A regular file: sendfile too on Linux.
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	must(t, err)
	_, err = r.WriteTo(f)
	must(t, err)
	must(t, f.Close())
	if b, _ := os.ReadFile(f.Name()); !bytes.Equal(b, want) {
		t.Fatal("file: wrong bytes")
	}

	// No descriptor: copied.
	p1, p2 := net.Pipe()
	go func() {
		b, _ := io.ReadAll(p2)
		got <- b
	}()
	_, err = r.WriteTo(p1)
	must(t, err)
	p1.Close()
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatal("pipe: wrong bytes")
	}
	var buf bytes.Buffer
	_, err = r.WriteTo(&buf)
	must(t, err)
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatal("buffer: wrong bytes")
	}
}

// TestRecordsTruncateAfterSendfile: bytes sendfile handed to a socket
// stay in its buffers, by reference to page-cache pages, until the peer
// reads them, after WriteTo returned and the Records was released; a
// truncation and appends over them then must not change what arrives.
func TestRecordsTruncateAfterSendfile(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 64 << 20
	l := openLog(t, dir, cfg)
	for i := range 64 { // 1 MiB: the socket buffers hold it all
		mustAppend(t, l, valueBatch(16, 1000, int64(i)), 0)
	}
	end := l.EndOffset()
	h := hold(t, l, 0, 64<<20, end)
	client, server := loopback(t)
	must(t, client.(*net.TCPConn).SetWriteBuffer(4<<20))
	must(t, server.(*net.TCPConn).SetReadBuffer(4<<20))
	done := make(chan error, 1)
	go func() {
		_, err := h.r.WriteTo(client)
		done <- err
	}()
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(5 * time.Second):
		t.Skip("the socket buffers do not hold 1 MiB here")
	}
	h.r.Release()
	must(t, l.Truncate(end/2+1))
	for range 64 {
		mustAppend(t, l, valueBatch(16, 1000, 7), 1)
	}
	must(t, client.Close())
	b, err := io.ReadAll(server)
	must(t, err)
	if !bytes.Equal(b, h.want) {
		t.Fatalf("received %d bytes, want %d; equal %v", len(b), len(h.want), bytes.Equal(b, h.want))
	}
}

// TestRecordsTruncateDuringSendfile: a truncation and appends over the
// range while WriteTo is part-way through sending it (the peer reads
// slowly, so sendfile waits for the socket) do not change what arrives.
func TestRecordsTruncateDuringSendfile(t *testing.T) {
	for _, kind := range []string{"tcp", "pipe"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig()
			cfg.SegmentBytes = 64 << 20
			l := openLog(t, dir, cfg)
			for i := range 600 { // about 10 MiB: more than the socket buffers hold
				mustAppend(t, l, valueBatch(16, 1000, int64(i)), 0)
			}
			end := l.EndOffset()
			h := hold(t, l, 0, 64<<20, end)
			var w io.WriteCloser
			var rd io.Reader
			if kind == "tcp" {
				w, rd = loopback(t)
			} else {
				w, rd = net.Pipe()
			}
			got := make(chan []byte)
			started := make(chan struct{})
			go func() {
				first := make([]byte, 64<<10)
				_, err := io.ReadFull(rd, first)
				close(started)
				if err != nil {
					got <- nil
					return
				}
				time.Sleep(50 * time.Millisecond) // let the writer block on a full socket
				rest, _ := io.ReadAll(rd)
				got <- append(first, rest...)
			}()
			werr := make(chan error, 1)
			go func() {
				_, err := h.r.WriteTo(w)
				w.Close()
				werr <- err
			}()
			<-started
			must(t, l.Truncate(end/3))
			for range 400 {
				mustAppend(t, l, valueBatch(16, 1000, 7), 1)
			}
			must(t, <-werr)
			if b := <-got; !bytes.Equal(b, h.want) {
				first, last := -1, -1
				for i := range b {
					if b[i] != h.want[i] {
						if first < 0 {
							first = i
						}
						last = i
					}
				}
				l.mu.RLock()
				cutPos := l.active().size
				l.mu.RUnlock()
				t.Fatalf("received %d bytes, want %d; differ in [%d, %d]; log now %d bytes, sent by sendfile %d", len(b), len(h.want), first, last, cutPos, sendfileBytes.Load())
			}
			h.r.Release()
		})
	}
}

// countFS counts the reads of the files it opens: of segment files in
// reads, of index files in indexReads.
type countFS struct {
	FS
	reads, indexReads atomic.Int64
}

type countFile struct {
	File
	n *atomic.Int64
}

func (c *countFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(name, extLog) {
		return countFile{f, &c.reads}, nil
	}
	return countFile{f, &c.indexReads}, nil
}

func (f countFile) ReadAt(p []byte, off int64) (int, error) {
	f.n.Add(1)
	return f.File.ReadAt(p, off)
}

// TestReadRecordsSyscalls measures the preads ReadRecords makes to find
// the batch boundaries of 1 MiB fetches from a verified segment: at most
// one header read per batch it looks at, a couple per fetch. The segment
// is the active one, of which most index entries are only in the index
// files (see spill.go): a fetch at a random offset reads up to two index
// blocks; fetches that follow each other (a consumer) hardly any.
func TestReadRecordsSyscalls(t *testing.T) {
	for _, tc := range []struct {
		name       string
		n, size    int
		sequential bool
		reads      float64 // the most segment preads per fetch allowed (average)
		indexReads float64 // the most index preads per fetch allowed (average)
	}{
		{"1KiB-batches", 10, 100, false, 2.2, 2},
		{"16KiB-batches", 16, 1000, false, 4.2, 2},
		{"1KiB-batches-sequential", 10, 100, true, 2.2, 0.5},
		{"16KiB-batches-sequential", 16, 1000, true, 4.2, 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := &countFS{FS: NewMemFS()}
			cfg := DefaultConfig()
			l := openWith(t, fsys, "/p", cfg, NewFileCache(10))
			for written := 0; written < 16<<20; {
				b := valueBatch(tc.n, tc.size, 0)
				mustAppend(t, l, b, 0)
				written += len(b)
			}
			end := l.EndOffset()
			rng := rand.New(rand.NewPCG(1, 2))
			const fetches = 200
			var recReads, readReads, indexReads int64
			next := int64(0)
			for range fetches {
				off := rng.Int64N(end)
				if tc.sequential {
					off = next
				}
				before, beforeIndex := fsys.reads.Load(), fsys.indexReads.Load()
				r, err := l.ReadRecords(off, 1<<20, end)
				must(t, err)
				recReads += fsys.reads.Load() - before
				indexReads += fsys.indexReads.Load() - beforeIndex
				if f, m := partKinds(r); f != 1 || m != 0 {
					t.Fatalf("%d file and %d memory parts", f, m)
				}
				rb, err := r.Bytes()
				must(t, err)
				hs := batches(t, rb)
				next = hs[len(hs)-1].LastOffset() + 1
				if next >= end {
					next = 0
				}
				r.Release()
				before = fsys.reads.Load()
				_, err = l.Read(off, 1<<20, end)
				must(t, err)
				readReads += fsys.reads.Load() - before
			}
			avg, avgIndex := float64(recReads)/fetches, float64(indexReads)/fetches
			t.Logf("preads per 1 MiB fetch: ReadRecords %.2f (headers only) and %.2f of the index, Read %.2f (1 MiB of data)",
				avg, avgIndex, float64(readReads)/fetches)
			if avg > tc.reads {
				t.Fatalf("%.2f preads per fetch, want at most %.1f", avg, tc.reads)
			}
			if avgIndex > tc.indexReads {
				t.Fatalf("%.2f index preads per fetch, want at most %.1f", avgIndex, tc.indexReads)
			}
		})
	}
}

// TestReadRecordsConcurrent runs ReadRecords and WriteTo against appends,
// truncations, retention and start-offset moves (for the race detector):
// every result is whole, CRC-correct batches with increasing offsets from
// the one asked for, and every file goes back to the cache.
func TestReadRecordsConcurrent(t *testing.T) {
	for _, kind := range []string{"os", "mem"} {
		t.Run(kind, func(t *testing.T) {
			fsys, dir := testFS(t, kind)
			files := NewFileCache(6)
			cfg := testConfig()
			cfg.SegmentBytes = 4096
			cfg.FileDeleteDelayMs = 0
			l := openWith(t, fsys, dir, cfg, files)
			fillLog(t, l, 50)
			stop := concurrentReaders(t, 4, 3, func(_ int, rng *rand.Rand) error {
				start, end := l.StartOffset(), l.EndOffset()
				off := start + rng.Int64N(end-start+1)
				r, err := l.ReadRecords(off, rng.IntN(5000), end)
				if errors.Is(err, ErrOffsetOutOfRange) {
					return errRetry // moved meanwhile
				}
				if err != nil {
					return err
				}
				var buf bytes.Buffer
				_, err = r.WriteTo(&buf)
				r.Release()
				if err == nil {
					err = checkBatches(buf.Bytes(), off)
				}
				return err
			})
			rng := rand.New(rand.NewPCG(9, 9))
			for i := range 300 {
				switch k := rng.IntN(20); {
				case k < 14:
					mustAppend(t, l, valueBatch(1+rng.IntN(4), rng.IntN(200), int64(i)), 1)
				case k < 16:
					end := l.EndOffset()
					must(t, l.Truncate(end-rng.Int64N(min(end-l.StartOffset(), 20)+1)))
				case k < 18:
					must(t, l.SetStartOffset(l.StartOffset()+rng.Int64N((l.EndOffset()-l.StartOffset())/4+1)))
				default:
					c := cfg
					c.RetentionBytes = 20_000
					l.SetConfig(c)
					_, err := l.DeleteOldSegments(l.EndOffset())
					must(t, err)
					l.SetConfig(cfg)
				}
			}
			stop()
			closeAndCount(t, l, files, 0)
		})
	}
}

// checkBatches checks a read result: whole batches with correct CRCs and
// increasing offsets, the first ending at or after off.
func checkBatches(b []byte, off int64) error {
	next := int64(-1)
	for p := 0; p < len(b); {
		h, size, err := frameBatch(b[p:], 0)
		if err == nil {
			err = checkCRC(h, b[p:p+size])
		}
		if err != nil {
			return fmt.Errorf("at %d: %w", p, err)
		}
		if (p == 0 && h.LastOffset() < off) || h.BaseOffset < next {
			return fmt.Errorf("batch at %d has offsets %d..%d", p, h.BaseOffset, h.LastOffset())
		}
		next = h.LastOffset() + 1
		p += size
	}
	return nil
}
