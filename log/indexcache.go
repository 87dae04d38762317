package log

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The budget and idle time of the index cache shared by logs opened
// without Options.Indexes: the budget holds the indexes of about 5 GiB of
// log at the default index.interval.bytes.
const (
	DefaultIndexCacheBytes = 32 << 20
	DefaultIndexCacheIdle  = 10 * time.Minute
)

var (
	defaultIndexesOnce sync.Once
	defaultIndexes     *IndexCache
)

func sharedIndexCache() *IndexCache {
	defaultIndexesOnce.Do(func() { defaultIndexes = NewIndexCache(DefaultIndexCacheBytes, DefaultIndexCacheIdle) })
	return defaultIndexes
}

// IndexCache bounds the memory that sealed segments' offset and time
// indexes take, so it does not grow with the data retained: a sealed
// segment whose index files are current may drop its in-memory indexes,
// and reloads them from the files on its next lookup. When the indexes in
// memory exceed the budget, the least recently used go (a CLOCK sweep, so
// a lookup takes no lock), and so do those not looked up for an idle
// period or two. Each log's active segment keeps its indexes' tails in
// memory, outside the budget (see spill.go). A reload is checked against the entry counts
// and checksums the indexes had when they were dropped; a file that fails
// the check (or is missing) is rebuilt from the log, and the segment keeps
// the rebuilt indexes in memory until the log writes them out again.
type IndexCache struct {
	mu    sync.Mutex
	max   int64
	idle  time.Duration
	used  int64
	n     int      // segments in the ring
	ring  idxEntry // sentinel of the circular list of segments with droppable indexes in memory
	hand  *idxEntry
	timer *time.Timer // the idle sweep, pending while the ring is not empty
}

// NewIndexCache returns a cache that aims to keep at most n bytes of
// sealed segments' indexes in memory, and drops those not looked up for
// between idle and twice idle (0: only the budget counts).
func NewIndexCache(n int64, idle time.Duration) *IndexCache {
	c := &IndexCache{max: max(n, 0), idle: idle}
	c.ring.prev, c.ring.next = &c.ring, &c.ring
	c.hand = &c.ring
	return c
}

// Bytes reports the memory the cache's indexes take.
func (c *IndexCache) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

// idxEntry is a segment's place in its IndexCache.
type idxEntry struct {
	seg        *segment
	prev, next *idxEntry // guarded by the cache's mu; nil when not in the ring
	bytes      int64     // guarded by the cache's mu
	used       atomic.Bool
}

// segIndexes are a segment's two sparse indexes, immutable once published:
// a writer replaces the pointer, readers keep the one they loaded.
type segIndexes struct {
	oidx offsetIndex // the entries after sp.nOff
	tidx timeIndex   // the entries after sp.nTime
	sp   *spill      // the leading entries only in the files; nil if none
}

// memory is what the indexes take, with a little for the bookkeeping.
func (x *segIndexes) memory() int64 {
	n := int64(cap(x.oidx))*offsetEntrySize + int64(cap(x.tidx))*16 + 128
	if x.sp != nil {
		// and up to two cached blocks of each
		n += int64(cap(x.sp.osum))*offsetEntrySize + int64(cap(x.sp.tsum))*16 + 64 +
			2*int64(x.sp.block)*(offsetEntrySize+timeEntrySize)
	}
	return n
}

// counts are the entries of each index, in memory or not.
func (x *segIndexes) counts() (nOff, nTime int32) {
	o, t := len(x.oidx), len(x.tidx)
	if x.sp != nil {
		o, t = o+x.sp.nOff, t+x.sp.nTime
	}
	return int32(o), int32(t)
}

// dropState is what a segment whose indexes the cache may drop needs beyond
// the pointer (segment.drop).
type dropState struct {
	icache *IndexCache
	mu     sync.Mutex // serialises dropping, reloading and the state changes
	st     idxState   // guarded by mu
	entry  idxEntry
}

// dropStateOf returns s's dropState, making it. The caller holds wmu.
func (l *Log) dropStateOf(s *segment) *dropState {
	if d := s.drop.Load(); d != nil {
		return d
	}
	d := &dropState{icache: l.caches.Value().icache}
	d.entry.seg = s
	s.drop.Store(d)
	return d
}

