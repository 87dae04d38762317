package log

import (
	"runtime"
)

// ReadRecords is Read without copying: same arguments, same result bytes,
// same errors. Where the wanted batches lie in bytes this process has
// verified (see below), the result refers to the segment file instead of
// holding the bytes, and Records.WriteTo sends them with sendfile(2); the
// caller must Release the result. Anything else is read into memory and
// CRC-checked exactly as Read does (which verifies it for later reads).
//
// Verified bytes are those appended by this process (Append's callers
// validate every batch, AppendReplicated checks each CRC), those recovery
// re-read after an unclean shutdown, and those a copying read checked in a
// contiguous run from the start of a segment or from where the verified
// bytes end. After a clean shutdown nothing is verified until read. Bit rot
// in bytes already verified is not detected on this path (Read would report
// it): as in Kafka, which sends file bytes unchecked, clients verify CRCs.
//
// Finding where the file range ends reads no record data: the segment's end
// or its offset index bounds most of the range, and the batch headers after
// the last usable index entry are read, typically one pread of a few KiB;
// locating the first batch costs one more, like Read's.
func (l *Log) ReadRecords(offset int64, maxBytes int, maxOffset int64) (*Records, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	maxOffset, empty, err := l.readRangeLocked(offset, maxOffset)
	if empty || err != nil {
		return nil, err
	}
	b := &recordsBuilder{l: l, maxBytes: max(maxBytes, 0), maxOffset: maxOffset}
	defer b.putReader()
	first := l.segmentIndex(offset)
	for si := first; si < len(l.segments); si++ {
		s := l.segments[si]
		if s.base >= maxOffset {
			break
		}
		done, err := b.segment(si, offset, si == first)
		if err != nil {
			b.abort()
			return nil, err
		}
		if done {
			break
		}
		offset = s.next
	}
	return b.finish(), nil
}

// recordsBuilder gathers a ReadRecords result. The caller holds mu.
type recordsBuilder struct {
	l         *Log
	maxBytes  int
	maxOffset int64

	parts []recordsPart
	pins  []*filePin
	taken int64 // bytes in parts

	// Bytes being read into memory, as readSegment gathers them: mem[skip:]
	// is result, what precedes skip was read only to find the first batch.
	mem  []byte
	skip int

	rd *chunkReader
}

// segment adds what the read wants from segment si, starting at the batch
// holding offset when search is set (the first segment), else at the
// segment's start. done reports that the read has all it wants.
func (b *recordsBuilder) segment(si int, offset int64, search bool) (done bool, err error) {
	l := b.l
	s := l.segments[si]
	want := int64(b.maxBytes) - b.taken - int64(len(b.mem)-b.skip)
	empty := b.taken == 0 && len(b.mem) == b.skip
	if !empty && want <= 0 {
		return true, nil
	}
	q := segmentRead{si: si, offset: offset, maxBytes: b.maxBytes, maxOffset: b.maxOffset}
	x, err := l.indexes(s)
	if err != nil {
		return false, err
	}
	var start int64
	if search {
		rel := offset - s.base
		lo, up, err := s.bounds(x, rel)
		if err != nil {
			return false, err
		}
		if _, ok := s.verifiedEnd(lo); !ok && up < s.appendedFrom {
			// The wanted batch starts in unverified bytes: Read's single
			// pread finds and reads it.
			q.search = true
			return b.memory(q)
		}
		f, err := s.open()
		if err != nil {
			return false, err
		}
		p, _, found, err := s.locateFrom(b.reader(f, s.size), lo, offset)
		s.file.release()
		if err != nil {
			return false, l.corrupt(s, err)
		}
		if !found {
			return false, nil // every batch ends before offset
		}
		start = p
	}
	z, ok := s.verifiedEnd(start)
	if !ok {
		q.from = start
		return b.memory(q)
	}
	f, err := s.open()
	if err != nil {
		return false, err
	}
	end, done := b.walk(s, x, b.reader(f, s.size), start, z, want, empty)
	s.file.release()
	if end > start {
		if err := b.addFile(s, start, end-start); err != nil {
			return false, err
		}
	}
	if done || end == s.size {
		return done, nil
	}
	q.from = end // verified bytes end, or bit rot: read on as Read would
	return b.memory(q)
}

