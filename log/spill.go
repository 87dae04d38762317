package log

import (
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"sort"
	"sync/atomic"
)

// The active segment's indexes grow with every append until it rolls (at
// 1 GiB by default: 2 MiB of offset entries and 3 MiB of time entries), and
// every partition has one. So that memory does not grow with the data
// written, the active segment keeps only a bounded tail of each index in
// memory: once a tail holds 2×DefaultSpillBlock entries, the oldest
// DefaultSpillBlock are written to the index file (if they are not there
// already) and dropped from memory, keeping only the first entry of each
// such block (a summary). A lookup that falls in a dropped block reads
// that block back, one pread of a few KiB of a file that is in the page
// cache; lookups near the end of the log, where tailing consumers and
// producers are, never leave memory. This stands in for the memory map
// Kafka keeps of its active indexes. Sealed segments do not spill: the
// IndexCache bounds theirs, whole.

// DefaultSpillBlock is how many index entries the active segment writes out
// and drops from memory at a time (4 KiB of offset entries, 6 KiB of time
// entries).
const DefaultSpillBlock = 512

// spill describes the leading entries of a segment's indexes that are only
// in its index files. Immutable once published, like segIndexes.
type spill struct {
	block       int         // entries per dropped block
	nOff, nTime int         // dropped leading entries (multiples of block)
	osum        offsetIndex // the first entry of each dropped offset block
	tsum        timeIndex   // the first entry of each dropped time block

	// The blocks read last, shared by the spills that extend this one:
	// the dropped blocks do not change until a truncation, which starts
	// over with every entry in memory. Consumers read on through a
	// block (2 MiB of log at the default index interval), so most of
	// their lookups find it here; a fetch that crosses into the next
	// block finds both (even and odd blocks have a slot each).
	cache *blockCache
}

type blockCache struct {
	off, time [2]atomic.Pointer[cachedBlock]
}

type cachedBlock struct {
	b   int
	raw []byte
}

// codec is how a kind of index entry is stored and ordered.
type codec[E any] struct {
	size   int
	decode func([]byte) E
	before func(a, b E) bool // a may precede b in the index
	ext    string
}

var offsetCodec = codec[offsetEntry]{
	size: offsetEntrySize,
	decode: func(b []byte) offsetEntry {
		return offsetEntry{rel: int32(binary.BigEndian.Uint32(b)), pos: int32(binary.BigEndian.Uint32(b[4:]))}
	},
	before: func(a, b offsetEntry) bool { return a.rel < b.rel && a.pos < b.pos },
	ext:    extIndex,
}

var timeCodec = codec[timeEntry]{
	size: timeEntrySize,
	decode: func(b []byte) timeEntry {
		return timeEntry{ts: int64(binary.BigEndian.Uint64(b)), rel: int32(binary.BigEndian.Uint32(b[8:]))}
	},
	before: func(a, b timeEntry) bool { return a.ts < b.ts && a.rel <= b.rel },
	ext:    extTimeIndex,
}

// view is one of a segment's indexes as a whole: the entries in memory,
// after from entries that are only in the file (summarised by sum).
type view[E any] struct {
	c     *codec[E]
	mem   []E
	from  int
	sum   []E
	block int
	seg   *segment
	cache *[2]atomic.Pointer[cachedBlock]
}

func (s *segment) offsets(x *segIndexes) view[offsetEntry] {
	v := view[offsetEntry]{c: &offsetCodec, mem: x.oidx, seg: s}
	if sp := x.sp; sp != nil {
		v.from, v.sum, v.block, v.cache = sp.nOff, sp.osum, sp.block, &sp.cache.off
	}
	return v
}

func (s *segment) times(x *segIndexes) view[timeEntry] {
	v := view[timeEntry]{c: &timeCodec, mem: x.tidx, seg: s}
	if sp := x.sp; sp != nil {
		v.from, v.sum, v.block, v.cache = sp.nTime, sp.tsum, sp.block, &sp.cache.time
	}
	return v
}

// hit is where a search over an index ended: the first entry for which the
// predicate holds (at, absent at the end) and the entry before it (prev,
// absent at the start).
type hit[E any] struct {
	prev, at       E
	hasPrev, hasAt bool
}

