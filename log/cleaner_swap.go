package log

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
)

// cleanWriteChunk is how much cleaned output is buffered between writes.
const cleanWriteChunk = 1 << 20

// cleanedSegment is a group's replacement being written.
type cleanedSegment struct {
	seg  *segment // its in-memory state, published at the swap
	f    File     // the .log.cleaned file
	pos  int64    // bytes written to f
	buf  []byte   // output not yet written
	last int64    // time-index bookkeeping: the last entry's timestamp
	oidx offsetIndex
	tidx timeIndex
}

// cleanGroup rewrites one group of segments into one (Kafka's
// Cleaner.cleanSegments) and swaps it in.
func (c *cleanRun) cleanGroup(g []cleanSeg) error {
	l := c.l
	base := g[0].base
	out := &cleanedSegment{seg: newSegment(l.files(), l.fs, &l.dir, base, false), last: -1}
	f, err := l.fs.OpenFile(segmentName(l.dir, base, extLog+cleanedSuffix), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("%w: create cleaned segment %d: %w", ErrStorage, base, err)
	}
	out.f = f
	c.txns.index = nil
	err = c.copyGroup(g, out)
	if err == nil {
		err = c.finishCleaned(out)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("%w: %w", ErrStorage, cerr)
	}
	if err != nil {
		c.removeTemp(base)
		return err
	}
	if err := c.swap(g, out.seg); err != nil {
		if errors.Is(err, errCleanAborted) {
			c.removeTemp(base)
		}
		return err // else half swapped: Open finishes it from the .swap file
	}
	c.stats.SegmentsWritten++
	c.stats.BytesWritten += out.seg.size
	return nil
}

