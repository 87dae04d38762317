package log

import (
	"fmt"
	"slices"
)

// Truncate removes every batch holding an offset >= endOffset (follower
// truncation). Truncation is at batch boundaries: a batch straddling
// endOffset is removed whole, so the log end offset becomes its base offset,
// which is never more than endOffset. Truncating below the first segment
// empties the log and restarts it at endOffset. The log start offset drops
// to the new end if it was above it, and leader epochs starting at or
// after the new end are removed. Truncating at or past the end cuts no
// batch but, as in Kafka, still removes epochs starting at the log end: a
// replica that led an epoch without writing in it must not keep that epoch
// as its latest, which its leader has never heard of.
func (l *Log) Truncate(endOffset int64) error {
	if endOffset < 0 {
		return fmt.Errorf("%w: truncate to %d", ErrOffsetOutOfRange, endOffset)
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if endOffset >= l.endOffset {
		l.mu.Lock()
		changed := l.epochs.truncateFromEnd(l.endOffset)
		l.mu.Unlock()
		if changed {
			if err := l.writeEpochsLocked(); err != nil {
				return l.fail(err)
			}
		}
		return nil
	}
	if endOffset < l.segments[0].base {
		return l.truncateFullyLocked(endOffset)
	}
	// Lower the recovery point to the new end before touching a file, and
	// keep the background flusher from raising it again meanwhile.
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	newEnd, err := l.truncationPoint(endOffset)
	if err != nil {
		return err
	}
	// The cut segment's index entries after the cut go: read any that are
	// only in the index files now, before anything changes.
	cutSeg := l.segments[l.segmentIndex(endOffset)]
	x, err := l.indexes(cutSeg)
	if err != nil {
		return err
	}
	if x, err = cutSeg.materialize(x); err != nil {
		return err
	}
	if err := l.setRecoveryPointLocked(min(l.recoveryPoint, newEnd)); err != nil {
		return err
	}

	l.mu.Lock()
	si := l.segmentIndex(endOffset)
	s := l.segments[si]
	doomed := append([]*segment(nil), l.segments[si+1:]...)
	l.segments = l.segments[:si+1]
	// The segments after the cut go first, highest first, and only then is the cut made (Kafka's
	// LocalLog.truncateTo does the same): a process killed part-way leaves a prefix of the old
	// log, which the next Open takes as it is and the follower truncates again. Cut first, a
	// kill before the removals left the cut segment followed by segments that were to go: a
	// hole in the offsets with the diverging tail back after it, and a follower whose tail
	// agreed with its leader's would keep the hole for good. Readers wait meanwhile: a few
	// unlinks (a closed file still read is closed by its last reader).
	if _, err = l.activate(s); err == nil {
		for i := len(doomed) - 1; i >= 0 && err == nil; i-- {
			if rerr := doomed[i].remove(l.fs, l.dir); rerr != nil {
				err = fmt.Errorf("log: remove segment %d: %w", doomed[i].base, rerr)
			}
		}
	}
	if err == nil {
		err = l.truncateSegmentLocked(s, x, endOffset)
	}
	l.gen++
	l.endOffset = s.next
	l.cleanPoint = min(l.cleanPoint, l.endOffset)
	startMoved := l.startOffset > l.endOffset
	if startMoved {
		l.startOffset = l.endOffset
	}
	epochsChanged := l.epochs.truncateFromEnd(l.endOffset)
	// Aborted transactions whose markers were cut go from the index.
	keptAborted := len(s.aborted)
	for keptAborted > 0 && s.aborted[keptAborted-1].LastOffset >= l.endOffset {
		keptAborted--
	}
	txnCut := keptAborted < len(s.aborted)
	s.aborted = s.aborted[:keptAborted:keptAborted]
	l.mu.Unlock()

	if err == nil && txnCut {
		err = s.rewriteTxnIndex(l.fs, l.dir, s.aborted, false)
	}
	l.txnMu.Lock()
	seen := l.txns.seen
	l.txnMu.Unlock()
	if err == nil && seen {
		// Transactions whose markers were cut are open again: rescan.
		_, err = l.rebuildTxns()
	}
	if err != nil {
		return l.fail(err)
	}
	if startMoved {
		if err := writeStartCheckpoint(l.fs, l.dir, l.endOffset); err != nil {
			return l.fail(fmt.Errorf("log: write %s: %w", startCheckpointFile, err))
		}
	}
	if epochsChanged {
		if err := l.writeEpochsLocked(); err != nil {
			return l.fail(err)
		}
	}
	return nil
}

// truncationPoint is the end offset truncating to endOffset will leave: the
// base of the batch holding endOffset. The caller holds wmu, so the
// segments cannot change.
func (l *Log) truncationPoint(endOffset int64) (int64, error) {
	s := l.segments[l.segmentIndex(endOffset)]
	x, err := l.indexes(s)
	if err != nil {
		return 0, err
	}
	f, err := s.open()
	if err != nil {
		return 0, err
	}
	defer s.file.release()
	r := getReader(f, s.size)
	defer putReader(r)
	_, h, found, err := s.locate(r, x, endOffset)
	if err != nil {
		return 0, fmt.Errorf("truncate segment %d: %w", s.base, err)
	}
	if !found {
		return s.next, nil
	}
	return h.BaseOffset, nil
}

// truncateSegmentLocked cuts segment s before the first batch ending at or
// after offset and rebuilds its in-memory state from what remains; x is
// s's indexes, all in memory (see materialize). s becomes the active
// segment. The caller holds wmu and mu.
func (l *Log) truncateSegmentLocked(s *segment, x *segIndexes, offset int64) error {
	if _, err := l.activate(s); err != nil {
		return err
	}
	f, err := s.open()
	if err != nil {
		return err
	}
	defer s.file.release()
	r := getReader(f, s.size)
	defer putReader(r)
	pos, _, found, err := s.locate(r, x, offset)
	if err != nil {
		return fmt.Errorf("truncate segment %d: %w", s.base, err)
	}
	if !found {
		return nil
	}
	// Outstanding Records keep the bytes they were given, not what a later
	// append writes over the cut.
	s.preservePinned(pos)
	if err := cutFile(f, pos, s.file.sentEnd.Load()); err != nil {
		return fmt.Errorf("log: truncate segment %d: %w", s.base, err)
	}
	s.dirty.Store(true)
	s.size = pos
	s.cutVerified(pos)
	// Drop index entries for removed batches: an offset entry belongs to the
	// batch at its position, a time entry to the batch ending at its offset.
	keepOff := len(x.oidx)
	for keepOff > 0 && int64(x.oidx[keepOff-1].pos) >= pos {
		keepOff--
	}
	r.reset(f, pos)
	tail, err := s.scanTail(r, x.oidx[:keepOff])
	if err != nil {
		return fmt.Errorf("truncate segment %d: %w", s.base, err)
	}
	keepTime := len(x.tidx)
	for keepTime > 0 && s.base+int64(x.tidx[keepTime-1].rel) >= tail.next {
		keepTime--
	}
	// Clipped: appends must not write over entries of the old slices.
	s.setIndexes(&segIndexes{oidx: slices.Clip(x.oidx[:keepOff]), tidx: slices.Clip(x.tidx[:keepTime])})
	s.next = tail.next
	s.ix = tail.indexer(x.tidx[:keepTime])
	if s.size == 0 {
		s.rollTs, s.created = -1, l.now().UnixMilli()
	}
	if k, t := int32(keepOff), int32(keepTime); k < s.oidxDisk || t < s.tidxDisk {
		s.idxCut = true
		s.oidxDisk, s.tidxDisk = min(s.oidxDisk, k), min(s.tidxDisk, t)
	}
	if err := s.persistIndexes(l.fs, l.dir, l.scratchBuf()); err != nil {
		return err
	}
	return l.spillActiveLocked()
}

// SetStartOffset advances the log start offset (DeleteRecords), persisting it
// in the log-start-offset checkpoint before deleting every segment that lies
// wholly below it. If that is all of them (offset == LogEndOffset) a new
// empty segment is started at the end. Moving backwards is a no-op; beyond
// the log end offset is ErrOffsetOutOfRange.
func (l *Log) SetStartOffset(offset int64) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if offset > l.endOffset {
		return fmt.Errorf("%w: start offset %d beyond log end %d", ErrOffsetOutOfRange, offset, l.endOffset)
	}
	if offset <= l.startOffset {
		return nil
	}
	if err := writeStartCheckpoint(l.fs, l.dir, offset); err != nil {
		return l.fail(fmt.Errorf("log: write %s: %w", startCheckpointFile, err))
	}
	l.mu.Lock()
	l.startOffset = offset
	epochsChanged := l.epochs.truncateFromStart(offset)
	l.mu.Unlock()
	if err := l.deleteSegmentsBelowLocked(offset); err != nil {
		return l.fail(err)
	}
	if epochsChanged {
		if err := l.writeEpochsLocked(); err != nil {
			return l.fail(err)
		}
	}
	return nil
}

