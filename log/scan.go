package log

import "fmt"

// scanBatchChunk is how many headers ScanBatches collects per lock hold.
const scanBatchChunk = 256

// ScanBatches calls fn with the header of every batch from the one holding
// offset from (or the log start, if from is below it) to the log end, in
// order, stopping at fn's first error, which it returns. Headers are
// collected in chunks under the read lock and fn runs without any lock, so
// fn may call back into the Log; batches appended during the scan are
// included, and a concurrent truncation ends the scan early.
func (l *Log) ScanBatches(from int64, fn func(BatchHeader) error) error {
	hdrs := make([]BatchHeader, 0, scanBatchChunk)
	for {
		var err error
		hdrs, err = l.collectHeaders(from, hdrs[:0])
		if err != nil {
			return err
		}
		if len(hdrs) == 0 {
			return nil
		}
		for _, h := range hdrs {
			if err := fn(h); err != nil {
				return err
			}
		}
		from = hdrs[len(hdrs)-1].LastOffset() + 1
	}
}

// collectHeaders appends up to cap(dst) headers of batches ending at or
// after from.
func (l *Log) collectHeaders(from int64, dst []BatchHeader) ([]BatchHeader, error) {
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
// up to cap(dst).
func (l *Log) collectSegment(s *segment, r *chunkReader, from int64, dst []BatchHeader) ([]BatchHeader, error) {
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
		dst = append(dst, h)
		pos += int64(h.Size())
	}
	return dst, nil
}
