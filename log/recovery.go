package log

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unique"
)

// cleanShutdownFile marks a log closed cleanly; it is removed (durably)
// before the first change to the log's files after Open (deferredDirSync),
// so a crash after that change is seen as unclean by the next Open.
const cleanShutdownFile = "clean-shutdown"

// recoveryChunk is the read size when re-checking whole batches.
const recoveryChunk = 1 << 20

// Open opens (creating if needed) the log in dir and recovers it:
//
//   - Without the clean-shutdown marker, every segment from the recovery
//     point on (at least the last one) is re-read batch by batch, checking
//     framing, offsets and CRC; the file is cut after the last good batch,
//     the segments after a cut one are dropped, and indexes are rebuilt.
//     Segments below the recovery point were synced, so they are trusted.
//     An empty segment has nothing to re-read (loadSegment).
//   - Every segment's indexes are loaded and sanity-checked (whole entries,
//     increasing, inside the log, the last entry pointing at a batch with
//     that offset); a missing or bad index is rebuilt by the same re-read,
//     which also cuts that segment if its data proves corrupt (and drops the
//     segments after it).
//   - The tail of each segment after its last index entry is walked (headers
//     only) to find its next offset and largest timestamp.
//   - The log start offset is the larger of its checkpoint and the first
//     segment's base; segments wholly below it are deleted. If the log now
//     ends below the checkpointed start, it is emptied and restarted there.
//   - The leader-epoch cache drops entries at or after the log end offset.
func Open(dir string, cfg Config, opts Options) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &Log{dir: dir, fs: opts.FS, codecs: opts.Codecs, logger: opts.Logger, now: opts.Now, cfg: unique.Make(cfg)}
	l.indexInterval.Store(int32(min(cfg.IndexIntervalBytes, math.MaxInt32)))
	l.spillBlock = int32(cmp.Or(opts.spillBlock, DefaultSpillBlock))
	if l.fs == nil {
		l.fs = OSFS
	}
	if opts.LazyDir {
		l.dir = filepath.Clean(dir) // the lazy FS compares paths with it (no copy when clean already)
		l.lazy = &lazyDirFS{FS: l.fs, dir: &l.dir, onCreate: opts.OnCreateDir}
		l.fs = l.lazy
	}
	caches := logCaches{files: opts.Files, icache: opts.Indexes}
	if caches.files == nil {
		caches.files = sharedFileCache()
	}
	if caches.icache == nil {
		caches.icache = sharedIndexCache()
	}
	l.caches = unique.Make(caches)
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	if l.now == nil {
		l.now = time.Now
	}
	if err := l.open(); err != nil {
		l.flushes.Wait()
		for _, s := range l.segments {
			s.close()
		}
		return nil, err
	}
	l.lastFlush = l.now().UnixMilli()
	return l, nil
}

