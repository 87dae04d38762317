package log

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// segment is one file of the log, holding the batches from base up to the
// next segment's base, with its two sparse indexes.
//
// Fields marked "published" are what readers may see: the writer (holding
// Log.wmu) changes them only under Log.mu's write lock, and readers read them
// under its read lock. Bytes at or beyond size are the writer's: an append
// writes them first and publishes them after, so a concurrent Read never
// sees a half-written batch.
//
// The .log file is reached through the log's FileCache, which opens it on
// demand and closes it when idle, the active segment's included. The
// indexes live in memory and are written to their files when the segment
// is sealed, flushed or closed, and a block at a time when the active
// segment's spill (see spill.go): recovery rebuilds them for any segment
// that was not synced. A sealed segment's may be dropped from memory and
// reloaded from the files (see IndexCache).
type segment struct {
	base int64
	file *cachedFile

	// published
	size int64   // bytes of whole, valid batches
	next int64   // offset after the last batch (base if empty)
	ix   indexer // running index state; ix.maxTs is the segment's max timestamp

	// The offset and time indexes (the files are possibly shorter copies);
	// nil while dropped. Read them with Log.indexes. A writer replaces them
	// under mu's write lock (setIndexes); a reload sets them under drop.mu.
	idx atomic.Pointer[segIndexes]
	// drop is the IndexCache's bookkeeping, made when the segment is first
	// retired (sealed, its index files current): the active segment, and so
	// every idle partition's only one, never needs it (issue 18).
	drop atomic.Pointer[dropState]

	// writer-only (Log.wmu)
	rollTs   int64 // max timestamp of the first batch, -1 if unknown (time-based roll)
	created  int64 // when this process created or opened the segment (unix ms of Log.now)
	jitterMs int64 // segment.jitter.ms draw for this segment
	// The counts are int32 (an index holds at most segment.index.bytes / 8 entries, an int
	// too): with the flags packed below, a segment fits 256 bytes (issue 18).
	nOff     int32 // entries in the offset index, in memory or not
	nTime    int32 // entries in the time index
	oidxDisk int32 // entries in the .index file; -1: the file is to be (re)created
	tidxDisk int32 // entries in the .timeindex file; -1: the file is to be (re)created
	idxCut   bool  // the index files hold entries beyond the in-memory ones

	// shared with the background flusher
	dirty    atomic.Bool // .log written since the last sync
	idxDirty atomic.Bool // index files written since the last sync
	txnDirty atomic.Bool // .txnindex written since the last sync (txnindex.go)

	// What ReadRecords may send without reading it: bytes below verified
	// (a batch boundary) had their CRCs checked in this process, by
	// recovery or a copying read, or were appended by it; so were the bytes
	// from appendedFrom (published; math.MaxInt64 when none) to size, what
	// this process appended to a segment it opened with unverified bytes.
	// Readers raise verified under mu's read lock (so it is atomic); the
	// writer sets both under the write lock. Bit rot after verification is
	// not caught (see ReadRecords).
	verified     atomic.Int64
	appendedFrom int64

	// The aborted-transaction index (see txnindex.go): the entries are
	// published; txnDisk (entries in the file) is the writer's.
	aborted []AbortedTxn
	txnDisk int
}

func segmentName(dir string, base int64, ext string) string {
	return filepath.Join(dir, segmentBaseName(base)+ext)
}

const (
	extLog       = ".log"
	extIndex     = ".index"
	extTimeIndex = ".timeindex"
)

var segmentExts = []string{extLog, extIndex, extTimeIndex, extTxnIndex}

// noIndexes are a new segment's indexes, shared: segIndexes are never changed once published.
var noIndexes = &segIndexes{}

func newSegment(files *FileCache, fsys FS, dir *string, base int64, create bool) *segment {
	s := &segment{
		base:     base,
		next:     base,
		rollTs:   -1,
		ix:       indexer{maxTs: -1, maxTsRel: -1},
		file:     files.file(fsys, dir, base, create),
		oidxDisk: -1,
		tidxDisk: -1,

		appendedFrom: math.MaxInt64,
	}
	s.idx.Store(noIndexes)
	return s
}

