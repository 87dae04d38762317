package log

import (
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"math"
	"path/filepath"
	"strconv"
)

// cleanPointFile holds the cleaner's first dirty offset: everything below
// it has been compacted (Kafka keeps it per log directory in
// cleaner-offset-checkpoint; the format is the same with one entry).
const cleanPointFile = "cleaner-offset-checkpoint"

// Suffixes of a cleaned segment on its way in: written as .cleaned, renamed
// to .swap once complete and synced (the commit point), renamed to the
// segment's name when swapped in.
const (
	cleanedSuffix = ".cleaned"
	swapSuffix    = ".swap"
)

// maxCleanerKeys bounds the keys one Clean maps (Kafka sizes the same map by
// log.cleaner.dedupe.buffer.size): a dirty section with more distinct keys
// is cleaned over several passes.
var maxCleanerKeys = 1 << 20

// cleanReadChunk is how much of a segment the cleaner reads at a time.
const cleanReadChunk = 1 << 20

// CleanStats describes one Clean.
type CleanStats struct {
	// Cleaned is false when the log did not need cleaning (or Aborted).
	Cleaned bool
	// Aborted: a truncation, a close or a concurrent change made the
	// cleaner give up; nothing changed.
	Aborted bool
	// FirstDirty and End delimit the dirty range deduplicated; the log is
	// clean below End, the new first dirty offset.
	FirstDirty, End int64
	DirtyRatio      float64
	SegmentsRead    int
	SegmentsWritten int
	BytesRead       int64
	BytesWritten    int64
	RecordsRead     int64
	RecordsRemoved  int64
}

// Clean compacts a log whose cleanup.policy has compact, as Kafka's log
// cleaner does for one log:
//
//   - the dirty section runs from the cleaner checkpoint (or the log start)
//     to the first uncleanable offset: the active segment's base, the high
//     watermark, or the first segment with a record younger than
//     min.compaction.lag.ms, whichever is lowest;
//   - it cleans only when the dirty share of the log exceeds
//     min.cleanable.dirty.ratio, or when a dirty record is older than
//     max.compaction.lag.ms;
//   - it maps each key in the dirty section to its last offset, then
//     rewrites every sealed segment up to the mapped end, in groups that
//     fit segment.bytes, keeping a record if it is the latest for its key
//     (or past the mapped end); records without a key go;
//   - a tombstone kept the first time gets a delete horizon of now +
//     delete.retention.ms (KIP-534, stored as the batch's first timestamp
//     with attribute bit 6) and goes in a clean after that;
//   - offsets never change: a batch keeps its base and last offset, so it
//     may hold fewer records than its offset range; a batch whose records
//     all go is dropped, except the last batch of each producer id (kept
//     empty, for the idempotent producer's sequence) and the last batch of
//     the cleaned range;
//   - each group is written to <base>.log.cleaned, synced, renamed to
//     .swap (the commit point: Open completes a swap it finds), then the
//     old segments are renamed to .deleted and the .swap becomes the
//     segment, under the log's lock so no read sees a half swap.
//
// The copying runs without the writer lock: appends go on. A truncation,
// Close or Delete meanwhile makes it give up (Aborted). Compressed batches
// are rewritten with their codec when Options.Codecs can, else
// kept whole; a kept record's compressed batch that can be decompressed
// but not compressed again is rewritten uncompressed.
func (l *Log) Clean(highWatermark int64) (CleanStats, error) {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	p, stats, err := l.planClean(highWatermark)
	if err != nil || p == nil {
		return stats, err
	}
	c := &cleanRun{l: l, plan: p, stats: stats}
	err = c.run()
	if errors.Is(err, errCleanAborted) {
		c.stats.Aborted, c.stats.Cleaned = true, false
		return c.stats, nil
	}
	return c.stats, err
}

var errCleanAborted = errors.New("log: cleaning aborted")

// cleanSeg is a sealed segment as the cleaner saw it when it planned.
type cleanSeg struct {
	s                *segment
	base, size, next int64
	nOff, nTime      int
	maxTs, firstTs   int64
}

type cleanPlan struct {
	cfg        Config
	gen        uint32
	now        int64
	segs       []cleanSeg // the sealed segments
	firstDirty int64
	upper      int64 // the first uncleanable offset
}