func (l *Log) open() error {
	// Listed first: the directory of a partition being reopened exists, and
	// one system call fewer for each of ten thousand of them shows.
	names, err := l.fs.ReadDir(l.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) && l.lazy != nil:
		err, names = nil, nil // created by the first write (lazyDirFS)
	case errors.Is(err, fs.ErrNotExist):
		if err = l.fs.MkdirAll(l.dir, 0o755); err != nil {
			return fmt.Errorf("log: create %s: %w", l.dir, err)
		}
		names = nil
	case err == nil && l.lazy != nil:
		l.lazy.created.Store(true) // an existing directory: nothing to create
	}
	if err != nil {
		return fmt.Errorf("log: list %s: %w", l.dir, err)
	}
	if names, err = l.finishFileOperations(names); err != nil {
		return err
	}
	defer func() { l.fresh = false }()
	present := make(map[string]bool, len(names))
	for _, n := range names {
		present[n] = true
	}
	var bases []int64
	clean := false
	for _, n := range names {
		switch base, ext, ok := parseSegmentName(n); {
		case ourTempFile(n): // an interrupted checkpoint write
			l.removeQuietly(n)
		case n == cleanShutdownFile:
			clean = true
		case ok && ext == extLog:
			bases = append(bases, base)
		case ok && !present[n[:len(n)-len(ext)]+extLog]: // index without its log
			l.removeQuietly(n)
		}
	}
	if clean {
		// The marker goes with the first change to the files
		// (deferredDirSync), not here: until then it is true.
		l.deferred = &deferredDirSync{FS: l.fs, dir: l.dir}
		l.fs = l.deferred
	}
	// A log without segment files is empty at its start offset: its first
	// segment needs no directory sync, nor even its file until its first use
	// (createSegment). Were it lost in a crash, the next Open would create the
	// same empty segment, and the first thing that makes records in it
	// durable (the recovery-point checkpoint of a flush, the clean-shutdown
	// marker of a written log, an epoch checkpoint) syncs this directory. A
	// new log's directory is unsynced in its parent then anyway.
	l.fresh = len(bases) == 0
	l.listed = listedFS{FS: l.fs, dir: l.dir, present: present}
	defer func() { l.listed = l.fs }()
	startCP, err := readStartCheckpoint(l.listed, l.dir)
	if err != nil {
		return err
	}
	if l.epochs, err = readEpochCheckpoint(l.listed, l.dir); err != nil {
		return err
	}
	l.setDiskEpochs(l.epochs.snapshot())
	if l.recoveryPoint, err = readRecoveryPoint(l.listed, l.dir); err != nil {
		return err
	}
	if l.cleanPoint, err = readCleanPoint(l.listed, l.dir); err != nil {
		return err
	}

	recovered := make(map[int64]bool) // segments re-read: their .txnindex is rebuilt
	for i, base := range bases {
		s := newSegment(l.files(), l.fs, &l.dir, base, false)
		s.created = l.now().UnixMilli()
		l.segments = append(l.segments, s)
		if prev := len(l.segments) - 2; prev >= 0 && base < l.segments[prev].next {
			l.logger.Warn("log: segment overlaps its predecessor; dropping it and later segments", "dir", l.dir, "segment", base)
			if err := l.dropSegmentsFrom(len(l.segments)-1, bases[i:]); err != nil {
				return err
			}
			break
		}
		last := i == len(bases)-1
		missing := !present[segmentBaseName(base)+extIndex] || !present[segmentBaseName(base)+extTimeIndex]
		// After an unclean shutdown, a segment that may hold offsets at or
		// after the recovery point may have unsynced writes.
		unflushed := !clean && (last || bases[i+1] > l.recoveryPoint)
		rec, cut, err := l.loadSegment(s, unflushed, missing, last)
		if err != nil {
			return err
		}
		recovered[base] = rec
		if i > 0 {
			// Sealed: its indexes may leave memory, so opening a log
			// holds no more of them than the cache allows.
			l.retire(l.segments[len(l.segments)-2])
		}
		if cut && !last {
			l.logger.Warn("log: corrupt segment before the tail; dropping the segments after it", "dir", l.dir, "segment", base)
			if err := l.dropSegmentsFrom(len(l.segments), bases[i+1:]); err != nil {
				return err
			}
			break
		}
	}
	if err := l.finishOpen(startCP); err != nil {
		return err
	}
	if !clean && !slices.Equal(l.epochs.entries, l.diskEpochs()) {
		// Entries recovered from batches (or dropped at the log end): the
		// write is skipped when only entries at the log end differ.
		if err := l.writeEpochsLocked(); err != nil {
			return err
		}
	}
	for _, s := range l.segments[:len(l.segments)-1] {
		l.retire(s)
	}
	if _, err := l.activate(l.active()); err != nil {
		return err
	}
	if err := l.spillActive(); err != nil {
		return err
	}
	var snap *txnState
	anyRecovered := false
	for _, r := range recovered {
		anyRecovered = anyRecovered || r
	}
	if clean && !anyRecovered {
		snap = l.readTxnState(l.endOffset)
		if snap == nil && l.holdsNothing() {
			// Close writes no checkpoint for a log without batches or
			// transaction state (holdsNothing): the empty state is what a
			// scan would find, so the log is as trusted as with one.
			snap = &txnState{}
		}
	}
	l.txnSnapUsed = snap != nil
	if err := l.openTxnIndexes(recovered, snap); err != nil {
		return err
	}
	// Everything is durable now: synced by Close, by recovery, or before
	// the old recovery point.
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	return l.setRecoveryPointLocked(l.endOffset)
}