// deleteSegmentsBelowLocked removes segments holding only offsets below
// start, rolling first when that includes the active one. Their files are
// renamed to .deleted and removed after file.delete.delay.ms. The caller
// holds wmu.
func (l *Log) deleteSegmentsBelowLocked(start int64) error {
	if a := l.active(); a.size > 0 && a.next <= start {
		if err := l.roll(); err != nil {
			return err
		}
	}
	l.mu.Lock()
	n := 0
	for n < len(l.segments)-1 && l.segments[n+1].base <= start {
		n++
	}
	doomed := append([]*segment(nil), l.segments[:n]...)
	l.segments = append(l.segments[:0:0], l.segments[n:]...)
	l.mu.Unlock()
	return l.deleteLater(doomed)
}

// TruncateFullyAndStartAt empties the log and restarts it at offset, which
// becomes both the start and end offset; the epoch cache is cleared. A
// follower whose log ends below the leader's start offset needs this
// (Kafka's UnifiedLog.truncateFullyAndStartAt).
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("%w: restart at %d", ErrOffsetOutOfRange, offset)
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if err := l.truncateFullyLocked(offset); err != nil {
		return l.fail(err)
	}
	return nil
}

func (l *Log) truncateFullyLocked(offset int64) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if err := writeStartCheckpoint(l.fs, l.dir, offset); err != nil {
		return fmt.Errorf("log: write %s: %w", startCheckpointFile, err)
	}
	// Nothing at or after offset is written yet.
	if err := l.setRecoveryPointLocked(offset); err != nil {
		return err
	}
	// Everything happens under the write lock: the old segments may include
	// one with the new base, so they must be gone before it is created, and
	// readers must never see a log without segments.
	l.mu.Lock()
	var err error
	for i := len(l.segments) - 1; i >= 0 && err == nil; i-- {
		if rerr := l.segments[i].remove(l.fs, l.dir); rerr != nil {
			err = fmt.Errorf("log: remove segment %d: %w", l.segments[i].base, rerr)
		}
	}
	var s *segment
	if err == nil {
		s, err = l.createSegment(offset)
	}
	if err != nil {
		// Unusable until reopened, which redoes this from the checkpoint.
		for _, s := range l.segments {
			s.close()
		}
		l.closed = true
		l.mu.Unlock()
		return err
	}
	l.segments = []*segment{s}
	l.startOffset, l.endOffset = offset, offset
	l.epochs = epochCache{}
	l.gen++
	l.cleanPoint = offset
	l.txnMu.Lock()
	l.txns = txnState{}
	l.txnMu.Unlock()
	l.mu.Unlock()
	return l.writeEpochsLocked()
}