// planClean decides whether and what to clean (Kafka's
// LogCleanerManager.cleanableOffsets and the dirty-ratio choice).
func (l *Log) planClean(hw int64) (*cleanPlan, CleanStats, error) {
	var stats CleanStats
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.abortClean.Load() || l.closed {
		return nil, stats, ErrClosed
	}
	if !l.cfg.Value().Compact || l.failed != nil {
		return nil, stats, l.failed
	}
	p := &cleanPlan{cfg: l.cfg.Value(), now: l.now().UnixMilli()}
	l.mu.RLock()
	p.gen = l.gen
	start, end, activeBase := l.startOffset, l.endOffset, l.active().base
	for _, s := range l.segments[:len(l.segments)-1] {
		p.segs = append(p.segs, cleanSeg{s: s, base: s.base, size: s.size, next: s.next,
			nOff: int(s.nOff), nTime: int(s.nTime), maxTs: s.ix.maxTs, firstTs: s.rollTs})
	}
	l.mu.RUnlock()

	p.firstDirty = l.cleanPoint
	if p.firstDirty < start || p.firstDirty > end {
		p.firstDirty = start
	}
	// Kafka's firstUncleanableDirtyOffset: never at or past the last stable
	// offset, so no open transaction is touched.
	p.upper = min(l.LastStableOffset(hw), activeBase)
	if lag := p.cfg.MinCompactionLagMs; lag > 0 {
		for _, cs := range p.dirtySegs(p.firstDirty, math.MaxInt64, activeBase) {
			ts := cs.maxTs
			if ts < 0 {
				t, err := cs.s.modTime()
				if err != nil {
					return nil, stats, err
				}
				ts = t.UnixMilli()
			}
			if ts > p.now-lag {
				p.upper = min(p.upper, cs.base)
				break
			}
		}
	}
	p.upper = max(p.upper, p.firstDirty)

	var cleanBytes, dirtyBytes int64
	for _, cs := range p.segs {
		if cs.base < p.firstDirty {
			cleanBytes += cs.size
		}
	}
	for _, cs := range p.dirtySegs(p.firstDirty, p.upper, activeBase) {
		dirtyBytes += cs.size
	}
	if cleanBytes+dirtyBytes == 0 {
		return nil, stats, nil
	}
	stats.FirstDirty, stats.End = p.firstDirty, p.firstDirty
	stats.DirtyRatio = float64(dirtyBytes) / float64(cleanBytes+dirtyBytes)
	overdue := false
	if lag := p.cfg.MaxCompactionLagMs; lag < math.MaxInt64 {
		for _, cs := range p.dirtySegs(p.firstDirty, math.MaxInt64, activeBase) {
			if cs.firstTs > 0 && cs.firstTs < p.now-lag {
				overdue = true
			}
		}
	}
	if !(overdue && dirtyBytes > 0) && !(stats.DirtyRatio > p.cfg.MinCleanableDirtyRatio) {
		return nil, stats, nil
	}
	return p, stats, nil
}

// dirtySegs returns the sealed segments overlapping [from, to) (the last
// sealed one ends at activeBase).
func (p *cleanPlan) dirtySegs(from, to, activeBase int64) []cleanSeg {
	var out []cleanSeg
	for i, cs := range p.segs {
		next := activeBase
		if i+1 < len(p.segs) {
			next = p.segs[i+1].base
		}
		if cs.base < to && next > from && from < to {
			out = append(out, cs)
		}
	}
	return out
}

// cleanRun is one Clean at work.
type cleanRun struct {
	l        *Log
	plan     *cleanPlan
	stats    CleanStats
	keys     offsetMap
	producer map[int64]int64 // producer id -> last offset of its last batch
	end      int64           // the mapped end: records at or past it are kept
	txns     *cleanTxns      // the transactions of the batches being copied

	kept    []keptRecord
	scratch []byte
	buf     []byte // read buffer
}

func (c *cleanRun) run() error {
	p := c.plan
	c.keys = newOffsetMap(maxCleanerKeys)
	if err := c.buildOffsetMap(); err != nil {
		return err
	}
	c.end = c.keys.latest + 1
	if c.end <= p.firstDirty {
		return nil
	}
	if err := c.collectProducers(); err != nil {
		return err
	}
	if len(p.segs) > 0 {
		// The aborted transactions over the whole segments rewritten, which may
		// go past the mapped end, as Kafka collects them segment by segment: an
		// abort marker there must know its batches, or it could go before them.
		upper := p.segs[0].next
		for _, cs := range p.segs {
			if cs.base < c.end {
				upper = max(upper, cs.next)
			}
		}
		c.txns = newCleanTxns(c.l.AbortedTxns(p.segs[0].base, upper))
	}
	for _, g := range c.groups() {
		if err := c.cleanGroup(g); err != nil {
			return err
		}
	}
	l := c.l
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed || l.gen != p.gen {
		return errCleanAborted
	}
	l.cleanPoint = c.end
	data := encodeCheckpoint([]string{strconv.FormatInt(c.end, 10)})
	if err := writeFileAtomic(l.fs, l.dir, cleanPointFile, data); err != nil {
		return fmt.Errorf("%w: write %s: %w", ErrStorage, cleanPointFile, err)
	}
	c.stats.Cleaned, c.stats.End = true, c.end
	l.logger.Info("log: cleaned", "dir", l.dir, "dirty", c.stats.FirstDirty, "end", c.end,
		"records_removed", c.stats.RecordsRemoved, "bytes_read", c.stats.BytesRead, "bytes_written", c.stats.BytesWritten)
	return nil
}

