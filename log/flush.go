package log

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
)

// recoveryPointFile holds the recovery point: every segment wholly below it
// was synced, so recovery after a crash re-checks only the segments from it
// on (Kafka keeps the same offset per log directory in
// recovery-point-offset-checkpoint).
const recoveryPointFile = "recovery-point"

// Flush makes everything appended so far durable (the indexes included)
// and moves the recovery point to the log end.
func (l *Log) Flush() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return ErrClosed
	}
	return l.flushLocked()
}

// FlushIfDue flushes when flush.ms has passed since the last flush and
// something was appended since (Kafka's log flusher; the broker calls it
// periodically).
func (l *Log) FlushIfDue() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed || l.unflushed == 0 || l.now().UnixMilli()-l.lastFlush < l.cfg.Value().FlushMs {
		return nil
	}
	return l.flushLocked()
}

// flushLocked is Flush; the caller holds wmu.
func (l *Log) flushLocked() error {
	if err := l.writable(); err != nil {
		return err
	}
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	for i, s := range l.segments {
		if err := s.persistIndexes(l.fs, l.dir, l.scratchBuf()); err != nil {
			return l.fail(fmt.Errorf("write the indexes of segment %d: %w", s.base, err))
		}
		if err := s.sync(l.fs, l.dir); err != nil {
			return l.fail(fmt.Errorf("sync segment %d: %w", s.base, err))
		}
		if i < len(l.segments)-1 {
			l.retire(s) // sealed: a no-op unless an earlier write of its indexes failed
		}
	}
	l.unflushed, l.lastFlush = 0, l.now().UnixMilli()
	if err := l.setRecoveryPointLocked(l.endOffset); err != nil {
		return l.fail(err)
	}
	return nil
}

// flushInactive runs in the background after a roll: it syncs the inactive
// segments and advances the recovery point to the active segment's base.
// It takes neither wmu nor mu's write lock, so appends go on meanwhile.
func (l *Log) flushInactive() {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return
	}
	inactive := slices.Clone(l.segments[:len(l.segments)-1])
	target := l.active().base
	l.mu.RUnlock()
	if target <= l.recoveryPoint {
		return
	}
	for _, s := range inactive {
		if err := s.sync(l.fs, l.dir); err != nil {
			if l.hasSegment(s) {
				l.logger.Warn("log: background flush failed", "dir", l.dir, "segment", s.base, "err", err)
				return
			}
			// Deleted meanwhile (retention, cleaning): nothing to make durable.
		}
	}
	if err := l.setRecoveryPointLocked(target); err != nil {
		l.logger.Warn("log: cannot advance the recovery point", "dir", l.dir, "err", err)
	}
}

func (l *Log) hasSegment(s *segment) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return slices.Contains(l.segments, s)
}

// setRecoveryPointLocked persists a new recovery point. The caller holds
// flushMu.
func (l *Log) setRecoveryPointLocked(off int64) error {
	if off == l.recoveryPoint {
		return nil
	}
	data := encodeCheckpoint([]string{strconv.FormatInt(off, 10)})
	if err := writeFileAtomic(l.fs, l.dir, recoveryPointFile, data); err != nil {
		return fmt.Errorf("log: write %s: %w", recoveryPointFile, err)
	}
	l.recoveryPoint = off
	return nil
}

// readRecoveryPoint returns the persisted recovery point, or 0 (re-check
// everything) when there is none.
func readRecoveryPoint(fsys FS, dir string) (int64, error) {
	data, err := readFile(fsys, filepath.Join(dir, recoveryPointFile), maxCheckpointBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("log: read %s: %w", recoveryPointFile, err)
	}
	rows, err := parseCheckpoint(data, 1)
	if err == nil && len(rows) != 1 {
		err = fmt.Errorf("%w: %d entries, want 1", ErrCorruptCheckpoint, len(rows))
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", recoveryPointFile, err)
	}
	off, err := strconv.ParseInt(rows[0][0], 10, 64)
	if err != nil || off < 0 {
		return 0, fmt.Errorf("%s: %w: bad offset %q", recoveryPointFile, ErrCorruptCheckpoint, rows[0][0])
	}
	return off, nil
}