// copyGroup filters every batch of the group into out.
func (c *cleanRun) copyGroup(g []cleanSeg, out *cleanedSegment) error {
	for _, cs := range g {
		err := c.eachBatch(cs, func(_ int64, h BatchHeader, b []byte) error {
			n := len(out.buf)
			var err error
			if out.buf, err = c.filter(out.buf, h, b); err != nil {
				return err
			}
			if len(out.buf) > n {
				if err := out.index(c.plan.cfg, n); err != nil {
					return err
				}
			}
			if len(out.buf) >= cleanWriteChunk {
				return out.flush()
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return out.flush()
}

// index accounts for the batch just added at out.buf[at:].
func (out *cleanedSegment) index(cfg Config, at int) error {
	s := out.seg
	h := decodeHeader(out.buf[at:])
	pos := out.pos + int64(at)
	if pos+int64(h.Size()) > math.MaxInt32 || !s.fits(h.LastOffset()) {
		return fmt.Errorf("log: cleaned segment %d would overflow its index", s.base)
	}
	if pos == 0 {
		s.rollTs = h.MaxTimestamp
	}
	oe, te, addOff, addTime := s.ix.add(h, s.base, pos, cfg.IndexIntervalBytes, out.last)
	if addOff {
		out.oidx = append(out.oidx, oe)
	}
	if addTime {
		out.tidx = append(out.tidx, te)
		out.last = te.ts
	}
	s.size = pos + int64(h.Size())
	s.next = h.LastOffset() + 1
	return nil
}

func (out *cleanedSegment) flush() error {
	if len(out.buf) == 0 {
		return nil
	}
	if _, err := out.f.WriteAt(out.buf, out.pos); err != nil {
		return fmt.Errorf("%w: write cleaned segment %d: %w", ErrStorage, out.seg.base, err)
	}
	out.pos += int64(len(out.buf))
	out.buf = out.buf[:0]
	return nil
}

// filter appends what the cleaner keeps of batch b to dst (Kafka's
// MemoryRecords.filterTo with the cleaner's RecordFilter).
func (c *cleanRun) filter(dst []byte, h BatchHeader, b []byte) ([]byte, error) {
	p := c.plan
	c.stats.RecordsRead += int64(h.NumRecords)
	keepEmpty := (h.ProducerID >= 0 && c.producer[h.ProducerID] == h.LastOffset()) || h.LastOffset()+1 == p.upper
	if h.IsControl() {
		return c.filterControl(dst, h, b, keepEmpty)
	}
	if c.txns.onBatch(h) {
		// An aborted transaction's batch: its records go.
		c.stats.RecordsRemoved += int64(h.NumRecords)
		if keepEmpty {
			return appendEmptyBatch(dst, h), nil
		}
		return dst, nil
	}
	recs, err := batchRecords(c.l.codecs, h, b)
	if errors.Is(err, errNoCodec) {
		return append(dst, b...), nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: batch at offset %d: %s", ErrCorruptBatch, h.BaseOffset, err.Error())
	}
	horizon, hasHorizon := deleteHorizon(h)
	kept := c.kept[:0]
	tombstones := false
	err = forEachRecord(recs, h.NumRecords, func(body []byte, r recordFields) bool {
		off := h.BaseOffset + int64(r.offDelta)
		keep := off >= c.end || (!r.keyNull && off >= c.keys.get(r.key) &&
			(!r.valueNull || !hasHorizon || p.now < horizon))
		if keep {
			ts := h.FirstTimestamp + r.tsDelta
			if h.TimestampType() == 1 {
				ts = h.MaxTimestamp
			}
			kept = append(kept, keptRecord{body: body, r: r, ts: ts})
			tombstones = tombstones || r.valueNull
		}
		return true
	})
	c.kept = kept
	if err != nil {
		return nil, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
	}
	c.stats.RecordsRemoved += int64(h.NumRecords) - int64(len(kept))
	switch {
	case len(kept) > 0:
		setHorizon := tombstones && !hasHorizon
		if len(kept) == int(h.NumRecords) && !setHorizon {
			return append(dst, b...), nil
		}
		if setHorizon {
			horizon, hasHorizon = p.now+p.cfg.DeleteRetentionMs, true
		}
		out, err := buildBatch(dst, c.l.codecs, h, kept, horizon, hasHorizon, h.Compression(), &c.scratch)
		if err != nil {
			// Decompressed but cannot compress again: write it plain.
			out, err = buildBatch(dst, nil, h, kept, horizon, hasHorizon, 0, &c.scratch)
		}
		return out, err
	case keepEmpty:
		return appendEmptyBatch(dst, h), nil
	}
	return dst, nil
}

// finishCleaned seals the cleaned segment, writes its index files and
// syncs all three, then renames them to .swap: from here on Open completes
// the swap.
func (c *cleanRun) finishCleaned(out *cleanedSegment) error {
	l := c.l
	s := out.seg
	if s.ix.maxTs >= 0 && s.ix.maxTs > out.last {
		out.tidx = append(out.tidx, timeEntry{ts: s.ix.maxTs, rel: s.ix.maxTsRel})
	}
	s.setIndexes(&segIndexes{oidx: out.oidx, tidx: out.tidx})
	if err := out.f.Sync(); err != nil {
		return fmt.Errorf("%w: sync cleaned segment %d: %w", ErrStorage, s.base, err)
	}
	for _, ix := range []struct {
		ext  string
		data []byte
	}{{extIndex, out.oidx.encode(nil)}, {extTimeIndex, out.tidx.encode(nil)}} {
		if err := writeSynced(l.fs, segmentName(l.dir, s.base, ix.ext+cleanedSuffix), ix.data); err != nil {
			return fmt.Errorf("%w: write cleaned index of segment %d: %w", ErrStorage, s.base, err)
		}
	}
	s.oidxDisk, s.tidxDisk = s.nOff, s.nTime
	exts := []string{extIndex, extTimeIndex, extLog}
	if s.aborted = c.txns.index; len(s.aborted) > 0 {
		var data []byte
		for _, a := range s.aborted {
			data = appendAbortedTxn(data, a)
		}
		if err := writeSynced(l.fs, segmentName(l.dir, s.base, extTxnIndex+cleanedSuffix), data); err != nil {
			return fmt.Errorf("%w: write cleaned transaction index of segment %d: %w", ErrStorage, s.base, err)
		}
		s.txnDisk = len(s.aborted)
		exts = append([]string{extTxnIndex}, exts...)
	}
	s.created = l.now().UnixMilli()
	// Every byte was CRC-checked when read (eachBatch) or has a CRC just
	// computed (buildBatch).
	s.verified.Store(s.size)
	for _, ext := range exts {
		name := segmentName(l.dir, s.base, ext)
		if err := l.fs.Rename(name+cleanedSuffix, name+swapSuffix); err != nil {
			return fmt.Errorf("%w: rename cleaned segment %d: %w", ErrStorage, s.base, err)
		}
	}
	if err := syncDir(l.fs, l.dir); err != nil {
		return fmt.Errorf("%w: sync %s: %w", ErrStorage, l.dir, err)
	}
	return nil
}

// swap replaces the group's segments with ns, unless the log changed under
// the cleaner (Kafka's LocalLog.replaceSegments, with the abort a
// truncation would cause).
func (c *cleanRun) swap(g []cleanSeg, ns *segment) error {
	l := c.l
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed || l.gen != c.plan.gen || l.abortClean.Load() {
		return errCleanAborted
	}
	i := slices.Index(l.segments, g[0].s)
	if i < 0 || i+len(g) >= len(l.segments) {
		return errCleanAborted // deleted by retention meanwhile
	}
	for k, cs := range g {
		if l.segments[i+k] != cs.s {
			return errCleanAborted
		}
	}
	l.mu.Lock()
	names, err := l.renameForDeletion(segsOf(g))
	if err == nil {
		exts := []string{extIndex, extTimeIndex, extLog}
		if len(ns.aborted) > 0 {
			exts = append(exts, extTxnIndex)
		}
		for _, ext := range exts {
			name := segmentName(l.dir, ns.base, ext)
			if err = l.fs.Rename(name+swapSuffix, name); err != nil {
				break
			}
		}
	}
	if err != nil {
		// The files are half swapped: Open will finish the swap from the
		// .swap file. Until then this log takes no writes.
		l.mu.Unlock()
		return l.fail(fmt.Errorf("swap cleaned segment %d: %w", ns.base, err))
	}
	l.segments = slices.Concat(l.segments[:i], []*segment{ns}, l.segments[i+len(g):])
	l.mu.Unlock()
	l.retire(ns)
	if err := syncDir(l.fs, l.dir); err != nil {
		return l.fail(fmt.Errorf("sync %s: %w", l.dir, err))
	}
	l.scheduleDeletion(names)
	return nil
}

func segsOf(g []cleanSeg) []*segment {
	out := make([]*segment, len(g))
	for i, cs := range g {
		out[i] = cs.s
	}
	return out
}

// removeTemp removes what an abandoned clean left of the segment at base.
func (c *cleanRun) removeTemp(base int64) {
	for _, suffix := range []string{cleanedSuffix, swapSuffix} {
		for _, ext := range segmentExts {
			_ = c.l.fs.Remove(segmentName(c.l.dir, base, ext+suffix))
		}
	}
}

// writeSynced writes a new file and syncs it.
func writeSynced(fsys FS, name string, data []byte) error {
	f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if len(data) > 0 {
		_, err = f.WriteAt(data, 0)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
