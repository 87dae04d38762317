package log

import (
	"fmt"
	"slices"
	"sync"
)

// readPeek is the lead beyond which Read first reads the header at the
// index entry, to skip that batch.
const readPeek = 8 << 10

// readGap bounds how far before the wanted batch a read may start so that
// finding the batch and reading it take one pread: the batch holding an
// offset starts at most an index interval (plus the indexed batch before
// it) after the index entry below it.
const readGap = 64 << 10

// Read returns whole batches starting with the one holding offset: at most
// maxBytes in total, except that the first batch is returned whole however
// large (Kafka's "at least one batch" rule), and only batches whose base
// offset is below maxOffset (the caller passes the high watermark). Reads
// continue across segment boundaries until maxBytes is used. offset ==
// LogEndOffset (or >= maxOffset) returns nothing; offset below the log start
// offset or above the log end offset is ErrOffsetOutOfRange.
//
// The result is read from the files straight into a fresh buffer owned by
// the caller: usually one pread per segment, which starts at the sparse
// index entry below offset and skips the bytes before the wanted batch in
// memory. Every batch's CRC is checked; a corrupt batch is never returned
// (the batches before it are, and a read starting at it fails with
// ErrStorage). Checked batches that start inside a segment's verified
// prefix extend it, for ReadRecords.
func (l *Log) Read(offset int64, maxBytes int, maxOffset int64) ([]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	maxOffset, empty, err := l.readRangeLocked(offset, maxOffset)
	if empty || err != nil {
		return nil, err
	}
	maxBytes = max(maxBytes, 0)
	var out []byte
	skip := 0 // bytes at the front of out that precede the first wanted batch
	for si := l.segmentIndex(offset); si < len(l.segments); si++ {
		s := l.segments[si]
		if s.base >= maxOffset {
			break
		}
		var done bool
		var err error
		q := segmentRead{si: si, offset: offset, maxBytes: maxBytes, maxOffset: maxOffset, search: out == nil}
		out, skip, done, err = l.readSegment(q, out, skip)
		if err != nil {
			return nil, err
		}
		if done {
			break
		}
		offset = s.next
	}
	if len(out) == skip {
		return nil, nil
	}
	return out[skip:], nil
}

// segmentRead is one segment's share of a read: Read's arguments, where in
// the segment to start, and what the read holds outside out already.
type segmentRead struct {
	si        int
	offset    int64
	maxBytes  int
	maxOffset int64
	// search: offset may lie inside the segment, so find its batch from the
	// index; else start at the batch boundary from.
	search bool
	from   int64
	taken  int64 // result bytes gathered elsewhere (ReadRecords' file parts)
}

// readRangeLocked checks a read from offset for Read and ReadRecords: the
// log must be open and offset within [start, end] (else ErrOffsetOutOfRange).
// It returns maxOffset capped at the log end, and empty when nothing lies
// between offset and it. The caller holds mu for reading.
func (l *Log) readRangeLocked(offset, maxOffset int64) (_ int64, empty bool, _ error) {
	if l.closed {
		return 0, true, ErrClosed
	}
	if offset < l.startOffset || offset > l.endOffset {
		return 0, true, fmt.Errorf("%w: %d not in [%d, %d]", ErrOffsetOutOfRange, offset, l.startOffset, l.endOffset)
	}
	maxOffset = min(maxOffset, l.endOffset)
	return maxOffset, offset >= maxOffset, nil
}

