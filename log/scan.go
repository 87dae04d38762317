package log

import "fmt"

// scanBatchChunk is how many headers ScanBatches collects per lock hold.
const scanBatchChunk = 256

// scanned is one batch as a scan reports it: its header and, for a
// transaction marker, the marker.
type scanned struct {
	h        BatchHeader
	m        Marker
	isMarker bool
}

// ScanBatches calls fn with the header of every batch from the one holding
// offset from (or the log start, if from is below it) to the log end, in
// order, stopping at fn's first error, which it returns. Headers are
// collected in chunks under the read lock and fn runs without any lock, so
// fn may call back into the Log; batches appended during the scan are
// included, and a concurrent truncation ends the scan early.
func (l *Log) ScanBatches(from int64, fn func(BatchHeader) error) error {
	return l.scanMarkers(from, func(h BatchHeader, _ Marker, _ bool) error { return fn(h) })
}

// ScanMarkers is ScanBatches that also reads each transaction marker: fn
// gets it with isMarker set for a COMMIT or ABORT control batch. It is
// what a partition rebuilds its producers' state with.
func (l *Log) ScanMarkers(from int64, fn func(h BatchHeader, m Marker, isMarker bool) error) error {
	return l.scanMarkers(from, fn)
}

func (l *Log) scanMarkers(from int64, fn func(BatchHeader, Marker, bool) error) error {
	batches := make([]scanned, 0, scanBatchChunk)
	for {
		var err error
		batches, err = l.collectHeaders(from, batches[:0])
		if err != nil {
			return err
		}
		if len(batches) == 0 {
			return nil
		}
		for _, b := range batches {
			if err := fn(b.h, b.m, b.isMarker); err != nil {
				return err
			}
		}
		from = batches[len(batches)-1].h.LastOffset() + 1
	}
}

// collectHeaders appends up to cap(dst) headers of batches ending at or
// after from.
func (l *Log) collectHeaders(from int64, dst []scanned) ([]scanned, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	from = max(from, l.startOffset)
	if from >= l.endOffset {
		return dst, nil
	}
	r := getReader(nil, 0)
	defer putReader(r)
	for si := l.segmentIndex(from); si < len(l.segments) && len(dst) < cap(dst); si++ {
		s := l.segments[si]
		var err error
		if dst, err = l.collectSegment(s, r, from, dst); err != nil {
			return nil, err
		}
	}
	return dst, nil
}

// collectSegment appends the headers of s's batches ending at or after from,
// up to cap(dst), reading the record of each control batch.
func (l *Log) collectSegment(s *segment, r *chunkReader, from int64, dst []scanned) ([]scanned, error) {
	x, err := l.indexes(s)
	if err != nil {
		return nil, err
	}
	f, err := s.open()
	if err != nil {
		return nil, err
	}
	defer s.file.release()
	r.reset(f, s.size)
	pos, _, found, err := s.locate(r, x, from)
	if err != nil {
		return nil, fmt.Errorf("%w: scan segment %d: %w", ErrStorage, s.base, err)
	}
	for found && pos < s.size && len(dst) < cap(dst) {
		h, err := r.header(pos)
		if err != nil {
			return nil, fmt.Errorf("%w: scan segment %d: %w", ErrStorage, s.base, err)
		}
		sc := scanned{h: h}
		if h.IsControl() {
			b, err := r.at(pos, h.Size())
			if err == nil {
				err = checkCRC(h, b)
			}
			if err == nil {
				sc.m, sc.isMarker, err = parseMarker(l.codecs, h, b)
			}
			if err != nil {
				return nil, fmt.Errorf("%w: scan segment %d: control batch at %d: %w", ErrStorage, s.base, h.BaseOffset, err)
			}
		}
		dst = append(dst, sc)
		pos += int64(h.Size())
	}
	return dst, nil
}
