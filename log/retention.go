package log

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"time"
)

// deletedSuffix marks a segment file waiting for file.delete.delay.ms before
// its removal; Open removes any it finds.
const deletedSuffix = ".deleted"

// DeleteOldSegments applies the delete half of cleanup.policy, as Kafka's
// UnifiedLog.deleteOldSegments does, and returns how many segments went:
//
//   - segments wholly below the log start offset (always);
//   - with Config.Delete, the oldest segments while the log minus the
//     segment stays at least RetentionBytes (-1: no size limit);
//   - with Config.Delete, segments whose largest timestamp is more than
//     RetentionMs before now (-1: no time limit). The largest timestamp is
//     the largest batch max timestamp, which for LogAppendTime batches is
//     the append time, so one rule serves both timestamp types; a segment
//     without timestamps uses its file's modification time.
//
// Only a prefix of the log is deleted, and never a segment holding an
// offset at or above highWatermark (Kafka's rule: the next segment's base,
// or the log end for the last, must be <= the high watermark), so the
// log start offset never passes it. As in Kafka the active segment may go
// too when it qualifies: a new empty segment is rolled first, so the log
// end offset stays. The log start offset moves to the first remaining
// segment's base (checkpointed before any file is touched); the deleted
// segments' files are renamed to .deleted at once and removed after
// file.delete.delay.ms.
func (l *Log) DeleteOldSegments(highWatermark int64) (int, error) {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return 0, err
	}
	now := l.now().UnixMilli()
	total := 0
	n, err := l.deleteWhileLocked(highWatermark, func(_, next *segment) bool {
		return next != nil && next.base <= l.startOffset
	})
	total += n
	if err != nil || !l.cfg.Value().Delete {
		return total, err
	}
	if limit := l.cfg.Value().RetentionBytes; limit >= 0 {
		var size int64
		for _, s := range l.segments {
			size += s.size
		}
		if size >= limit {
			diff := size - limit
			n, err = l.deleteWhileLocked(highWatermark, func(s, _ *segment) bool {
				if diff-s.size < 0 {
					return false
				}
				diff -= s.size
				return true
			})
			total += n
			if err != nil {
				return total, err
			}
		}
	}
	if limit := l.cfg.Value().RetentionMs; limit >= 0 {
		n, err = l.deleteWhileLocked(highWatermark, func(s, _ *segment) bool {
			ts, err := l.largestTimestamp(s)
			if err != nil {
				l.logger.Warn("log: cannot tell a segment's age; keeping it", "dir", l.dir, "segment", s.base, "err", err)
				return false
			}
			return now-ts > limit
		})
		total += n
	}
	return total, err
}

// largestTimestamp is Kafka's LogSegment.largestTimestamp: the largest batch
// max timestamp, or the file's modification time when there is none.
func (l *Log) largestTimestamp(s *segment) (int64, error) {
	if s.ix.maxTs >= 0 {
		return s.ix.maxTs, nil
	}
	t, err := s.modTime()
	if err != nil {
		return 0, err
	}
	return t.UnixMilli(), nil
}

// deleteWhileLocked deletes the longest prefix of segments that pred
// accepts, is wholly below highWatermark, and is not an empty last
// segment (Kafka's LocalLog.deletableSegments). The caller holds wmu.
func (l *Log) deleteWhileLocked(highWatermark int64, pred func(s, next *segment) bool) (int, error) {
	n := 0
	for i, s := range l.segments {
		var next *segment
		upper := l.endOffset
		if i+1 < len(l.segments) {
			next = l.segments[i+1]
			upper = next.base
		}
		if highWatermark < upper || (next == nil && s.size == 0) || !pred(s, next) {
			break
		}
		n++
	}
	if n == 0 {
		return 0, nil
	}
	if n == len(l.segments) {
		// Keep a segment: roll an empty one at the log end first.
		if err := l.roll(); err != nil {
			return 0, l.fail(err)
		}
	}
	l.mu.RLock()
	doomed := append([]*segment(nil), l.segments[:n]...)
	newStart := max(l.startOffset, l.segments[n].base)
	l.mu.RUnlock()
	if newStart > l.startOffset {
		if err := writeStartCheckpoint(l.fs, l.dir, newStart); err != nil {
			return 0, l.fail(fmt.Errorf("log: write %s: %w", startCheckpointFile, err))
		}
	}
	l.mu.Lock()
	l.segments = append(l.segments[:0:0], l.segments[n:]...)
	l.startOffset = newStart
	epochsChanged := l.epochs.truncateFromStart(newStart)
	l.mu.Unlock()
	l.logger.Info("log: deleted old segments", "dir", l.dir, "segments", n, "start", newStart)
	if err := l.deleteLater(doomed); err != nil {
		return n, l.fail(err)
	}
	if epochsChanged {
		if err := l.writeEpochsLocked(); err != nil {
			return n, l.fail(err)
		}
	}
	return n, nil
}