// walk finds how far from the batch boundary start, within the verified
// bytes ending at z, the batches Read would return go. want is the byte
// budget left, empty that nothing is in the result yet (the first batch
// then goes whole). done reports that Read would stop at end; otherwise
// the segment ended, or the bytes at end are for readSegment to judge.
func (b *recordsBuilder) walk(s *segment, x *segIndexes, r *chunkReader, start, z, want int64, empty bool) (end int64, done bool) {
	pos, limit := start, start+want
	if empty {
		h, ok := zoneHeader(r, pos)
		if !ok || pos+int64(h.Size()) > z {
			return pos, false
		}
		if h.BaseOffset >= b.maxOffset {
			return pos, true
		}
		pos += int64(h.Size())
		limit = max(limit, pos)
	}
	pos = max(pos, s.boundaryWithin(x, pos, min(limit, z), b.maxOffset))
	for pos < s.size {
		if limit-pos < BatchHeaderSize {
			return pos, true // not even a header fits
		}
		if pos >= z {
			return pos, false
		}
		h, ok := zoneHeader(r, pos)
		if !ok {
			return pos, false
		}
		next := pos + int64(h.Size())
		switch {
		case h.BaseOffset >= b.maxOffset, next > limit:
			return pos, true
		case next > z:
			return pos, false
		}
		pos = next
	}
	return pos, false
}

// zoneHeader reads the header of the batch at pos in verified bytes; ok is
// false when it does not frame a batch inside the segment (which only bit
// rot since the verification can cause).
func zoneHeader(r *chunkReader, pos int64) (BatchHeader, bool) {
	b, err := r.at(pos, BatchHeaderSize)
	if err != nil {
		return BatchHeader{}, false
	}
	h, err := checkStoredHeader(b, pos, r.end)
	return h, err == nil
}

// boundaryWithin returns the furthest batch boundary in (pos, limit] known,
// without reading the segment, to follow only batches with base offsets
// below maxOffset, or pos when there is none. Such a boundary is the
// segment's end when its last offset is below maxOffset, or an
// offset-index entry for a batch whose last offset is at most maxOffset:
// the batches before it end before its base offset. An index block that
// cannot be read gives pos (the walk reads the headers instead).
func (s *segment) boundaryWithin(x *segIndexes, pos, limit, maxOffset int64) int64 {
	if s.size <= limit && s.next <= maxOffset {
		return s.size
	}
	h, err := s.offsets(x).search(func(e offsetEntry) bool {
		return int64(e.pos) > limit || s.base+int64(e.rel) > maxOffset
	})
	if err == nil && h.hasPrev && int64(h.prev.pos) > pos {
		return int64(h.prev.pos)
	}
	return pos
}

// memory reads the rest of segment q.si's share into memory, as Read does.
func (b *recordsBuilder) memory(q segmentRead) (bool, error) {
	q.taken = b.taken
	mem, skip, done, err := b.l.readSegment(q, b.mem, b.skip)
	if err != nil {
		return false, err
	}
	b.mem, b.skip = mem, skip
	return done, nil
}

// addFile adds the range [pos, pos+n) of segment s, holding a reference on
// its file and registering the range with the file cache until Release.
func (b *recordsBuilder) addFile(s *segment, pos, n int64) error {
	b.flushMem()
	f, err := s.open()
	if err != nil {
		return err
	}
	p := &filePin{cf: s.file, base: s.base, f: f, pos: pos, n: n}
	p.pin()
	b.pins = append(b.pins, p)
	b.parts = append(b.parts, recordsPart{pin: p})
	b.taken += n
	return nil
}

// flushMem ends the memory part being gathered.
func (b *recordsBuilder) flushMem() {
	if len(b.mem) > b.skip {
		b.parts = append(b.parts, recordsPart{mem: b.mem[b.skip:]})
		b.taken += int64(len(b.mem) - b.skip)
	}
	b.mem, b.skip = nil, 0
}

func (b *recordsBuilder) finish() *Records {
	b.flushMem()
	if len(b.parts) == 0 {
		return nil
	}
	r := &Records{parts: b.parts, n: b.taken}
	if len(b.pins) > 0 {
		ps := &pinSet{pins: b.pins, logger: b.l.logger}
		r.pins = ps
		// A safety net: a Records dropped without Release gives its files
		// back when collected (the cleanup is stopped by Release).
		r.cleanup = runtime.AddCleanup(r, func(ps *pinSet) {
			ps.logger.Warn("log: Records collected without Release")
			ps.release()
		}, ps)
	}
	return r
}

func (b *recordsBuilder) abort() {
	for _, p := range b.pins {
		p.unpin()
	}
	b.pins = nil
}

// reader returns the builder's chunk reader on f, keeping what it holds
// when it reads f already (the walk after the locate reuses its chunk).
func (b *recordsBuilder) reader(f File, end int64) *chunkReader {
	switch {
	case b.rd == nil:
		b.rd = getReader(f, end)
	case b.rd.f != f || b.rd.end != end:
		b.rd.reset(f, end)
	}
	return b.rd
}

func (b *recordsBuilder) putReader() {
	if b.rd != nil {
		putReader(b.rd)
		b.rd = nil
	}
}