// idxState is what a segment knows of its indexes beyond the pointer.
// Guarded by dropState.mu.
type idxState struct {
	nOff       int // the counts and checksums of the files, to check a reload
	nTime      int
	sumOff     uint32
	sumTime    uint32
	droppable  bool // sealed, its files current: idx may be dropped
	needsWrite bool // the files proved wrong and the indexes were rebuilt
}

func (c *IndexCache) add(e *idxEntry, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.next != nil {
		return
	}
	e.prev, e.next = c.ring.prev, &c.ring
	c.ring.prev.next = e
	c.ring.prev = e
	e.bytes = bytes
	e.used.Store(true)
	c.used += bytes
	c.n++
	c.evictLocked()
	if c.idle > 0 && c.timer == nil {
		c.timer = time.AfterFunc(c.idle, c.sweepIdle)
	}
}

// sweepIdle drops the indexes of segments not looked up since the last
// sweep (or since they were added), and clears the mark of the others.
func (c *IndexCache) sweepIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timer = nil
	for e := c.ring.next; e != &c.ring; {
		next := e.next
		if !e.used.Swap(false) {
			c.dropLocked(e)
		}
		e = next
	}
	if c.n > 0 {
		c.timer = time.AfterFunc(c.idle, c.sweepIdle)
	}
}

func (c *IndexCache) remove(e *idxEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unlinkLocked(e)
}

func (c *IndexCache) unlinkLocked(e *idxEntry) {
	if e.next == nil {
		return
	}
	if c.hand == e {
		c.hand = e.next
	}
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
	c.used -= e.bytes
	c.n--
	e.bytes = 0
}

// evictLocked drops indexes while over budget: the clock hand passes over
// segments used since its last visit (clearing the mark) and drops the
// first that was not. A segment busy loading or changing state is skipped,
// so two turns of the clock bound the work.
func (c *IndexCache) evictLocked() {
	for steps := 2*c.n + 2; c.used > c.max && c.n > 0 && steps > 0; steps-- {
		if c.hand == &c.ring {
			c.hand = c.ring.next
		}
		e := c.hand
		c.hand = e.next
		if e.used.Swap(false) {
			continue
		}
		c.dropLocked(e)
	}
}

// dropLocked drops a segment's indexes and takes it out of the ring,
// unless it is busy loading or changing state (it stays for a later
// sweep).
func (c *IndexCache) dropLocked(e *idxEntry) {
	s := e.seg
	d := s.drop.Load() // in the ring: made
	if !d.mu.TryLock() {
		return
	}
	if d.st.droppable {
		s.idx.Store(nil)
	}
	d.mu.Unlock()
	c.unlinkLocked(e)
}

// indexes returns s's indexes, reloading them if they were dropped. The
// caller holds mu (a read lock suffices) or wmu.
func (l *Log) indexes(s *segment) (*segIndexes, error) {
	if x := s.idx.Load(); x != nil {
		if d := s.drop.Load(); d != nil && !d.entry.used.Load() {
			d.entry.used.Store(true)
		}
		return x, nil
	}
	return l.reloadIndexes(s)
}

func (l *Log) reloadIndexes(s *segment) (*segIndexes, error) {
	d := s.drop.Load() // dropped, so retired: made
	d.mu.Lock()
	x := s.idx.Load()
	if x != nil {
		d.mu.Unlock()
		return x, nil
	}
	x, err := s.readIndexFiles(&d.st)
	if err != nil {
		l.logger.Warn("log: rebuilding an index that does not match what was written", "dir", l.dir, "segment", s.base, "reason", err)
		if x, err = l.rebuildIndexes(s); err != nil {
			d.mu.Unlock()
			return nil, l.corrupt(s, err)
		}
		// Kept in memory until the writer writes the files again.
		d.st.droppable, d.st.needsWrite = false, true
	}
	s.idx.Store(x)
	droppable := d.st.droppable
	d.mu.Unlock()
	if droppable {
		d.icache.add(&d.entry, x.memory())
	}
	return x, nil
}