// deleteLater closes segments already taken out of the log, renames their
// files to .deleted and removes them after file.delete.delay.ms. No Read
// can be using them (they left the segment list under mu's write lock,
// which every Read holds while it touches a file), and an outstanding
// Records holds its own reference on an open file, which survives the
// rename and the removal, so the delay only mirrors Kafka, whose readers
// hold no lock. The caller holds wmu.
func (l *Log) deleteLater(segs []*segment) error {
	names, err := l.renameForDeletion(segs)
	l.scheduleDeletion(names)
	return err
}

// renameForDeletion closes segments and renames their files to .deleted,
// returning the new names. The caller holds wmu.
func (l *Log) renameForDeletion(segs []*segment) ([]string, error) {
	var names []string
	for _, s := range segs {
		_ = s.close()
		for _, ext := range segmentExts {
			name := segmentName(l.dir, s.base, ext)
			err := l.fs.Rename(name, name+deletedSuffix)
			switch {
			case err == nil:
				names = append(names, name+deletedSuffix)
			case !errors.Is(err, fs.ErrNotExist):
				return names, fmt.Errorf("log: rename segment %d for deletion: %w", s.base, err)
			}
		}
	}
	return names, nil
}

// scheduleDeletion removes files after file.delete.delay.ms. The caller
// holds wmu.
func (l *Log) scheduleDeletion(names []string) {
	if l.deleter == nil {
		if len(names) == 0 {
			return // retention found nothing: no deleter made for an idle log
		}
		l.deleter = new(deleter)
	}
	l.deleter.schedule(l.fs, names, time.Duration(l.cfg.Value().FileDeleteDelayMs)*time.Millisecond, l.logger)
}

// deleter removes .deleted files once their delay has passed.
type deleter struct {
	mu      sync.Mutex
	pending map[*time.Timer][]string
}

func (d *deleter) schedule(fsys FS, names []string, delay time.Duration, logger *slog.Logger) {
	if len(names) == 0 {
		return
	}
	if delay <= 0 {
		removeAll(fsys, names, logger)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pending == nil {
		d.pending = make(map[*time.Timer][]string)
	}
	var t *time.Timer
	t = time.AfterFunc(delay, func() {
		d.mu.Lock()
		names, ok := d.pending[t]
		delete(d.pending, t)
		d.mu.Unlock()
		if ok {
			removeAll(fsys, names, logger)
		}
	})
	d.pending[t] = names
}

// finish removes every pending file now (Close).
func (d *deleter) finish(fsys FS) {
	for _, names := range d.take() {
		removeAll(fsys, names, nil)
	}
}

// cancel forgets the pending files (Delete removes the directory).
func (d *deleter) cancel() { d.take() }

func (d *deleter) take() [][]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out [][]string
	for t, names := range d.pending {
		t.Stop()
		out = append(out, names)
	}
	d.pending = nil
	return out
}

func removeAll(fsys FS, names []string, logger *slog.Logger) {
	for _, n := range names {
		if err := fsys.Remove(n); err != nil && !errors.Is(err, fs.ErrNotExist) && logger != nil {
			logger.Warn("log: cannot remove a deleted segment file", "file", n, "err", err)
		}
	}
}