// search finds the first entry for which f holds; f must be false for a
// prefix of the index and true for the rest. It reads at most one dropped
// block from the index file.
func (v view[E]) search(f func(E) bool) (hit[E], error) {
	var h hit[E]
	if len(v.mem) > 0 && (v.from == 0 || !f(v.mem[0])) {
		k := sort.Search(len(v.mem), func(i int) bool { return f(v.mem[i]) })
		if k > 0 {
			h.prev, h.hasPrev = v.mem[k-1], true
		}
		if k < len(v.mem) {
			h.at, h.hasAt = v.mem[k], true
		}
		return h, nil
	}
	if v.from == 0 {
		return h, nil // an empty index
	}
	b := sort.Search(len(v.sum), func(i int) bool { return f(v.sum[i]) })
	if b == 0 {
		h.at, h.hasAt = v.sum[0], true
		return h, nil
	}
	// The answer lies after the first entry of dropped block b-1, and at
	// or before the first entry after that block.
	next, hasNext := v.firstAfter(b - 1)
	raw, err := v.readBlock(b-1, next, hasNext)
	if err != nil {
		return h, err
	}
	n := len(raw) / v.c.size
	j := sort.Search(n, func(i int) bool { return f(v.c.decode(raw[i*v.c.size:])) })
	// j >= 1: the block's first entry is sum[b-1], for which f is false.
	h.prev, h.hasPrev = v.c.decode(raw[(j-1)*v.c.size:]), true
	if j < n {
		h.at, h.hasAt = v.c.decode(raw[j*v.c.size:]), true
	} else {
		h.at, h.hasAt = next, hasNext
	}
	return h, nil
}

// firstAfter is the first entry after dropped block b, if any.
func (v view[E]) firstAfter(b int) (E, bool) {
	switch {
	case b+1 < len(v.sum):
		return v.sum[b+1], true
	case len(v.mem) > 0:
		return v.mem[0], true
	}
	var zero E
	return zero, false
}

// readBlock returns dropped block b, from the cache or read from the index
// file and checked: its first entry is the summary's, its entries are in
// order and precede next. A file that fails the check changed under the
// log (Kafka's memory-mapped index would serve whatever it holds; this
// refuses it).
func (v view[E]) readBlock(b int, next E, hasNext bool) ([]byte, error) {
	slot := &v.cache[b%2]
	if c := slot.Load(); c != nil && c.b == b {
		return c.raw, nil
	}
	raw := make([]byte, v.block*v.c.size)
	name := v.seg.file.stem() + v.c.ext
	err := readIndexBlock(v.seg.file.fs, name, raw, int64(b)*int64(len(raw)))
	if err == nil {
		err = v.checkBlock(raw, v.sum[b], next, hasNext)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s block %d: %w", ErrStorage, name, b, err)
	}
	slot.Store(&cachedBlock{b: b, raw: raw})
	return raw, nil
}

