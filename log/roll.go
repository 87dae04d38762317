package log

import (
	"fmt"
	"math/rand/v2"
)

// maybeRoll starts a new active segment if appending size bytes holding
// offsets up to lastOffset with max timestamp maxTs would break one of
// Kafka's roll rules (LogSegment.shouldRoll): the segment would exceed
// SegmentBytes, it is older than SegmentMs less its segment.jitter.ms draw
// (measured from its first batch's timestamp, else from its creation), an
// index is full, or a relative offset would overflow int32. An empty
// segment takes anything, so a batch larger than SegmentBytes gets a
// segment of its own. The caller holds wmu.
func (l *Log) maybeRoll(size, maxTs, lastOffset int64) error {
	s := l.active()
	if s.size == 0 {
		return nil
	}
	var age int64
	if s.rollTs >= 0 {
		age = maxTs - s.rollTs
	} else {
		age = l.now().UnixMilli() - s.created
	}
	switch {
	case s.size+size > l.cfg.Value().SegmentBytes,
		age > l.cfg.Value().SegmentMs-s.jitterMs,
		int(s.nOff) >= l.cfg.Value().SegmentIndexBytes/offsetEntrySize,
		int(s.nTime) >= l.cfg.Value().SegmentIndexBytes/timeEntrySize,
		!s.fits(lastOffset):
		return l.roll()
	}
	return nil
}

// roll seals the active segment, writes its indexes and creates a new one
// at the log end offset. Like Kafka it syncs the old segment in the
// background, then advances the recovery point past it; until then a crash
// makes recovery re-check it. The caller holds wmu.
func (l *Log) roll() error {
	old := l.active()
	ns, err := l.createSegment(l.endOffset)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.sealLocked(old)
	l.segments = append(l.segments, ns)
	l.mu.Unlock()
	if err := old.persistIndexes(l.fs, l.dir, l.scratchBuf()); err != nil {
		return fmt.Errorf("log: write the indexes of segment %d: %w", old.base, err)
	}
	l.retire(old)
	l.flushes.Add(1)
	go func() {
		defer l.flushes.Done()
		l.flushInactive()
	}()
	return nil
}

// createSegment creates the (empty) .log file of a segment at base,
// durably. Its index files are written when it is sealed or flushed.
func (l *Log) createSegment(base int64) (*segment, error) {
	s := newSegment(l.files(), l.fs, &l.dir, base, true)
	s.created = l.now().UnixMilli()
	if j := min(l.cfg.Value().SegmentJitterMs, l.cfg.Value().SegmentMs); j > 0 {
		s.jitterMs = rand.Int64N(j)
	}
	if l.fresh {
		// The first segment of a log without any is created by its first
		// use (the first append, usually): an idle partition's directory
		// holds one inode fewer, and creating 10,000 partitions creates
		// 10,000 files fewer. A log without its segment file is an empty
		// log at its start offset, as it would be after a crash that lost
		// the file (see Log.open).
		return s, nil
	}
	_, err := s.file.acquire()
	if err == nil {
		s.file.release()
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
func (l *Log) sealLocked(s *segment) {
	if s.ix.maxTs < 0 || s.ix.maxTs <= s.lastTime() {
		return
	}
	x := *s.mustIndexes()
	x.tidx = append(x.tidx, timeEntry{ts: s.ix.maxTs, rel: s.ix.maxTsRel})
	s.setIndexes(&x)
}