// buildOffsetMap maps each key in [firstDirty, upper) to its last offset
// (Kafka's Cleaner.buildOffsetMap), stopping when the map is full.
func (c *cleanRun) buildOffsetMap() error {
	p := c.plan
	dirty := p.dirtySegs(p.firstDirty, p.upper, math.MaxInt64)
	// Aborted records map no key: they must not shadow committed ones.
	txns := newCleanTxns(c.l.AbortedTxns(p.firstDirty, p.upper))
	for i, cs := range dirty {
		nextStart := p.upper
		if i+1 < len(dirty) {
			nextStart = min(nextStart, dirty[i+1].base)
		}
		full := false
		err := c.eachBatch(cs, func(_ int64, h BatchHeader, b []byte) error {
			if h.BaseOffset >= p.upper {
				return errStopBatches
			}
			if h.IsControl() {
				m, isMarker, err := parseMarker(c.l.codecs, h, b)
				if err != nil {
					return fmt.Errorf("%w: %w", ErrStorage, err)
				}
				txns.onControl(h, m, isMarker)
				return nil
			}
			if txns.onBatch(h) {
				c.keys.latest = max(c.keys.latest, h.LastOffset())
				return nil
			}
			if h.LastOffset() < p.firstDirty {
				return nil
			}
			recs, err := batchRecords(c.l.codecs, h, b)
			if errors.Is(err, errNoCodec) {
				// Its keys stay unknown: older records of them are kept.
				c.keys.latest = max(c.keys.latest, h.LastOffset())
				return nil
			}
			if err != nil {
				return fmt.Errorf("%w: %s", ErrCorruptBatch, err.Error())
			}
			err = forEachRecord(recs, h.NumRecords, func(_ []byte, r recordFields) bool {
				off := h.BaseOffset + int64(r.offDelta)
				if r.keyNull || off < p.firstDirty {
					return true
				}
				if !c.keys.put(r.key, off) {
					full = true
					return false
				}
				return true
			})
			if err != nil {
				return err
			}
			if full {
				return errStopBatches
			}
			c.keys.latest = max(c.keys.latest, h.LastOffset())
			return nil
		})
		if err != nil {
			return err
		}
		if full {
			return nil
		}
		c.keys.latest = max(c.keys.latest, nextStart-1)
	}
	return nil
}

// collectProducers finds each producer id's last batch in the whole log:
// that batch is kept, if only as an empty header, so the idempotent
// producer state rebuilt from the log keeps its last sequence.
func (c *cleanRun) collectProducers() error {
	c.producer = make(map[int64]int64)
	return c.l.ScanBatches(0, func(h BatchHeader) error {
		if c.l.abortClean.Load() {
			return errCleanAborted
		}
		if h.ProducerID >= 0 {
			c.producer[h.ProducerID] = h.LastOffset()
		}
		return nil
	})
}

// groups splits the sealed segments below the mapped end into runs that
// fit one segment (Kafka's Cleaner.groupSegmentsBySize).
func (c *cleanRun) groups() [][]cleanSeg {
	p := c.plan
	var segs []cleanSeg
	for _, cs := range p.segs {
		if cs.base < c.end {
			segs = append(segs, cs)
		}
	}
	maxIdx := p.cfg.SegmentIndexBytes
	var out [][]cleanSeg
	for len(segs) > 0 {
		g := segs[:1]
		size, nOff, nTime := segs[0].size, segs[0].nOff*offsetEntrySize, segs[0].nTime*timeEntrySize
		for len(g) < len(segs) {
			cand := segs[len(g)]
			last := p.upper - 1
			if len(g)+1 < len(segs) {
				last = segs[len(g)+1].base - 1
			}
			if size+cand.size > p.cfg.SegmentBytes || nOff+cand.nOff*offsetEntrySize > maxIdx ||
				nTime+cand.nTime*timeEntrySize > maxIdx || (cand.size > 0 && last-g[0].base > math.MaxInt32) {
				break
			}
			size, nOff, nTime = size+cand.size, nOff+cand.nOff*offsetEntrySize, nTime+cand.nTime*timeEntrySize
			g = segs[:len(g)+1]
		}
		out = append(out, g)
		segs = segs[len(g):]
	}
	return out
}