// readSegment appends to out the batches of segment q.si that Read wants.
// out[skip:] is what earlier segments contributed (out is nil before the
// first). done reports that Read has all it wants. The CRC-checked range
// extends the segment's verified prefix when it starts inside it. The
// caller holds mu.
func (l *Log) readSegment(q segmentRead, out []byte, skip int) (_ []byte, _ int, done bool, err error) {
	s := l.segments[q.si]
	offset, maxOffset := q.offset, q.maxOffset
	want := int64(q.maxBytes) - q.taken - int64(len(out)-skip) // bytes still wanted
	empty := q.taken == 0 && len(out) == skip                  // the next batch goes whole whatever maxBytes says
	if !empty && want <= 0 {
		return out, skip, true, nil
	}
	f, err := s.open()
	if err != nil {
		return nil, 0, false, err
	}
	defer s.file.release()

	// Read from the index entry below offset, covering the lead up to the
	// wanted batch (it starts at or before the next entry) and then want.
	pos, lead := q.from, int64(0)
	if q.search {
		x, err := l.indexes(s)
		if err != nil {
			return nil, 0, false, err
		}
		var upper int64
		if pos, upper, err = s.bounds(x, offset-s.base); err != nil {
			return nil, 0, false, err
		}
		if upper-pos > readPeek {
			// Most likely one large batch ends before the wanted one:
			// skip it by its header rather than read it.
			h, err := peekHeader(f, pos, s.size)
			if err != nil {
				return nil, 0, false, l.corrupt(s, err)
			}
			if h.LastOffset() < offset {
				pos += int64(h.Size())
			}
		}
		lead = upper - pos
		if lead > readGap {
			// A large batch before the wanted one: find the batch first.
			r := getReader(f, s.size)
			p, _, found, err := s.locateFrom(r, pos, offset)
			putReader(r)
			if err != nil {
				return nil, 0, false, l.corrupt(s, err)
			}
			if !found {
				return out, skip, false, nil
			}
			pos, lead = p, 0
		}
	}
	budget := lead + max(want, BatchHeaderSize)
	n := min(s.size-pos, budget)
	if out == nil {
		out = make([]byte, 0, min(budget, s.size-pos+l.bytesAfter(q.si)))
	}
	start := len(out)
	out = slices.Grow(out, int(n))[:start+int(n)]
	if err := readFull(f, out[start:], pos); err != nil {
		return nil, 0, false, fmt.Errorf("%w: read segment %d: %w", ErrStorage, s.base, err)
	}

	// Skip to the wanted batch; make sure the first batch of the result is whole.
	p := 0
	for empty {
		if pos+int64(p) >= s.size {
			return out[:start], skip, false, nil // every batch ends before offset
		}
		if short := BatchHeaderSize - (len(out) - start - p); short > 0 {
			if out, err = extend(f, out, start, pos, s.size, short); err != nil {
				return nil, 0, false, err
			}
		}
		h, err := checkStoredHeader(out[start+p:], pos+int64(p), s.size)
		if err != nil {
			return nil, 0, false, l.corrupt(s, err)
		}
		if h.LastOffset() < offset {
			p += h.Size()
			continue
		}
		if short := h.Size() - (len(out) - start - p); short > 0 {
			if out, err = extend(f, out, start, pos, s.size, short); err != nil {
				return nil, 0, false, err
			}
		}
		skip = start + p
		want = max(want, int64(h.Size()))
		break
	}

	// Keep whole, CRC-checked batches below maxOffset, within want.
	from := start + p
	end := from + int(min(want, int64(len(out)-from)))
	k, err := checkedBatches(out[from:end], maxOffset, pos+int64(p))
	s.extendVerified(pos+int64(p), pos+int64(p)+int64(k))
	if err != nil {
		if q.taken == 0 && from+k == skip { // nothing precedes the corrupt batch
			return nil, 0, false, l.corrupt(s, err)
		}
		_ = l.corrupt(s, err) // report it; serve what precedes it
		return out[:from+k], skip, true, nil
	}
	return out[:from+k], skip, pos+int64(p)+int64(k) < s.size, nil
}

var headerPool = sync.Pool{New: func() any { return new([BatchHeaderSize]byte) }}

// peekHeader reads the header of the batch at pos in a segment of size bytes.
func peekHeader(f File, pos, size int64) (BatchHeader, error) {
	b := headerPool.Get().(*[BatchHeaderSize]byte)
	defer headerPool.Put(b)
	if err := readFull(f, b[:], pos); err != nil {
		return BatchHeader{}, fmt.Errorf("%w: header at position %d: %w", ErrCorruptBatch, pos, err)
	}
	return checkStoredHeader(b[:], pos, size)
}

// extend reads more bytes of the segment (size bytes long) onto out, whose
// bytes from start hold the file from position pos on.
func extend(f File, out []byte, start int, pos, size int64, more int) ([]byte, error) {
	have := int64(len(out) - start)
	more = int(min(int64(more), size-pos-have))
	if more <= 0 {
		return out, nil
	}
	out = slices.Grow(out, more)
	n := len(out)
	out = out[:n+more]
	if err := readFull(f, out[n:], pos+have); err != nil {
		return nil, fmt.Errorf("%w: read: %w", ErrStorage, err)
	}
	return out, nil
}

// checkedBatches returns the length of the prefix of b made of whole batches
// with base offsets below maxOffset and correct CRCs; b starts at file
// position pos. A batch that is not intact ends the prefix and is returned
// as the error.
func checkedBatches(b []byte, maxOffset, pos int64) (int, error) {
	p := 0
	for len(b)-p >= BatchHeaderSize {
		h := decodeHeader(b[p:])
		if h.Length < minBatchLength || h.Magic != 2 {
			return p, fmt.Errorf("%w: bad header at position %d", ErrCorruptBatch, pos+int64(p))
		}
		if h.BaseOffset >= maxOffset || h.Size() > len(b)-p {
			break
		}
		if err := checkCRC(h, b[p:p+h.Size()]); err != nil {
			return p, fmt.Errorf("batch at position %d: %w", pos+int64(p), err)
		}
		p += h.Size()
	}
	return p, nil
}

// corrupt reports corrupt stored data and wraps it as a storage error. The
// segment stays: the broker decides what to do with the replica.
func (l *Log) corrupt(s *segment, err error) error {
	l.logger.Error("log: corrupt data in segment; not served", "dir", l.dir, "segment", s.base, "err", err)
	return fmt.Errorf("%w: segment %d: %w", ErrStorage, s.base, err)
}

// bytesAfter counts the published bytes of the segments after si.
func (l *Log) bytesAfter(si int) int64 {
	var n int64
	for _, s := range l.segments[si+1:] {
		n += s.size
	}
	return n
}
