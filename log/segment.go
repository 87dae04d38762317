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
type segment struct {
	base     int64
	logFile  File
	idxFile  File
	timeFile File

	// published
	size int64       // bytes of whole, valid batches
	next int64       // offset after the last batch (base if empty)
	oidx offsetIndex // in-memory copy of the .index file
	tidx timeIndex   // in-memory copy of the .timeindex file
	ix   indexer     // running index state; ix.maxTs is the segment's max timestamp

	// writer-only (Log.wmu)
	rollTs  int64     // max timestamp of the first batch, -1 if unknown (time-based roll)
	created time.Time // when this process created or opened the segment

	// shared with the background flusher
	dirty  atomic.Bool // written since the last sync
	closed atomic.Bool
}

func segmentName(dir string, base int64, ext string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, ext))
}

const (
	extLog       = ".log"
	extIndex     = ".index"
	extTimeIndex = ".timeindex"
)

// openSegmentFiles opens (creating if needed) a segment's three files;
// trunc empties them, for a brand-new segment.
func openSegmentFiles(fsys FS, dir string, base int64, trunc bool) (*segment, error) {
	flag := os.O_RDWR | os.O_CREATE
	if trunc {
		flag |= os.O_TRUNC
	}
	s := &segment{base: base, next: base, rollTs: -1, ix: indexer{maxTs: -1, maxTsRel: -1}}
	var err error
	if s.logFile, err = fsys.OpenFile(segmentName(dir, base, extLog), flag, 0o644); err != nil {
		return nil, err
	}
	if s.idxFile, err = fsys.OpenFile(segmentName(dir, base, extIndex), flag, 0o644); err != nil {
		s.close()
		return nil, err
	}
	if s.timeFile, err = fsys.OpenFile(segmentName(dir, base, extTimeIndex), flag, 0o644); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// close closes the files once. The File fields stay set, so a background
// flush racing with it gets an error from Sync rather than a data race.
func (s *segment) close() error {
	if s.closed.Swap(true) {
		return nil
	}
	var first error
	for _, f := range []File{s.logFile, s.idxFile, s.timeFile} {
		if f == nil {
			continue
		}
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// remove closes the segment and deletes its files, the log file first so a
// crash part-way leaves only orphan indexes, which Open deletes.
func (s *segment) remove(fsys FS, dir string) error {
	err := s.close()
	for _, ext := range []string{extLog, extIndex, extTimeIndex} {
		if rerr := fsys.Remove(segmentName(dir, s.base, ext)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
			err = rerr
		}
	}
	return err
}

// sync makes the segment's writes durable. It may run in the background
// flusher while the writer appends: a write that lands after the flag is
// cleared sets it again, so it is never forgotten.
func (s *segment) sync() error {
	if !s.dirty.Swap(false) {
		return nil
	}
	for _, f := range []File{s.logFile, s.idxFile, s.timeFile} {
		if err := f.Sync(); err != nil {
			s.dirty.Store(true)
			return err
		}
	}
	return nil
}

// lastTime is the timestamp of the last time-index entry, -1 if none.
func (s *segment) lastTime() int64 {
	if len(s.tidx) == 0 {
		return -1
	}
	return s.tidx[len(s.tidx)-1].ts
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

// writeIndexes persists index entries appended past the file lengths nOff
// and nTime (entries already in the files are not rewritten), encoding
// them in *scratch, which it may grow.
func (s *segment) writeIndexes(oidx offsetIndex, tidx timeIndex, nOff, nTime int, scratch *[]byte) error {
	if len(oidx) > nOff {
		*scratch = oidx[nOff:].encode((*scratch)[:0])
		if _, err := s.idxFile.WriteAt(*scratch, int64(nOff)*offsetEntrySize); err != nil {
			return err
		}
	}
	if len(tidx) > nTime {
		*scratch = tidx[nTime:].encode((*scratch)[:0])
		if _, err := s.timeFile.WriteAt(*scratch, int64(nTime)*timeEntrySize); err != nil {
			return err
		}
	}
	return nil
}

// rewriteIndexes replaces both index files with the in-memory indexes.
func (s *segment) rewriteIndexes() error {
	if err := s.idxFile.Truncate(0); err != nil {
		return err
	}
	if err := s.timeFile.Truncate(0); err != nil {
		return err
	}
	s.dirty.Store(true)
	if b := s.oidx.encode(nil); len(b) > 0 {
		if _, err := s.idxFile.WriteAt(b, 0); err != nil {
			return err
		}
	}
	if b := s.tidx.encode(nil); len(b) > 0 {
		if _, err := s.timeFile.WriteAt(b, 0); err != nil {
			return err
		}
	}
	return nil
}

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
	h, err := ParseBatchHeader(b)
	if err != nil {
		return h, fmt.Errorf("at position %d: %w", pos, err)
	}
	if pos+int64(h.Size()) > r.end {
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
// starting from the index's lower bound and scanning headers. found is false
// when every batch of the segment ends before offset.
func (s *segment) locate(r *chunkReader, offset int64) (pos int64, h BatchHeader, found bool, err error) {
	pos = s.oidx.lowerPos(offset - s.base)
	for pos < s.size {
		if h, err = r.header(pos); err != nil {
			return 0, h, false, err
		}
		if h.LastOffset() >= offset {
			return pos, h, true, nil
		}
		pos += int64(h.Size())
	}
	return 0, BatchHeader{}, false, nil
}