// folioAlign bounds the size, and so the alignment, of a page-cache folio:
// Linux may cache file data in folios larger than a page, up to a PMD
// (2 MiB on x86-64, and on arm64 with 4 KiB pages).
const folioAlign = 2 << 20

// cutFile truncates f to pos bytes. sendfile(2) hands page-cache pages to
// the socket by reference, and the socket keeps them until the peer
// acknowledges the bytes, after the Records that sent them is released.
// Truncating in place zeroes the rest of the folio holding pos, and the
// next append writes into it: bytes already "sent" could change on the
// wire. So when sendfile has sent anything from that folio on (sentEnd),
// cutFile truncates to the folio boundary below pos, which takes the whole
// folio out of the page cache (the socket keeps the old one), and writes
// the bytes up to pos back into a new one. A process killed between the
// two loses those bytes: the unclean open cuts the segment there (the
// recovery point is already below it) and the follower fetches them again.
func cutFile(f File, pos, sentEnd int64) error {
	a := pos &^ (folioAlign - 1)
	if sentEnd <= a || a == pos {
		return f.Truncate(pos)
	}
	head := make([]byte, pos-a)
	if err := readFull(f, head, a); err != nil {
		return err
	}
	if err := f.Truncate(a); err != nil {
		return err
	}
	_, err := f.WriteAt(head, a)
	return err
}
