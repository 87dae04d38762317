package log

import "fmt"

// maybeRoll starts a new active segment if appending size bytes holding
// offsets up to lastOffset with max timestamp maxTs would break one of
// Kafka's roll rules (LogSegment.shouldRoll): the segment would exceed
// SegmentBytes, it is older than SegmentMs (measured from its first batch's
// timestamp, else from its creation), an index is full, or a relative offset
// would overflow int32. An empty segment takes anything, so a batch larger
// than SegmentBytes gets a segment of its own. The caller holds wmu.
func (l *Log) maybeRoll(size, maxTs, lastOffset int64) error {
	s := l.active()
	if s.size == 0 {
		return nil
	}
	var age int64
	if s.rollTs >= 0 {
		age = maxTs - s.rollTs
	} else {
		age = l.now().Sub(s.created).Milliseconds()
	}
	switch {
	case s.size+size > l.cfg.SegmentBytes,
		age > l.cfg.SegmentMs,
		len(s.oidx) >= l.cfg.SegmentIndexBytes/offsetEntrySize,
		len(s.tidx) >= l.cfg.SegmentIndexBytes/timeEntrySize,
		!s.fits(lastOffset):
		return l.roll()
	}
	return nil
}

// roll seals the active segment and creates a new one at the log end
// offset. Like Kafka it syncs the old segment in the background, then
// advances the recovery point past it; until then a crash makes recovery
// re-check it. The caller holds wmu.
func (l *Log) roll() error {
	old := l.active()
	l.mu.Lock()
	err := l.sealLocked(old)
	l.mu.Unlock()
	if err != nil {
		return fmt.Errorf("log: seal segment %d: %w", old.base, err)
	}
	if err := l.addSegment(l.endOffset); err != nil {
		return err
	}
	l.flushes.Add(1)
	go func() {
		defer l.flushes.Done()
		l.flushInactive()
	}()
	return nil
}

// addSegment creates an empty segment at base and makes it the active one.
// The caller holds wmu.
func (l *Log) addSegment(base int64) error {
	s, err := l.createSegment(base)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.segments = append(l.segments, s)
	l.mu.Unlock()
	return nil
}

// createSegment creates the (empty) files of a segment at base, durably.
func (l *Log) createSegment(base int64) (*segment, error) {
	s, err := openSegmentFiles(l.fs, l.dir, base, true)
	if err == nil {
		s.created = l.now()
		if err = syncDir(l.fs, l.dir); err != nil {
			s.close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("log: create segment %d: %w", base, err)
	}
	return s, nil
}

// sealLocked appends the segment's max timestamp as a final time-index entry
// when the sparse entries missed it (Kafka does this when a segment becomes
// inactive or is closed), so an inactive segment's largest timestamp is
// always its last time-index entry. The caller holds wmu and mu.
func (l *Log) sealLocked(s *segment) error {
	if s.ix.maxTs < 0 || s.ix.maxTs <= s.lastTime() || s.timeFile == nil {
		return nil
	}
	n := len(s.tidx)
	s.tidx = append(s.tidx, timeEntry{ts: s.ix.maxTs, rel: s.ix.maxTsRel})
	s.dirty.Store(true)
	return s.writeIndexes(s.oidx, s.tidx, len(s.oidx), n, &l.scratch)
}
