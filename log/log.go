package log

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"
)

// Errors. Every error the package returns wraps one of these.
var (
	ErrOffsetOutOfRange = errors.New("log: offset out of range")
	ErrCorruptBatch     = errors.New("log: corrupt record batch") // bad CRC, bad lengths, bad magic
	ErrBatchTooLarge    = errors.New("log: record batch too large")
	ErrInvalidRecord    = errors.New("log: invalid record") // e.g. count mismatch, empty batch
	ErrClosed           = errors.New("log: closed")

	// ErrUnexpectedOffset: a replicated append does not start at the log end
	// offset, or its offsets do not increase (Kafka's UnexpectedAppendOffsetException).
	ErrUnexpectedOffset = errors.New("log: unexpected append offset")
	// ErrInvalidEpoch: a negative leader epoch or start offset given to AssignEpoch.
	ErrInvalidEpoch = errors.New("log: invalid leader epoch entry")
	// ErrCorruptCheckpoint: a checkpoint file that does not parse.
	ErrCorruptCheckpoint = errors.New("log: corrupt checkpoint file")
	// ErrInvalidConfig: Config.Validate failed.
	ErrInvalidConfig = errors.New("log: invalid config")
)

// Options are the log's collaborators; the zero value uses the OS, discards
// logs and reads the wall clock.
type Options struct {
	FS     FS
	Logger *slog.Logger
	Now    func() time.Time
}

// AppendResult describes an append.
type AppendResult struct {
	BaseOffset, LastOffset int64
	LogAppendTime          int64 // the time stamped into the batches, -1 unless LogAppendTime
	MaxTimestamp           int64 // largest batch max timestamp appended
}

// Log is one partition's log. Appends and the other mutations are
// serialised by wmu (the partition above already serialises them; this
// keeps the Log safe on its own). Reads take mu's read lock only, and an
// append holds mu's write lock just long enough to publish what it has
// already written, so reads run concurrently with the file write.
type Log struct {
	dir    string
	fs     FS
	logger *slog.Logger
	now    func() time.Time

	wmu     sync.Mutex // serialises writers; guards cfg, closed, scratch
	cfg     Config
	scratch []byte // index entries being written

	// flushMu serialises the syncs that advance the recovery point with
	// the truncations that lower it. Lock order: wmu, flushMu, mu.
	flushMu       sync.Mutex
	recoveryPoint int64          // guarded by flushMu: offsets below it are durable
	flushes       sync.WaitGroup // background flushes started by roll

	mu          sync.RWMutex // guards the published state below
	closed      bool         // written under both locks
	segments    []*segment   // by base offset; never empty while open
	startOffset int64
	endOffset   int64
	epochs      epochCache
}

// SetConfig applies a changed topic config. An invalid config is logged and
// ignored (callers validate with Config.Validate before accepting it).
func (l *Log) SetConfig(cfg Config) {
	if err := cfg.Validate(); err != nil {
		l.logger.Warn("log: ignoring invalid config", "dir", l.dir, "err", err)
		return
	}
	l.wmu.Lock()
	l.cfg = cfg
	l.wmu.Unlock()
}

// StartOffset is the log start offset: the first offset a read may ask for.
func (l *Log) StartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.startOffset
}

// EndOffset is the log end offset: the offset the next append will get.
func (l *Log) EndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.endOffset
}

// Size is the number of bytes of batches in all segments.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segments {
		n += s.size
	}
	return n
}

func (l *Log) active() *segment { return l.segments[len(l.segments)-1] }

// segmentIndex returns the index of the last segment whose base is <= offset
// (0 when offset precedes every segment).
func (l *Log) segmentIndex(offset int64) int {
	i := sort.Search(len(l.segments), func(i int) bool { return l.segments[i].base > offset }) - 1
	return max(i, 0)
}

// Append appends client batches as the leader. b must have passed
// ValidateBatches: Append trusts their CRCs and records and re-walks only
// the batch framing, which it needs anyway. It rewrites, in place in b, each
// batch's base offset (assigned from the log end offset) and partition
// leader epoch, and with LogAppendTime also the timestamp type and max
// timestamp (recomputing the CRC); b is then written as is, without a copy.
// A negative epoch leaves the epoch cache alone.
func (l *Log) Append(b []byte, epoch int32) (AppendResult, error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return AppendResult{}, ErrClosed
	}
	if len(b) == 0 {
		return AppendResult{}, fmt.Errorf("%w: no record batches", ErrInvalidRecord)
	}
	res := AppendResult{BaseOffset: l.endOffset, LogAppendTime: -1, MaxTimestamp: -1}
	if l.cfg.logAppendTime() {
		res.LogAppendTime = l.now().UnixMilli()
	}
	next := l.endOffset
	for pos := 0; pos < len(b); {
		h, size, err := frameBatch(b[pos:], 0)
		if err != nil {
			return AppendResult{}, err
		}
		batch := b[pos : pos+size]
		setBaseOffset(batch, next)
		setLeaderEpoch(batch, epoch)
		ts := h.MaxTimestamp
		if res.LogAppendTime >= 0 {
			setLogAppendTime(batch, res.LogAppendTime)
			ts = res.LogAppendTime
		}
		res.MaxTimestamp = max(res.MaxTimestamp, ts)
		next += int64(h.LastOffsetDelta) + 1
		pos += size
	}
	res.LastOffset = next - 1
	var newEpochs []epochEntry
	if epoch >= 0 {
		newEpochs = []epochEntry{{epoch, res.BaseOffset}}
	}
	if err := l.appendLocked(b, res, newEpochs); err != nil {
		return AppendResult{}, err
	}
	return res, nil
}