// readIndexFiles reads both index files and checks them against what they
// held when the segment's indexes were dropped (st). The caller holds drop.mu.
func (s *segment) readIndexFiles(st *idxState) (*segIndexes, error) {
	stem := s.file.stem()
	ob, err := readFile(s.file.fs, stem+extIndex, int64(st.nOff)*offsetEntrySize)
	if err != nil {
		return nil, err
	}
	tb, err := readFile(s.file.fs, stem+extTimeIndex, int64(st.nTime)*timeEntrySize)
	if err != nil {
		return nil, err
	}
	if len(ob) != st.nOff*offsetEntrySize || len(tb) != st.nTime*timeEntrySize ||
		crc32.Checksum(ob, castagnoli) != st.sumOff || crc32.Checksum(tb, castagnoli) != st.sumTime {
		return nil, errors.New("index files changed")
	}
	x := &segIndexes{}
	if x.oidx, err = decodeOffsetIndex(ob, s.size); err != nil {
		return nil, err
	}
	if x.tidx, err = decodeTimeIndex(tb); err != nil {
		return nil, err
	}
	return x, nil
}

// rebuildIndexes rebuilds a sealed segment's indexes from its batch headers
// with the rule appends use. The caller holds mu (a read lock suffices) or
// wmu, and drop.mu.
func (l *Log) rebuildIndexes(s *segment) (*segIndexes, error) {
	f, err := s.open()
	if err != nil {
		return nil, err
	}
	defer s.file.release()
	r := getReader(f, s.size)
	defer putReader(r)
	interval := int(l.indexInterval.Load())
	ix := indexer{maxTs: -1, maxTsRel: -1}
	x := &segIndexes{}
	lastTime := int64(-1)
	for pos := int64(0); pos < s.size; {
		h, err := r.header(pos)
		if err != nil {
			return nil, err
		}
		oe, te, addOff, addTime := ix.add(h, s.base, pos, interval, lastTime)
		if addOff {
			x.oidx = append(x.oidx, oe)
		}
		if addTime {
			x.tidx = append(x.tidx, te)
			lastTime = te.ts
		}
		pos += int64(h.Size())
	}
	if ix.maxTs > lastTime { // sealed: the final entry
		x.tidx = append(x.tidx, timeEntry{ts: ix.maxTs, rel: ix.maxTsRel})
	}
	return x, nil
}

// retire lets the cache drop a sealed segment's indexes once its index
// files hold exactly them (else it waits for the next write of the files).
// The caller holds wmu.
func (l *Log) retire(s *segment) {
	if s.oidxDisk != s.nOff || s.tidxDisk != s.nTime || s.idxCut {
		return
	}
	d := l.dropStateOf(s)
	d.mu.Lock()
	x := s.idx.Load()
	st := &d.st
	if st.droppable || st.needsWrite || x == nil {
		d.mu.Unlock()
		return
	}
	var err error
	if x.sp == nil {
		// An exact-size copy: what appends grew may have twice the room.
		x = &segIndexes{oidx: slices.Clone(x.oidx), tidx: slices.Clone(x.tidx)}
		buf := l.scratchBuf()
		*buf = x.oidx.encode((*buf)[:0])
		st.sumOff = crc32.Checksum(*buf, castagnoli)
		*buf = x.tidx.encode((*buf)[:0])
		st.sumTime = crc32.Checksum(*buf, castagnoli)
	} else {
		// Partly only in the files: check them against what is in memory.
		st.sumOff, st.sumTime, err = s.fileSums(x)
	}
	if err != nil {
		// Rebuilt from the log and kept in memory until the writer writes
		// the files again, as a reload that finds them wrong does.
		l.logger.Warn("log: rebuilding an index whose files do not match it", "dir", l.dir, "segment", s.base, "reason", err)
		if x, err = l.rebuildIndexes(s); err == nil {
			s.idx.Store(x)
			st.needsWrite = true
		}
		d.mu.Unlock()
		if err != nil {
			l.logger.Warn("log: cannot rebuild the index", "dir", l.dir, "segment", s.base, "err", err)
		}
		return
	}
	s.idx.Store(x)
	nOff, nTime := x.counts()
	st.nOff, st.nTime = int(nOff), int(nTime)
	st.droppable = true
	d.mu.Unlock()
	d.icache.add(&d.entry, x.memory())
}