var errStopBatches = errors.New("stop")

// eachBatch calls fn with each whole, CRC-checked batch of cs, reading a
// chunk at a time; fn returning errStopBatches ends the walk quietly.
func (c *cleanRun) eachBatch(cs cleanSeg, fn func(pos int64, h BatchHeader, b []byte) error) error {
	f, err := cs.s.file.acquire()
	if err != nil {
		return c.gone(err)
	}
	defer cs.s.file.release()
	c.stats.SegmentsRead++
	for pos := int64(0); pos < cs.size; {
		if c.l.abortClean.Load() {
			return errCleanAborted
		}
		n := min(cs.size-pos, cleanReadChunk)
		c.buf = grow(c.buf, int(n))
		if err := readFull(f, c.buf, pos); err != nil {
			return c.gone(err)
		}
		if h, err := checkStoredHeader(c.buf, pos, cs.size); err == nil && int64(h.Size()) > n {
			c.buf = grow(c.buf, h.Size()) // one batch larger than a chunk
			if err := readFull(f, c.buf, pos); err != nil {
				return c.gone(err)
			}
		}
		c.stats.BytesRead += int64(len(c.buf))
		p := 0
		for len(c.buf)-p >= BatchHeaderSize {
			h, err := checkStoredHeader(c.buf[p:], pos+int64(p), cs.size)
			if err != nil {
				return fmt.Errorf("%w: segment %d: %w", ErrStorage, cs.base, err)
			}
			if h.Size() > len(c.buf)-p {
				break
			}
			b := c.buf[p : p+h.Size()]
			if err := checkCRC(h, b); err != nil {
				return fmt.Errorf("%w: segment %d position %d: %w", ErrStorage, cs.base, pos+int64(p), err)
			}
			if err := fn(pos+int64(p), h, b); err != nil {
				if err == errStopBatches {
					return nil
				}
				return err
			}
			p += h.Size()
		}
		if p == 0 {
			return fmt.Errorf("%w: segment %d: no whole batch at position %d", ErrStorage, cs.base, pos)
		}
		pos += int64(p)
	}
	return nil
}

// gone turns a read failure into an abort when the segment was removed
// meanwhile (a truncation or Close), else into a storage error.
func (c *cleanRun) gone(err error) error {
	l := c.l
	l.mu.RLock()
	changed := l.closed || l.gen != c.plan.gen
	l.mu.RUnlock()
	if changed || c.l.abortClean.Load() {
		return errCleanAborted
	}
	return fmt.Errorf("%w: %w", ErrStorage, err)
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// offsetMap maps a key, by a 128-bit hash as Kafka's SkimpyOffsetMap does
// with MD5, to the last offset seen for it.
type offsetMap struct {
	s1, s2 maphash.Seed
	m      map[[2]uint64]int64
	max    int
	latest int64 // the last offset mapped; -1 when none
}

func newOffsetMap(maxKeys int) offsetMap {
	return offsetMap{s1: maphash.MakeSeed(), s2: maphash.MakeSeed(), m: make(map[[2]uint64]int64), max: maxKeys, latest: -1}
}

func (m *offsetMap) hash(key []byte) [2]uint64 {
	return [2]uint64{maphash.Bytes(m.s1, key), maphash.Bytes(m.s2, key)}
}

// put maps key to off unless the map is full (Kafka checks the size
// before every put, a key already present included).
func (m *offsetMap) put(key []byte, off int64) bool {
	if len(m.m) >= m.max {
		return false
	}
	m.m[m.hash(key)] = off
	return true
}

// get returns the offset mapped to key, or -1.
func (m *offsetMap) get(key []byte) int64 {
	if off, ok := m.m[m.hash(key)]; ok {
		return off
	}
	return -1
}

// readCleanPoint returns the persisted first dirty offset, or 0.
func readCleanPoint(fsys FS, dir string) (int64, error) {
	data, err := readFile(fsys, filepath.Join(dir, cleanPointFile), maxCheckpointBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("log: read %s: %w", cleanPointFile, err)
	}
	rows, err := parseCheckpoint(data, 1)
	if err == nil && len(rows) != 1 {
		err = fmt.Errorf("%w: %d entries, want 1", ErrCorruptCheckpoint, len(rows))
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", cleanPointFile, err)
	}
	off, err := strconv.ParseInt(rows[0][0], 10, 64)
	if err != nil || off < 0 {
		return 0, fmt.Errorf("%s: %w: bad offset %q", cleanPointFile, ErrCorruptCheckpoint, rows[0][0])
	}
	return off, nil
}
