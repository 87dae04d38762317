package log

// OffsetForTimestamp finds, for ListOffsets, the first offset at or after
// the log start whose timestamp is >= ts, and that timestamp. Like Kafka it
// picks the first segment whose largest timestamp reaches ts, narrows the
// scan with the time and offset indexes, then walks batch headers to the
// first batch whose max timestamp reaches ts. Inside an uncompressed
// CreateTime batch it finds the exact record; in a LogAppendTime batch every
// record has the batch's time, so the answer is its first offset; in a
// compressed CreateTime batch (whose records would need a codec, which
// the lookup does not take) it answers with the batch's first offset and max
// timestamp: an offset at or before the exact one, so a consumer seeking to
// it misses nothing. ok is false when no batch reaches ts.
func (l *Log) OffsetForTimestamp(ts int64) (offset int64, timestamp int64, ok bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return -1, -1, false
	}
	r := getReader(nil, 0)
	defer putReader(r)
	for _, s := range l.segments {
		if s.ix.maxTs < ts || s.next <= l.startOffset {
			continue
		}
		off, t, found, err := l.offsetForTimestampIn(s, r, ts)
		if err != nil {
			l.logger.Warn("log: timestamp lookup stopped", "dir", l.dir, "segment", s.base, "err", err)
			return -1, -1, false
		}
		if found {
			return off, t, true
		}
	}
	return -1, -1, false
}

// offsetForTimestampIn is OffsetForTimestamp within segment s. The caller
// holds mu.
func (l *Log) offsetForTimestampIn(s *segment, r *chunkReader, ts int64) (int64, int64, bool, error) {
	x, err := l.indexes(s)
	if err != nil {
		return -1, -1, false, err
	}
	f, err := s.open()
	if err != nil {
		return -1, -1, false, err
	}
	defer s.file.release()
	r.reset(f, s.size)
	from := s.base
	te, ok, err := s.timeFloor(x, ts)
	if err != nil {
		return -1, -1, false, err
	}
	if ok {
		from = s.base + int64(te.rel)
	}
	from = max(from, l.startOffset)
	pos := int64(0)
	oe, ok, err := s.offsetFloor(x, from-s.base)
	if err != nil {
		return -1, -1, false, err
	}
	if ok {
		pos = int64(oe.pos)
	}
	for pos < s.size {
		h, err := r.header(pos)
		if err != nil {
			return -1, -1, false, err
		}
		if h.LastOffset() >= l.startOffset && h.MaxTimestamp >= ts && h.NumRecords > 0 {
			if off, t, found := recordForTimestamp(r, pos, h, ts, l.startOffset); found {
				return off, t, true, nil
			}
		}
		pos += int64(h.Size())
	}
	return -1, -1, false, nil
}

// recordForTimestamp finds the first record of the batch at pos with offset
// >= minOffset and timestamp >= ts (see OffsetForTimestamp for the
// compressed and LogAppendTime cases).
func recordForTimestamp(r *chunkReader, pos int64, h BatchHeader, ts, minOffset int64) (int64, int64, bool) {
	if h.TimestampType() == 1 || h.Compression() != 0 {
		return max(h.BaseOffset, minOffset), h.MaxTimestamp, true
	}
	b, err := r.at(pos, h.Size())
	if err != nil {
		return -1, -1, false
	}
	off, t, found := int64(-1), int64(-1), false
	_ = forEachRecord(b[BatchHeaderSize:], h.NumRecords, func(_ []byte, rf recordFields) bool {
		o, rt := h.BaseOffset+int64(rf.offDelta), h.FirstTimestamp+rf.tsDelta
		if o >= minOffset && rt >= ts {
			off, t, found = o, rt, true
			return false
		}
		return true
	})
	return off, t, found
}

// MaxTimestamp answers ListOffsets' MAX_TIMESTAMP (-3): the largest batch
// max timestamp in the log and the last offset of the (first) batch that
// carries it. Kafka before 3.8 answers with the same batch-level offset;
// later versions find the exact record. ok is false for a log without
// timestamps.
func (l *Log) MaxTimestamp() (offset int64, timestamp int64, ok bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	offset, timestamp = -1, -1
	for _, s := range l.segments {
		if o := s.maxTimestampOffset(); o >= 0 && s.ix.maxTs > timestamp {
			offset, timestamp = o, s.ix.maxTs
		}
	}
	return offset, timestamp, offset >= 0
}