// fileSums checksums the index files of a segment whose indexes are
// partly only there, checking that they hold x's entries (the summary's at
// the start of each dropped block, the tail in memory at the end) in order.
// The caller holds wmu and drop.mu.
func (s *segment) fileSums(x *segIndexes) (sumOff, sumTime uint32, err error) {
	stem := s.file.stem()
	ob, err := readFile(s.file.fs, stem+extIndex, int64(x.sp.nOff+len(x.oidx))*offsetEntrySize)
	if err == nil {
		err = checkFile(ob, x.sp.nOff, x.oidx.encode(nil), x.sp.block, x.sp.osum.encode(nil), offsetEntrySize)
	}
	if err == nil {
		err = checkOrder(ob, &offsetCodec)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("%s%s: %w", stem, extIndex, err)
	}
	tb, err := readFile(s.file.fs, stem+extTimeIndex, int64(x.sp.nTime+len(x.tidx))*timeEntrySize)
	if err == nil {
		err = checkFile(tb, x.sp.nTime, x.tidx.encode(nil), x.sp.block, x.sp.tsum.encode(nil), timeEntrySize)
	}
	if err == nil {
		err = checkOrder(tb, &timeCodec)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("%s%s: %w", stem, extTimeIndex, err)
	}
	return crc32.Checksum(ob, castagnoli), crc32.Checksum(tb, castagnoli), nil
}

// checkOrder checks that the encoded entries in b are in index order.
func checkOrder[E any](b []byte, c *codec[E]) error {
	for i := c.size; i+c.size <= len(b); i += c.size {
		if prev, e := c.decode(b[i-c.size:]), c.decode(b[i:]); !c.before(prev, e) {
			return fmt.Errorf("entries %d and %d out of order", i/c.size-1, i/c.size)
		}
	}
	return nil
}

// checkFile checks an index file's contents b: from entries (of size
// bytes), the first of each block as in sum, then tail.
func checkFile(b []byte, from int, tail []byte, block int, sum []byte, size int) error {
	if len(b) != from*size+len(tail) {
		return fmt.Errorf("%d bytes, want %d", len(b), from*size+len(tail))
	}
	if !bytes.Equal(b[from*size:], tail) {
		return errors.New("differs from the entries in memory")
	}
	for i := 0; i*size < len(sum); i++ {
		if !bytes.Equal(b[i*block*size:][:size], sum[i*size:][:size]) {
			return fmt.Errorf("block %d differs from the summary", i)
		}
	}
	return nil
}

// activate keeps a segment's indexes in memory for good: it is becoming
// the active segment (a truncation made it the last), whose indexes
// appends change. The caller holds wmu.
func (l *Log) activate(s *segment) (*segIndexes, error) {
	x, err := l.indexes(s)
	if err != nil {
		return nil, err
	}
	d := s.drop.Load()
	if d == nil {
		return x, nil // never retired: not droppable, not in the cache
	}
	d.mu.Lock()
	d.st.droppable = false
	if cur := s.idx.Load(); cur != nil {
		x = cur
	} else {
		s.idx.Store(x) // dropped between the load and now
	}
	d.mu.Unlock()
	d.icache.remove(&d.entry)
	return x, nil
}

// rewriteIfRebuilt makes the writer write a segment's index files whole
// when a reload had to rebuild its indexes. The caller holds wmu.
func (s *segment) rewriteIfRebuilt() {
	d := s.drop.Load()
	if d == nil {
		return // never retired, so never reloaded
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.st.needsWrite {
		return
	}
	d.st.needsWrite = false
	s.nOff, s.nTime = s.idx.Load().counts() // never dropped while needsWrite
	s.oidxDisk, s.tidxDisk = -1, -1
}

// setIndexes publishes new indexes of a segment that is not droppable (the
// active one, or one not yet in the log). The caller holds wmu, and mu's
// write lock if the segment is published.
func (s *segment) setIndexes(x *segIndexes) {
	s.idx.Store(x)
	s.nOff, s.nTime = x.counts()
}

// mustIndexes returns the indexes of a segment that cannot have dropped
// them: the active one, or one not yet in the log.
func (s *segment) mustIndexes() *segIndexes {
	x := s.idx.Load()
	if x == nil {
		panic(fmt.Sprintf("log: segment %d has no indexes in memory", s.base))
	}
	return x
}