// AppendReplicated appends batches that already carry their offsets (the
// follower path). Each batch's framing and CRC are checked; the first must
// start at the log end offset and offsets must increase. Leader epochs
// found in the batches are added to the epoch cache, as Kafka does.
func (l *Log) AppendReplicated(b []byte) (AppendResult, error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return AppendResult{}, ErrClosed
	}
	if len(b) == 0 {
		return AppendResult{}, fmt.Errorf("%w: no record batches", ErrInvalidRecord)
	}
	res := AppendResult{BaseOffset: -1, LogAppendTime: -1, MaxTimestamp: -1}
	next := l.endOffset
	var newEpochs []epochEntry
	latest, haveLatest := l.epochs.latest() // wmu excludes every writer of epochs
	for pos := 0; pos < len(b); {
		h, size, err := frameBatch(b[pos:], 0)
		if err != nil {
			return AppendResult{}, err
		}
		if err := checkCRC(h, b[pos:pos+size]); err != nil {
			return AppendResult{}, err
		}
		if h.BaseOffset != next && (pos == 0 || h.BaseOffset < next) {
			return AppendResult{}, fmt.Errorf("%w: batch at offset %d, expected %d", ErrUnexpectedOffset, h.BaseOffset, next)
		}
		if res.BaseOffset < 0 {
			res.BaseOffset = h.BaseOffset
		}
		res.MaxTimestamp = max(res.MaxTimestamp, h.MaxTimestamp)
		if e := h.PartitionLeaderEpoch; e >= 0 && (!haveLatest || e != latest.epoch || h.BaseOffset < latest.start) {
			latest, haveLatest = epochEntry{e, h.BaseOffset}, true
			newEpochs = append(newEpochs, latest)
		}
		next = h.LastOffset() + 1
		pos += size
	}
	res.LastOffset = next - 1
	if err := l.appendLocked(b, res, newEpochs); err != nil {
		return AppendResult{}, err
	}
	return res, nil
}

// appendLocked writes framed batches b holding offsets res.BaseOffset ..
// res.LastOffset to the active segment (rolling first if needed), updates
// the indexes, then publishes. The caller holds wmu.
func (l *Log) appendLocked(b []byte, res AppendResult, newEpochs []epochEntry) error {
	if err := l.maybeRoll(int64(len(b)), res.MaxTimestamp, res.LastOffset); err != nil {
		return err
	}
	s := l.active()
	pos := s.size
	if _, err := s.logFile.WriteAt(b, pos); err != nil {
		_ = s.logFile.Truncate(pos)
		return fmt.Errorf("log: append to segment %d: %w", s.base, err)
	}
	s.dirty.Store(true)

	// Index the new batches on copies; readers see the originals until publish.
	ix := s.ix
	oidx, tidx := s.oidx, s.tidx
	nOff, nTime := len(oidx), len(tidx)
	lastTime := s.lastTime()
	for p := 0; p < len(b); {
		h := decodeHeader(b[p:]) // framed above
		if s.rollTs < 0 && pos+int64(p) == 0 {
			s.rollTs = h.MaxTimestamp
		}
		oe, te, addOff, addTime := ix.add(h, s.base, pos+int64(p), l.cfg.IndexIntervalBytes, lastTime)
		if addOff {
			oidx = append(oidx, oe)
		}
		if addTime {
			tidx = append(tidx, te)
			lastTime = te.ts
		}
		p += h.Size()
	}
	if err := s.writeIndexes(oidx, tidx, nOff, nTime, &l.scratch); err != nil {
		_ = s.logFile.Truncate(pos)
		_ = s.idxFile.Truncate(int64(nOff) * offsetEntrySize)
		_ = s.timeFile.Truncate(int64(nTime) * timeEntrySize)
		return fmt.Errorf("log: index segment %d: %w", s.base, err)
	}

	l.mu.Lock()
	s.size = pos + int64(len(b))
	s.next = res.LastOffset + 1
	s.ix, s.oidx, s.tidx = ix, oidx, tidx
	l.endOffset = res.LastOffset + 1
	changed := false
	for _, e := range newEpochs {
		changed = l.epochs.assign(e.epoch, e.start) || changed
	}
	l.mu.Unlock()
	if changed {
		return l.writeEpochsLocked()
	}
	return nil
}