func readIndexBlock(fsys FS, name string, p []byte, off int64) error {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	err = readFull(f, p, off)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (v view[E]) checkBlock(raw []byte, first, next E, hasNext bool) error {
	prev := v.c.decode(raw)
	if any(prev) != any(first) {
		return fmt.Errorf("first entry %v, want %v", prev, first)
	}
	for i := v.c.size; i < len(raw); i += v.c.size {
		e := v.c.decode(raw[i:])
		if !v.c.before(prev, e) {
			return fmt.Errorf("entries %v, %v out of order", prev, e)
		}
		prev = e
	}
	if hasNext && !v.c.before(prev, next) {
		return fmt.Errorf("last entry %v not before %v", prev, next)
	}
	return nil
}

// lowerPos is offsetIndex.lowerPos over the whole index.
func (s *segment) lowerPos(x *segIndexes, rel int64) (int64, error) {
	lo, _, err := s.bounds(x, rel)
	return lo, err
}

// bounds returns offsetIndex.lowerPos and upperPos of rel over the whole
// index, with one search.
func (s *segment) bounds(x *segIndexes, rel int64) (lo, up int64, err error) {
	h, err := s.offsets(x).search(func(e offsetEntry) bool { return int64(e.rel) >= rel })
	if err != nil {
		return 0, 0, err
	}
	lo, up = 0, s.size
	if h.hasPrev {
		lo = int64(h.prev.pos)
	}
	if h.hasAt {
		up = int64(h.at.pos)
	}
	return lo, up, nil
}

// offsetFloor returns the last offset entry with rel <= target.
func (s *segment) offsetFloor(x *segIndexes, rel int64) (offsetEntry, bool, error) {
	h, err := s.offsets(x).search(func(e offsetEntry) bool { return int64(e.rel) > rel })
	return h.prev, h.hasPrev, err
}

// timeFloor returns the last time entry with ts <= target.
func (s *segment) timeFloor(x *segIndexes, ts int64) (timeEntry, bool, error) {
	h, err := s.times(x).search(func(e timeEntry) bool { return e.ts > ts })
	return h.prev, h.hasPrev, err
}

// lastTimeEntry is the last entry of the time index, if any. The last
// entries are always in memory: a spill keeps at least a block.
func (x *segIndexes) lastTimeEntry() (timeEntry, bool) {
	if n := len(x.tidx); n > 0 {
		return x.tidx[n-1], true
	}
	return timeEntry{}, false
}

// spillIfLarge drops the oldest blocks of x's in-memory entries while a
// tail holds 2×block or more, writing them to the index files first, and
// returns the indexes to publish (x itself when nothing was dropped).
// x is the active segment's, possibly not yet published. The caller
// holds wmu.
func (s *segment) spillIfLarge(fsys FS, dir string, x *segIndexes, block int, scratch *[]byte) (*segIndexes, error) {
	if !x.large(block) {
		return x, nil
	}
	// A segment whose files proved wrong (rebuilt on reload, then made
	// active by a truncation) has them rewritten whole first; its indexes
	// are all in memory until this spill.
	s.rewriteIfRebuilt()
	if err := s.persistIndexesOf(fsys, dir, x, scratch); err != nil {
		return nil, err
	}
	sp := &spill{block: block, cache: new(blockCache)}
	if x.sp != nil {
		*sp = *x.sp
	}
	oidx, tidx := x.oidx, x.tidx
	for len(oidx) >= 2*block {
		sp.osum = append(sp.osum, oidx[0])
		oidx, sp.nOff = oidx[block:], sp.nOff+block
	}
	for len(tidx) >= 2*block {
		sp.tsum = append(sp.tsum, tidx[0])
		tidx, sp.nTime = tidx[block:], sp.nTime+block
	}
	// Fresh arrays, so the dropped entries' memory goes; room for a block
	// of appends before the next spill.
	out := &segIndexes{
		oidx: append(make(offsetIndex, 0, 2*block), oidx...),
		tidx: append(make(timeIndex, 0, 2*block), tidx...),
		sp:   sp,
	}
	if len(oidx) == len(x.oidx) {
		out.oidx = x.oidx
	}
	if len(tidx) == len(x.tidx) {
		out.tidx = x.tidx
	}
	return out, nil
}

// materialize returns x with every entry in memory, reading the dropped
// ones back from the index files (for a truncation, which rewrites the
// index tails). The caller holds wmu.
func (s *segment) materialize(x *segIndexes) (*segIndexes, error) {
	if x.sp == nil {
		return x, nil
	}
	stem := s.file.stem()
	ob, err := readFile(s.file.fs, stem+extIndex, int64(x.sp.nOff+len(x.oidx))*offsetEntrySize)
	if err == nil && len(ob) < x.sp.nOff*offsetEntrySize {
		err = fmt.Errorf("%d bytes, want at least %d", len(ob), x.sp.nOff*offsetEntrySize)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %w", ErrStorage, stem+extIndex, err)
	}
	tb, err := readFile(s.file.fs, stem+extTimeIndex, int64(x.sp.nTime+len(x.tidx))*timeEntrySize)
	if err == nil && len(tb) < x.sp.nTime*timeEntrySize {
		err = fmt.Errorf("%d bytes, want at least %d", len(tb), x.sp.nTime*timeEntrySize)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %w", ErrStorage, stem+extTimeIndex, err)
	}
	oidx, err := decodeOffsetIndex(ob[:x.sp.nOff*offsetEntrySize], s.size)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrStorage, stem+extIndex, err)
	}
	tidx, err := decodeTimeIndex(tb[:x.sp.nTime*timeEntrySize])
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrStorage, stem+extTimeIndex, err)
	}
	if n := len(oidx); n > 0 && len(x.oidx) > 0 && !offsetCodec.before(oidx[n-1], x.oidx[0]) {
		return nil, fmt.Errorf("%w: %s: entry %v before %v", ErrStorage, stem+extIndex, oidx[n-1], x.oidx[0])
	}
	if n := len(tidx); n > 0 && len(x.tidx) > 0 && !timeCodec.before(tidx[n-1], x.tidx[0]) {
		return nil, fmt.Errorf("%w: %s: entry %v before %v", ErrStorage, stem+extTimeIndex, tidx[n-1], x.tidx[0])
	}
	return &segIndexes{
		oidx: slices.Concat(oidx, x.oidx),
		tidx: slices.Concat(tidx, x.tidx),
	}, nil
}

// spillActive bounds the memory of the active segment's indexes after
// something other than an append (opening the log, a truncation) put them
// in memory whole. The caller holds wmu.
func (l *Log) spillActive() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.spillActiveLocked()
}

// large reports whether either index holds enough entries in memory to spill a block of.
func (x *segIndexes) large(block int) bool {
	return block > 0 && (len(x.oidx) >= 2*block || len(x.tidx) >= 2*block)
}

// spillActiveLocked is spillActive for a caller that holds mu too.
func (l *Log) spillActiveLocked() error {
	s := l.active()
	if !s.mustIndexes().large(int(l.spillBlock)) {
		return nil // the usual case, an idle log's included: no scratch buffer made for it
	}
	nx, err := s.spillIfLarge(l.fs, l.dir, s.mustIndexes(), int(l.spillBlock), l.scratchBuf())
	if err != nil {
		return fmt.Errorf("log: write the indexes of segment %d: %w", s.base, err)
	}
	s.setIndexes(nx)
	return nil
}