// verifiedEnd reports whether the batch boundary start lies in bytes
// verified in this process, and if so where they end. The caller holds mu.
func (s *segment) verifiedEnd(start int64) (end int64, ok bool) {
	v := s.verified.Load()
	switch {
	case start < v && v < s.appendedFrom:
		return v, true
	case start < v || start >= s.appendedFrom:
		return s.size, true
	}
	return 0, false
}

// extendVerified records that the batches in [from, to) passed their CRC
// check: the verified prefix grows when the range starts inside it, and
// covers the whole segment once it reaches what this process appended.
// The caller holds mu (a read lock suffices).
func (s *segment) extendVerified(from, to int64) {
	for {
		v := s.verified.Load()
		if from > v || to <= v {
			break
		}
		if s.verified.CompareAndSwap(v, to) {
			break
		}
	}
	for {
		v := s.verified.Load()
		if v < s.appendedFrom || v >= s.size || s.verified.CompareAndSwap(v, s.size) {
			return
		}
	}
}

// appended records that this process wrote the batches in [pos, end),
// which passed their CRC checks before the write (Append's callers run
// ValidateBatches; AppendReplicated checks each CRC). The caller holds
// mu's write lock.
func (s *segment) appended(pos, end int64) {
	if s.verified.Load() >= pos {
		s.verified.Store(end)
	} else if s.appendedFrom > pos {
		s.appendedFrom = pos
	}
}

// cutVerified follows a truncation of the segment to size bytes. The
// caller holds mu's write lock.
func (s *segment) cutVerified(size int64) {
	s.verified.Store(min(s.verified.Load(), size))
	if s.appendedFrom >= size {
		s.appendedFrom = math.MaxInt64
	}
}

// open returns the .log file, which the caller releases with
// s.file.release().
func (s *segment) open() (File, error) {
	f, err := s.file.acquire()
	if err != nil {
		return nil, fmt.Errorf("%w: open segment %d: %w", ErrStorage, s.base, err)
	}
	return f, nil
}

// close closes the segment's file for good and gives its indexes' memory
// back.
func (s *segment) close() error {
	if d := s.drop.Load(); d != nil {
		d.icache.remove(&d.entry)
	}
	if s.file == nil {
		return nil
	}
	return s.file.close()
}

// remove closes the segment and deletes its files, the log file first so a
// crash part-way leaves only orphan indexes, which Open deletes.
func (s *segment) remove(fsys FS, dir string) error {
	err := s.close()
	for _, ext := range segmentExts {
		if rerr := fsys.Remove(segmentName(dir, s.base, ext)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
			err = rerr
		}
	}
	return err
}

// sync makes the segment's writes durable. It may run in the background
// flusher while the writer appends: a write that lands after a flag is
// cleared sets it again, so it is never forgotten.
func (s *segment) sync(fsys FS, dir string) error {
	if s.dirty.Swap(false) {
		f, err := s.file.acquire()
		if err == nil {
			err = f.Sync()
			s.file.release()
		}
		if err != nil {
			s.dirty.Store(true)
			return err
		}
	}
	if s.idxDirty.Swap(false) {
		for _, ext := range []string{extIndex, extTimeIndex} {
			if err := syncFile(fsys, segmentName(dir, s.base, ext)); err != nil {
				s.idxDirty.Store(true)
				return err
			}
		}
	}
	return s.syncTxnIndex(fsys, dir)
}

