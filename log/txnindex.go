package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// The aborted-transaction index, Kafka's .txnindex: one per segment, an
// entry per transaction aborted by a marker in that segment, 34 bytes each
// (int16 version 0, int64 producer id, first offset, last offset, last
// stable offset), in marker order. The file exists only when the segment
// has entries. Aborts are rare, so a segment keeps its entries in memory
// too (segment.aborted) and AbortedTxns reads no file.

const (
	extTxnIndex     = ".txnindex"
	abortedTxnSize  = 34
	txnIndexVersion = 0
)

func appendAbortedTxn(dst []byte, a AbortedTxn) []byte {
	be := binary.BigEndian
	dst = be.AppendUint16(dst, txnIndexVersion)
	dst = be.AppendUint64(dst, uint64(a.ProducerID))
	dst = be.AppendUint64(dst, uint64(a.FirstOffset))
	dst = be.AppendUint64(dst, uint64(a.LastOffset))
	return be.AppendUint64(dst, uint64(a.LastStableOffset))
}

// decodeTxnIndex parses a .txnindex file of the segment holding offsets
// [base, next), checking what Kafka's TransactionIndex.sanityCheck does and
// a little more: whole entries, version 0, markers inside the segment in
// increasing order, first offset at or below last.
func decodeTxnIndex(b []byte, base, next int64) ([]AbortedTxn, error) {
	if len(b)%abortedTxnSize != 0 {
		return nil, fmt.Errorf("%d bytes is not a whole number of entries", len(b))
	}
	be := binary.BigEndian
	out := make([]AbortedTxn, 0, len(b)/abortedTxnSize)
	for p := 0; p < len(b); p += abortedTxnSize {
		e := b[p:]
		if v := int16(be.Uint16(e)); v != txnIndexVersion {
			return nil, fmt.Errorf("entry %d: version %d", len(out), v)
		}
		a := AbortedTxn{
			ProducerID:       int64(be.Uint64(e[2:])),
			FirstOffset:      int64(be.Uint64(e[10:])),
			LastOffset:       int64(be.Uint64(e[18:])),
			LastStableOffset: int64(be.Uint64(e[26:])),
		}
		if a.LastOffset < base || a.LastOffset >= next || a.FirstOffset > a.LastOffset ||
			(len(out) > 0 && a.LastOffset <= out[len(out)-1].LastOffset) {
			return nil, fmt.Errorf("entry %d (%+v) out of place in segment [%d, %d)", len(out), a, base, next)
		}
		out = append(out, a)
	}
	return out, nil
}