// listedFS is an FS that answers a read-only open of a file of dir missing
// from Open's listing of it (present) with fs.ErrNotExist, without asking
// the file system: most checkpoint files of an idle partition do not exist,
// and those failed opens were a third of the system calls of opening one.
// Open reads through it only files that nothing it does before the read
// creates: the checkpoints, the transaction-state checkpoint and each
// segment's .txnindex (written by Open only after it was read).
type listedFS struct {
	FS
	dir     string
	present map[string]bool
}

func (f listedFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if flag == os.O_RDONLY && filepath.Dir(name) == f.dir && !f.present[filepath.Base(name)] {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return f.FS.OpenFile(name, flag, perm)
}

// finishOpen settles the offsets, start-offset deletions and epoch cache
// once the segments are loaded.
func (l *Log) finishOpen(startCP int64) error {
	if len(l.segments) == 0 {
		s, err := l.createSegment(max(startCP, 0))
		if err != nil {
			return err
		}
		l.segments = []*segment{s}
	}
	l.endOffset = l.active().next
	if startCP > l.endOffset {
		l.logger.Warn("log: log ends below its start offset checkpoint; starting empty there", "dir", l.dir, "end", l.endOffset, "start", startCP)
		return l.truncateFullyLocked(startCP)
	}
	l.startOffset = max(startCP, l.segments[0].base)
	if err := l.deleteSegmentsBelowLocked(l.startOffset); err != nil {
		return err
	}
	// Entries at or after the log end are dropped here on every Open (the
	// log end decides them), so the file may keep them until the log next
	// grows: Append rewrites a stale file right after its batch, where it
	// writes the epochs a batch brings, so records past the dropped entry's
	// start never outlive a sync with it still in the file; and a partition
	// that leads again in the same epoch (a restart) assigns the very entry
	// back, which then costs no write at all.
	if l.epochs.truncateFromEnd(l.endOffset) {
		l.epochsStale = true
	}
	if l.epochs.truncateFromStart(l.startOffset) {
		return l.writeEpochsLocked()
	}
	return nil
}

// finishFileOperations completes or undoes what a crash interrupted, as
// Kafka's LogLoader does: .deleted and .cleaned segment files are removed,
// so is an index's .swap file (the index is rebuilt), and a
// <base>.log.swap completes its swap: the segments with a base in [base,
// its next offset) are deleted and it becomes <base>.log. It returns the
// directory listing afterwards.
func (l *Log) finishFileOperations(names []string) ([]string, error) {
	changed := false
	var swaps []int64
	for _, n := range names {
		for _, suffix := range []string{deletedSuffix, cleanedSuffix, swapSuffix} {
			base, ext, ok := parseSegmentName(strings.TrimSuffix(n, suffix))
			if !ok || !strings.HasSuffix(n, suffix) {
				continue
			}
			if suffix == swapSuffix && ext == extLog {
				swaps = append(swaps, base)
				continue
			}
			l.removeQuietly(n)
			changed = true
		}
	}
	for _, base := range swaps {
		name := segmentName(l.dir, base, extLog)
		next, err := swapEnd(l.fs, name+swapSuffix, base)
		if err != nil {
			return nil, fmt.Errorf("log: finish the swap of segment %d: %w", base, err)
		}
		l.logger.Warn("log: completing an interrupted segment swap", "dir", l.dir, "segment", base, "next", next)
		for _, n := range names {
			if b, _, ok := parseSegmentName(n); ok && b >= base && b < max(next, base+1) {
				l.removeQuietly(n)
			}
		}
		if err := l.fs.Rename(name+swapSuffix, name); err != nil {
			return nil, fmt.Errorf("log: finish the swap of segment %d: %w", base, err)
		}
		changed = true
	}
	if !changed {
		return names, nil
	}
	if err := syncDir(l.fs, l.dir); err != nil {
		return nil, fmt.Errorf("log: sync %s: %w", l.dir, err)
	}
	return l.fs.ReadDir(l.dir)
}

// swapEnd is the offset after the last batch of a complete swap file.
func swapEnd(fsys FS, name string, base int64) (int64, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	r := &chunkReader{chunk: scanChunk}
	r.reset(f, fi.Size())
	next := base
	for pos := int64(0); pos < fi.Size(); {
		h, err := r.header(pos)
		if err != nil {
			break // recovery deals with the rest
		}
		next = h.LastOffset() + 1
		pos += int64(h.Size())
	}
	return next, nil
}

// dropSegmentsFrom deletes l.segments[i:] and the not yet opened segments
// with the given bases (from which those already opened are skipped).
func (l *Log) dropSegmentsFrom(i int, bases []int64) error {
	opened := make(map[int64]bool)
	for _, s := range l.segments[i:] {
		opened[s.base] = true
		if err := s.remove(l.fs, l.dir); err != nil {
			return fmt.Errorf("log: remove segment %d: %w", s.base, err)
		}
	}
	l.segments = l.segments[:i]
	for _, b := range bases {
		if opened[b] {
			continue
		}
		s := &segment{base: b}
		if err := s.remove(l.fs, l.dir); err != nil {
			return fmt.Errorf("log: remove segment %d: %w", b, err)
		}
	}
	return nil
}

func (l *Log) removeQuietly(name string) {
	if err := l.fs.Remove(filepath.Join(l.dir, name)); err != nil {
		l.logger.Warn("log: cannot remove stale file", "dir", l.dir, "file", name, "err", err)
	}
}

// ourTempFile recognises the temporary files of our atomic writes (other
// packages may keep files of their own in the directory).
func ourTempFile(name string) bool {
	switch strings.TrimSuffix(name, ".tmp") {
	case name:
		return false
	case epochCheckpointFile, startCheckpointFile, recoveryPointFile, cleanShutdownFile, cleanPointFile, txnStateFile:
		return true
	}
	return false
}

func segmentBaseName(base int64) string { return fmt.Sprintf("%020d", base) }

// parseSegmentName recognises "%020d" + one of the segment extensions.
func parseSegmentName(name string) (base int64, ext string, ok bool) {
	for _, e := range segmentExts {
		if stem, found := strings.CutSuffix(name, e); found && len(stem) == 20 {
			b, err := strconv.ParseInt(stem, 10, 64)
			if err == nil && b >= 0 {
				return b, e, true
			}
		}
	}
	return 0, "", false
}

// loadSegment sets s's published state from its files, re-reading the
// whole segment (recoverSegment) only when it must:
//
//   - An empty segment has nothing to re-read, index or sync, whatever the
//     shutdown: its index files, if any, are ignored (they are rewritten
//     from scratch before they are next needed, oidxDisk -1), so a new or
//     idle partition costs no file write and no fsync to open, as Kafka's
//     recovery of an empty segment reads nothing and writes nothing.
//   - maybeUnflushed (an unclean shutdown and the segment reaches the
//     recovery point) re-reads it, checking every batch's CRC, and cuts it
//     after the last good one, as Kafka's LogLoader recovers the segments
//     from the one holding the recovery point on.
//   - A missing or bad index forces the re-read too.
//
// recovered reports a re-read (the caller rebuilds its .txnindex); cut
// reports that the re-read truncated corrupt data.
func (l *Log) loadSegment(s *segment, maybeUnflushed, missingIndex, last bool) (recovered, cut bool, err error) {
	// By name first: an empty segment's file is not opened (and does not
	// take a FileCache slot) until it is used.
	if fi, err := l.fs.Stat(segmentName(l.dir, s.base, extLog)); err == nil && fi.Size() == 0 {
		return false, false, nil // newSegment's state is an empty segment's
	}
	f, err := s.file.acquire()
	if err != nil {
		return false, false, fmt.Errorf("log: open segment %d: %w", s.base, err)
	}
	defer s.file.release()
	fi, err := f.Stat()
	if err != nil {
		return false, false, fmt.Errorf("log: stat segment %d: %w", s.base, err)
	}
	size := fi.Size()
	if size == 0 {
		return false, false, nil
	}
	if !maybeUnflushed && !missingIndex {
		reason := l.loadIndexes(s, f, size)
		if reason == nil {
			return false, false, nil
		}
		l.logger.Warn("log: rebuilding index", "dir", l.dir, "segment", s.base, "reason", reason)
	}
	// An unflushed segment's batches may be newer than the epoch
	// checkpoint (AssignEpoch writes it lazily, Append right after its
	// batch): recovery takes their epochs, as Kafka's LogSegment.recover.
	l.epochsFromBatches = maybeUnflushed
	defer func() { l.epochsFromBatches = false }()
	cut, err = l.recoverSegment(s, f, size, last)
	return true, cut, err
}

// loadIndexes reads and checks both index files against the log and walks
// the log after the last offset-index entry. A non-nil result is the reason
// the segment must be re-read.
func (l *Log) loadIndexes(s *segment, f File, size int64) error {
	maxBatches := size/BatchHeaderSize + 1
	ob, err := readFile(l.fs, segmentName(l.dir, s.base, extIndex), maxBatches*offsetEntrySize)
	if err != nil {
		return err
	}
	tb, err := readFile(l.fs, segmentName(l.dir, s.base, extTimeIndex), (maxBatches+1)*timeEntrySize)
	if err != nil {
		return err
	}
	oidx, err := decodeOffsetIndex(ob, size)
	if err != nil {
		return err
	}
	tidx, err := decodeTimeIndex(tb)
	if err != nil {
		return err
	}
	r := &chunkReader{chunk: scanChunk}
	r.reset(f, size)
	tail, err := s.scanTail(r, oidx)
	if err != nil {
		return err
	}
	if n := len(tidx); n > 0 && s.base+int64(tidx[n-1].rel) >= tail.next {
		return errors.New("time index points past the log")
	}
	s.size, s.next = size, tail.next
	s.setIndexes(&segIndexes{oidx: oidx, tidx: tidx})
	s.oidxDisk, s.tidxDisk = int32(len(oidx)), int32(len(tidx))
	s.ix = tail.indexer(tidx)
	if size > 0 {
		h, err := r.header(0)
		if err != nil {
			return err
		}
		s.rollTs = h.MaxTimestamp
	}
	return nil
}

// tailState is what a header walk over a segment's unindexed tail learns.
type tailState struct {
	next      int64 // offset after the last batch
	sinceLast int64 // bytes since the last offset-index entry
	maxTs     int64 // largest max timestamp in the walked batches, -1 if none
	maxTsRel  int32
}

// scanTail walks batch headers from the last entry of oidx (checking that it
// points at a batch ending at that entry's offset) to r's end, which must be
// a batch boundary.
func (s *segment) scanTail(r *chunkReader, oidx offsetIndex) (tailState, error) {
	t := tailState{next: s.base, maxTs: -1, maxTsRel: -1}
	var pos int64
	if n := len(oidx); n > 0 {
		e := oidx[n-1]
		pos = int64(e.pos)
		h, err := r.header(pos)
		if err != nil {
			return t, err
		}
		if h.LastOffset() != s.base+int64(e.rel) {
			return t, fmt.Errorf("index entry (%d, %d) but the batch there ends at %d", e.rel, e.pos, h.LastOffset())
		}
	}
	t.sinceLast = r.end - pos
	for pos < r.end {
		h, err := r.header(pos)
		if err != nil {
			return t, err
		}
		if h.BaseOffset < t.next || !s.fits(h.LastOffset()) {
			return t, fmt.Errorf("%w: batch offset %d out of order at position %d", ErrCorruptBatch, h.BaseOffset, pos)
		}
		if h.MaxTimestamp > t.maxTs {
			t.maxTs, t.maxTsRel = h.MaxTimestamp, int32(h.LastOffset()-s.base)
		}
		t.next = h.LastOffset() + 1
		pos += int64(h.Size())
	}
	return t, nil
}

// indexer rebuilds the running index state from the walked tail and the
// time index, whose last entry holds the largest timestamp before the tail.
func (t tailState) indexer(tidx timeIndex) indexer {
	ix := indexer{sinceLast: t.sinceLast, maxTs: -1, maxTsRel: -1}
	if n := len(tidx); n > 0 {
		ix.maxTs, ix.maxTsRel = tidx[n-1].ts, tidx[n-1].rel
	}
	if t.maxTs > ix.maxTs {
		ix.maxTs, ix.maxTsRel = t.maxTs, t.maxTsRel
	}
	return ix
}

// recoverSegment re-reads a whole segment, checking each batch's framing,
// offsets and CRC, cuts the file after the last good batch, and rebuilds
// both indexes with the rule appends use. An inactive segment is sealed.
func (l *Log) recoverSegment(s *segment, f File, fileSize int64, last bool) (cut bool, err error) {
	r := &chunkReader{chunk: recoveryChunk}
	r.reset(f, fileSize)
	ix := indexer{maxTs: -1, maxTsRel: -1}
	var oidx offsetIndex
	var tidx timeIndex
	lastTime := int64(-1)
	pos, next, rollTs := int64(0), s.base, int64(-1)
	var reason error
	for pos < fileSize {
		h, err := r.header(pos)
		if err != nil {
			reason = err
			break
		}
		if h.BaseOffset < next || !s.fits(h.LastOffset()) {
			reason = fmt.Errorf("%w: batch offset %d out of order", ErrCorruptBatch, h.BaseOffset)
			break
		}
		b, err := r.at(pos, h.Size())
		if err == nil {
			err = checkCRC(h, b)
		}
		if err != nil {
			reason = err
			break
		}
		if pos == 0 {
			rollTs = h.MaxTimestamp
		}
		if l.epochsFromBatches && h.PartitionLeaderEpoch >= 0 {
			l.epochs.assign(h.PartitionLeaderEpoch, h.BaseOffset)
		}
		oe, te, addOff, addTime := ix.add(h, s.base, pos, l.cfg.Value().IndexIntervalBytes, lastTime)
		if addOff {
			oidx = append(oidx, oe)
		}
		if addTime {
			tidx = append(tidx, te)
			lastTime = te.ts
		}
		next = h.LastOffset() + 1
		pos += int64(h.Size())
	}
	if pos < fileSize {
		l.logger.Warn("log: truncating corrupt or torn tail", "dir", l.dir, "segment", s.base,
			"position", pos, "bytes", fileSize-pos, "reason", reason)
		s.preservePinned(pos) // Records an earlier Log on this directory left
		if err := f.Truncate(pos); err != nil {
			return false, fmt.Errorf("log: truncate segment %d: %w", s.base, err)
		}
		cut = true
	}
	s.size, s.next, s.ix, s.rollTs = pos, next, ix, rollTs
	s.verified.Store(pos) // every batch kept passed its CRC check just now
	if !last && ix.maxTs > lastTime {
		tidx = append(tidx, timeEntry{ts: ix.maxTs, rel: ix.maxTsRel})
	}
	s.setIndexes(&segIndexes{oidx: oidx, tidx: tidx})
	s.oidxDisk, s.tidxDisk = -1, -1
	s.dirty.Store(true) // what was read may still be only in the page cache
	if err := s.persistIndexes(l.fs, l.dir, l.scratchBuf()); err != nil {
		return false, fmt.Errorf("log: rebuild index of segment %d: %w", s.base, err)
	}
	if err := s.sync(l.fs, l.dir); err != nil {
		return false, fmt.Errorf("log: sync segment %d: %w", s.base, err)
	}
	return cut, nil
}