// syncFile fsyncs a file by name (fsync acts on the file, not the handle).
func syncFile(fsys FS, name string) error {
	f, err := fsys.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// persistIndexes brings both index files up to date with the in-memory
// indexes, writing only the entries they lack (or the whole file when it
// is to be recreated). The caller holds wmu.
func (s *segment) persistIndexes(fsys FS, dir string, scratch *[]byte) error {
	if s.size == 0 {
		// Nothing to index, and Open ignores an empty segment's index files
		// (loadSegment): a new partition closes without creating them.
		// oidxDisk and idxCut stay as they are, so once the segment holds
		// batches its files are rewritten (or cut) before any use.
		return nil
	}
	s.rewriteIfRebuilt()
	if s.oidxDisk == s.nOff && s.tidxDisk == s.nTime && !s.idxCut {
		return nil // perhaps dropped: the files hold them
	}
	return s.persistIndexesOf(fsys, dir, s.idx.Load(), scratch) // not droppable while its files are behind
}

// persistIndexesOf is persistIndexes for x, the segment's indexes or the
// ones about to be published. Entries only in the files (x.sp) are there
// already.
func (s *segment) persistIndexesOf(fsys FS, dir string, x *segIndexes, scratch *[]byte) error {
	nOff, nTime := x.counts()
	if s.oidxDisk == nOff && s.tidxDisk == nTime && !s.idxCut {
		return nil
	}
	var oFrom, tFrom int
	if x.sp != nil {
		oFrom, tFrom = x.sp.nOff, x.sp.nTime
	}
	*scratch = x.oidx.encode((*scratch)[:0])
	if err := persistIndex(fsys, segmentName(dir, s.base, extIndex), *scratch, oFrom, offsetEntrySize, &s.oidxDisk, s.idxCut); err != nil {
		return err
	}
	*scratch = x.tidx.encode((*scratch)[:0])
	if err := persistIndex(fsys, segmentName(dir, s.base, extTimeIndex), *scratch, tFrom, timeEntrySize, &s.tidxDisk, s.idxCut); err != nil {
		return err
	}
	s.idxCut = false
	s.idxDirty.Store(true)
	return nil
}

// persistIndex writes the encoded entries mem (of size bytes each), which
// follow the first from entries of the index, to the file name, of which
// *disk entries are already there (-1: recreate the file; only when from
// is 0); cut truncates entries beyond the index first.
func persistIndex(fsys FS, name string, mem []byte, from, size int, diskCount *int32, cut bool) error {
	d := int(*diskCount)
	disk := &d
	defer func() { *diskCount = int32(d) }()
	if from > 0 && *disk < from {
		// The entries before mem are not in memory to write.
		return fmt.Errorf("%s holds %d entries; the first %d are only in the file", name, *disk, from)
	}
	n := from + len(mem)/size
	flags := os.O_RDWR | os.O_CREATE
	if *disk < 0 {
		flags |= os.O_TRUNC
	}
	if *disk == n && !cut {
		return nil
	}
	f, err := fsys.OpenFile(name, flags, 0o644)
	if err != nil {
		return err
	}
	w := max(*disk, from) // the first entry to write
	if cut {
		err = f.Truncate(int64(n * size))
		w = min(w, n)
	}
	if err == nil && w < n {
		_, err = f.WriteAt(mem[(w-from)*size:], int64(w*size))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// Unknown: rewrite what is in memory next time, the whole file if
		// it is all in memory.
		*disk = -1
		if from > 0 {
			*disk = from
		}
		return err
	}
	*disk = n
	return nil
}

// modTime is the .log file's modification time (the segment's age when it
// holds no timestamps, as Kafka's LogSegment.largestTimestamp falls back to).
func (s *segment) modTime() (time.Time, error) {
	f, err := s.file.acquire()
	if err != nil {
		return time.Time{}, err
	}
	defer s.file.release()
	fi, err := f.Stat()
	if err != nil {
		return time.Time{}, err
	}
	return fi.ModTime(), nil
}

// lastTime is the timestamp of the last time-index entry, -1 if none, of
// a segment whose indexes cannot have been dropped (see mustIndexes).
func (s *segment) lastTime() int64 {
	if e, ok := s.mustIndexes().lastTimeEntry(); ok {
		return e.ts
	}
	return -1
}

// maxTimestampOffset is the absolute last offset of the batch carrying the
// segment's largest timestamp, -1 if none.
func (s *segment) maxTimestampOffset() int64 {
	if s.ix.maxTsRel < 0 {
		return -1
	}
	return s.base + int64(s.ix.maxTsRel)
}

// fits reports whether relative offsets up to last fit the int32 index
// entries of this segment.
func (s *segment) fits(last int64) bool { return last-s.base <= math.MaxInt32 }

// chunkReader reads a file through a buffer, a chunk at a time, so a scan
// over many small batch headers costs one pread per chunk. It never reads
// past end and never allocates more than end-pos bytes, so a corrupt length
// cannot make it allocate beyond what the file holds.
type chunkReader struct {
	f     File
	end   int64
	chunk int
	buf   []byte
	off   int64 // file position of buf[0]
	n     int   // valid bytes in buf
}

func (r *chunkReader) reset(f File, end int64) {
	r.f, r.end, r.off, r.n = f, end, 0, 0
}

// at returns the n bytes at pos, valid until the next call.
func (r *chunkReader) at(pos int64, n int) ([]byte, error) {
	if pos < 0 || pos+int64(n) > r.end {
		return nil, io.ErrUnexpectedEOF
	}
	if pos >= r.off && pos+int64(n) <= r.off+int64(r.n) {
		i := int(pos - r.off)
		return r.buf[i : i+n], nil
	}
	want := max(n, r.chunk)
	if rest := r.end - pos; int64(want) > rest {
		want = int(rest)
	}
	if cap(r.buf) < want {
		r.buf = make([]byte, want)
	}
	r.buf = r.buf[:want]
	r.n = 0
	if err := readFull(r.f, r.buf, pos); err != nil {
		return nil, err
	}
	r.off, r.n = pos, want
	return r.buf[:n], nil
}

// header returns the framed header of the batch at pos: a v2 header whose
// batch lies entirely before end.
func (r *chunkReader) header(pos int64) (BatchHeader, error) {
	b, err := r.at(pos, BatchHeaderSize)
	if err != nil {
		return BatchHeader{}, fmt.Errorf("%w: header at position %d: %w", ErrCorruptBatch, pos, err)
	}
	return checkStoredHeader(b, pos, r.end)
}

// checkStoredHeader parses the header in b (of the batch at file position
// pos in a segment of end bytes) and checks its framing.
func checkStoredHeader(b []byte, pos, end int64) (BatchHeader, error) {
	h, err := ParseBatchHeader(b)
	if err != nil {
		return h, fmt.Errorf("at position %d: %w", pos, err)
	}
	if pos+int64(h.Size()) > end {
		return h, fmt.Errorf("%w: batch at position %d overruns the segment", ErrCorruptBatch, pos)
	}
	if h.LastOffsetDelta < 0 {
		return h, fmt.Errorf("%w: negative last offset delta at position %d", ErrCorruptBatch, pos)
	}
	return h, nil
}

const scanChunk = 8 << 10

var readerPool = sync.Pool{New: func() any { return &chunkReader{chunk: scanChunk} }}

func getReader(f File, end int64) *chunkReader {
	r := readerPool.Get().(*chunkReader)
	r.reset(f, end)
	return r
}

func putReader(r *chunkReader) {
	if cap(r.buf) > 4*scanChunk {
		r.buf = nil // do not pin a large buffer grown for one long batch
	}
	r.f = nil
	readerPool.Put(r)
}

// locate finds the first published batch whose last offset is >= offset,
// starting from the offset index's lower bound and scanning headers. found
// is false when every batch of the segment ends before offset.
func (s *segment) locate(r *chunkReader, x *segIndexes, offset int64) (pos int64, h BatchHeader, found bool, err error) {
	lo, err := s.lowerPos(x, offset-s.base)
	if err != nil {
		return 0, BatchHeader{}, false, err
	}
	return s.locateFrom(r, lo, offset)
}

func (s *segment) locateFrom(r *chunkReader, pos, offset int64) (int64, BatchHeader, bool, error) {
	for pos < s.size {
		h, err := r.header(pos)
		if err != nil {
			return 0, h, false, err
		}
		if h.LastOffset() >= offset {
			return pos, h, true, nil
		}
		pos += int64(h.Size())
	}
	return 0, BatchHeader{}, false, nil
}