// Read returns whole batches starting with the one holding offset: at most
// maxBytes in total, except that the first batch is returned whole however
// large (Kafka's "at least one batch" rule), and only batches whose base
// offset is below maxOffset (the caller passes the high watermark). Reads
// continue across segment boundaries until maxBytes is used. offset ==
// LogEndOffset (or >= maxOffset) returns nothing; offset below the log start
// offset or above the log end offset is ErrOffsetOutOfRange. The result is
// read from the files straight into a fresh buffer owned by the caller.
func (l *Log) Read(offset int64, maxBytes int, maxOffset int64) ([]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	if offset < l.startOffset || offset > l.endOffset {
		return nil, fmt.Errorf("%w: %d not in [%d, %d]", ErrOffsetOutOfRange, offset, l.startOffset, l.endOffset)
	}
	maxOffset = min(maxOffset, l.endOffset)
	if offset >= maxOffset {
		return nil, nil
	}
	r := getReader(nil, 0)
	defer putReader(r)
	var out []byte
	for si := l.segmentIndex(offset); si < len(l.segments); si++ {
		s := l.segments[si]
		if s.base >= maxOffset {
			break
		}
		r.reset(s.logFile, s.size)
		pos, h, found, err := s.locate(r, offset)
		if err != nil {
			return nil, fmt.Errorf("read segment %d: %w", s.base, err)
		}
		if !found {
			continue
		}
		if h.BaseOffset >= maxOffset {
			break
		}
		want := int64(maxBytes - len(out))
		if out == nil {
			want = max(want, int64(h.Size()))
			out = make([]byte, 0, min(want, l.bytesFrom(si, pos)))
		}
		if want <= 0 {
			break
		}
		want = min(want, s.size-pos)
		start := len(out)
		out = slices.Grow(out, int(want))[:start+int(want)] // sized above; Grow is a guard
		if err := readFull(s.logFile, out[start:], pos); err != nil {
			return nil, fmt.Errorf("log: read segment %d: %w", s.base, err)
		}
		n, err := wholeBatches(out[start:], maxOffset)
		if err != nil {
			return nil, fmt.Errorf("read segment %d: %w", s.base, err)
		}
		out = out[:start+n]
		if int64(n) < s.size-pos {
			break // maxBytes or maxOffset reached inside this segment
		}
		offset = s.next
	}
	return out, nil
}

// bytesFrom counts the published bytes from position pos of segment si to
// the log end.
func (l *Log) bytesFrom(si int, pos int64) int64 {
	n := l.segments[si].size - pos
	for _, s := range l.segments[si+1:] {
		n += s.size
	}
	return n
}

// wholeBatches returns the length of the prefix of b made of whole batches
// with base offsets below maxOffset.
func wholeBatches(b []byte, maxOffset int64) (int, error) {
	p := 0
	for len(b)-p >= BatchHeaderSize {
		h := decodeHeader(b[p:])
		if h.Length < minBatchLength || h.Magic != 2 {
			return 0, fmt.Errorf("%w: bad header at read position %d", ErrCorruptBatch, p)
		}
		if h.BaseOffset >= maxOffset || h.Size() > len(b)-p {
			break
		}
		p += h.Size()
	}
	return p, nil
}

// Close flushes, closes the files and writes the clean-shutdown marker, so
// the next Open trusts the files instead of re-checking the tail. Closing a
// closed log is a no-op.
func (l *Log) Close() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return nil
	}
	l.flushes.Wait()
	err := l.closeLocked()
	if err == nil {
		l.flushMu.Lock()
		err = l.setRecoveryPointLocked(l.endOffset)
		l.flushMu.Unlock()
	}
	if err == nil {
		err = writeFileAtomic(l.fs, l.dir, cleanShutdownFile, nil)
	}
	return err
}

// closeLocked seals the active segment, syncs and closes every segment.
func (l *Log) closeLocked() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	s := l.active()
	keep(l.sealLocked(s))
	// Drop anything a failed write left past the valid end.
	keep(s.logFile.Truncate(s.size))
	for _, s := range l.segments {
		keep(s.sync())
		keep(s.close())
	}
	return first
}

// Delete closes the log and removes its directory (topic deletion).
func (l *Log) Delete() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.flushes.Wait()
	if !l.closed {
		_ = l.closeLocked()
	}
	return l.fs.RemoveAll(l.dir)
}