// appendTxnIndex writes new entries at the end of s's .txnindex, creating
// it. The caller holds wmu; the entries are published by the caller.
func (s *segment) appendTxnIndex(fsys FS, dir string, entries []AbortedTxn) error {
	var buf []byte
	for _, a := range entries {
		buf = appendAbortedTxn(buf, a)
	}
	f, err := fsys.OpenFile(segmentName(dir, s.base, extTxnIndex), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(buf, int64(s.txnDisk)*abortedTxnSize)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && s.txnDisk == 0 {
		// Created: its name must survive a crash once the segment is synced, or
		// a trusted segment would lose its entries without a rebuild.
		err = syncDir(fsys, dir)
	}
	if err != nil {
		return fmt.Errorf("write %s of segment %d: %w", extTxnIndex, s.base, err)
	}
	s.txnDisk += len(entries)
	s.txnDirty.Store(true)
	return nil
}

// rewriteTxnIndex replaces s's .txnindex with entries (removing it when
// there are none) and syncs it when sync is set. The caller holds wmu.
func (s *segment) rewriteTxnIndex(fsys FS, dir string, entries []AbortedTxn, sync bool) error {
	name := segmentName(dir, s.base, extTxnIndex)
	if len(entries) == 0 {
		if err := fsys.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		s.txnDisk = 0
		return nil
	}
	var buf []byte
	for _, a := range entries {
		buf = appendAbortedTxn(buf, a)
	}
	var err error
	if sync {
		err = writeSynced(fsys, name, buf)
	} else {
		err = writeTruncated(fsys, name, buf)
	}
	if err != nil {
		return fmt.Errorf("write %s of segment %d: %w", extTxnIndex, s.base, err)
	}
	s.txnDisk = len(entries)
	if !sync {
		s.txnDirty.Store(true)
	}
	return nil
}

// writeTruncated replaces a file's content without syncing it.
func writeTruncated(fsys FS, name string, data []byte) error {
	f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(data, 0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncTxnIndex syncs s's .txnindex if written since the last sync.
func (s *segment) syncTxnIndex(fsys FS, dir string) error {
	if !s.txnDirty.Swap(false) {
		return nil
	}
	err := syncFile(fsys, segmentName(dir, s.base, extTxnIndex))
	if errors.Is(err, fs.ErrNotExist) {
		return nil // removed meanwhile (a truncation emptied it)
	}
	if err != nil {
		s.txnDirty.Store(true)
	}
	return err
}

// openTxnIndexes sets the transaction state after Open loaded the
// segments, and every segment's aborted-transaction entries: from its
// .txnindex when the segment was trusted (not re-read by recovery) and the
// file is sound, else from a scan of the log, written back (Kafka rebuilds
// the index of every segment it recovers). A trusted file may know more
// than the scan: entries whose transaction's first batches went to
// retention. After a clean shutdown with a snapshot of the state (snap),
// when every file is sound, the log is not scanned at all.
func (l *Log) openTxnIndexes(recovered map[int64]bool, snap *txnState) error {
	if snap != nil {
		if l.loadTxnIndexFiles() {
			l.txnMu.Lock()
			l.txns = *snap
			l.txnMu.Unlock()
			return nil
		}
		for _, s := range l.segments {
			s.aborted, s.txnDisk = nil, 0
		}
	}
	computed, err := l.rebuildTxns()
	if err != nil {
		return err
	}
	written := false
	for _, s := range l.segments {
		var mine []AbortedTxn
		for _, a := range computed {
			if a.LastOffset >= s.base && a.LastOffset < s.next {
				mine = append(mine, a)
			}
		}
		if !recovered[s.base] {
			name := segmentName(l.dir, s.base, extTxnIndex)
			data, err := readFile(l.listed, name, 1<<30)
			switch {
			case err == nil:
				entries, derr := decodeTxnIndex(data, s.base, s.next)
				if derr == nil {
					s.aborted, s.txnDisk = entries, len(entries)
					continue
				}
				l.logger.Warn("log: rebuilding a bad transaction index", "dir", l.dir, "segment", s.base, "err", derr)
			case !errors.Is(err, fs.ErrNotExist):
				return fmt.Errorf("%w: read %s: %w", ErrStorage, name, err)
			case len(mine) == 0:
				continue
			}
		}
		if err := s.rewriteTxnIndex(l.fs, l.dir, mine, true); err != nil {
			return fmt.Errorf("%w: %w", ErrStorage, err)
		}
		s.aborted = mine
		written = true
	}
	if written {
		// The rebuilt files (and removed stale ones) are trusted from now on.
		if err := syncDir(l.fs, l.dir); err != nil {
			return fmt.Errorf("%w: sync %s: %w", ErrStorage, l.dir, err)
		}
	}
	return nil
}

// loadTxnIndexFiles reads every segment's .txnindex, reporting false (with
// some left unread) when one is unreadable or unsound.
func (l *Log) loadTxnIndexFiles() bool {
	for _, s := range l.segments {
		data, err := readFile(l.listed, segmentName(l.dir, s.base, extTxnIndex), 1<<30)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return false
		}
		entries, err := decodeTxnIndex(data, s.base, s.next)
		if err != nil {
			l.logger.Warn("log: rebuilding a bad transaction index", "dir", l.dir, "segment", s.base, "err", err)
			return false
		}
		s.aborted, s.txnDisk = entries, len(entries)
	}
	return true
}
