package log

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unique"
)

// Errors. Every error the package returns wraps one of these.
var (
	ErrOffsetOutOfRange = errors.New("log: offset out of range")
	ErrCorruptBatch     = errors.New("log: corrupt record batch") // bad CRC, bad lengths, bad magic
	ErrBatchTooLarge    = errors.New("log: record batch too large")
	ErrInvalidRecord    = errors.New("log: invalid record") // e.g. count mismatch, empty batch
	ErrClosed           = errors.New("log: closed")

	// ErrUnexpectedOffset: a replicated append does not start at or after
	// the log end offset, or its offsets do not increase (Kafka's
	// UnexpectedAppendOffsetException).
	ErrUnexpectedOffset = errors.New("log: unexpected append offset")
	// ErrInvalidEpoch: a negative leader epoch or start offset given to AssignEpoch.
	ErrInvalidEpoch = errors.New("log: invalid leader epoch entry")
	// ErrCorruptCheckpoint: a checkpoint file that does not parse.
	ErrCorruptCheckpoint = errors.New("log: corrupt checkpoint file")
	// ErrInvalidConfig: Config.Validate failed.
	ErrInvalidConfig = errors.New("log: invalid config")
	// ErrStorage: the file system failed (a full disk, an I/O error) or
	// stored data proved corrupt when read: Kafka's KAFKA_STORAGE_ERROR.
	// After a failed write the log refuses further writes (Err reports
	// why) until it is reopened, as Kafka takes the log directory offline;
	// reads of what was written before go on.
	ErrStorage = errors.New("log: storage error")
)

// Options are the log's collaborators; the zero value uses the OS, discards
// logs, reads the wall clock and shares one process-wide file cache.
type Options struct {
	FS     FS
	Logger *slog.Logger
	Now    func() time.Time
	// Files bounds the open segment files; nil shares a cache of
	// DefaultMaxOpenFiles among every log opened without one.
	Files *FileCache
	// Indexes bounds the memory of sealed segments' indexes; nil shares a
	// cache of DefaultIndexCacheBytes among every log opened without one.
	Indexes *IndexCache
	// Codecs lets the cleaner read and rewrite compressed batches, and a
	// compacted log check the keys in them on Append (package compress).
	// Nil keeps compressed batches whole when compacting, and a compacted
	// log refuses them on Append (its cleaner could not read them).
	Codecs Codecs
	// LazyDir leaves a log's directory uncreated until the first file must be written in it
	// (the first append, a checkpoint that must persist), so that an idle partition touches
	// no file system; OnCreateDir then runs once, after the mkdir and before that file (the
	// broker writes partition.metadata there), with the log's directory: one function may
	// serve every partition of a topic instead of a closure each. An absent directory opens as
	// an empty log.
	LazyDir     bool
	OnCreateDir func(dir string) error

	// spillBlock overrides DefaultSpillBlock (tests use small blocks).
	spillBlock int
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
// Retention and cleaning of one log are serialised by cleanMu, taken before
// wmu; the cleaner copies segments without wmu and takes it only to swap
// the result in.
type Log struct {
	dir string
	fs  FS
	// caches are the file and index caches, interned: every log of a node shares one pair,
	// which costs each idle partition a word instead of two (issue 18).
	caches unique.Handle[logCaches]
	codecs Codecs
	logger *slog.Logger
	now    func() time.Time

	// indexInterval is cfg.IndexIntervalBytes (capped at MaxInt32: no segment is larger), for
	// rebuilding an index without wmu. gen is bumped when a truncation cuts or removes sealed
	// segments; a clean compares it with the one it planned at (a wrap in between would take
	// four billion truncations). Together they take one word.
	indexInterval atomic.Int32
	gen           uint32 // guarded by wmu and mu

	cleanMu    sync.Mutex  // serialises DeleteOldSegments and Clean
	cleanPoint int64       // guarded by cleanMu: the cleaner's first dirty offset
	abortClean atomic.Bool // set by Close and Delete: a running clean gives up

	wmu        sync.Mutex // serialises writers; guards cfg, failed, unflushed, scratch, deleter
	spillBlock int32      // see DefaultSpillBlock; here, where it takes no word of its own
	// cfg is interned: the partitions of a topic (of every topic with the same settings)
	// share one copy instead of a Config each (issue 18: memory per idle partition).
	cfg       unique.Handle[Config]
	failed    error // the sticky storage error, nil while healthy
	unflushed int64 // records appended since the last flush (flush.messages)
	lastFlush int64 // unix ms of the last flush or open (flush.ms)
	// scratch holds index entries being written; nil until the first write (scratchBuf), so
	// that an idle log does not carry a slice header for it.
	scratch *[]byte

	// flushMu serialises the syncs that advance the recovery point with
	// the truncations that lower it. Lock order: cleanMu, wmu, flushMu, mu.
	flushMu       sync.Mutex
	recoveryPoint int64          // guarded by flushMu: offsets below it are durable
	flushes       sync.WaitGroup // background flushes started by roll

	deleter *deleter // segment files renamed to .deleted, removed later; nil until the first deletion

	// txnMu guards txns, the open transactions (txn.go). A leaf: taken
	// alone or under mu, never the other way round.
	txnMu sync.Mutex
	txns  txnState

	mu          sync.RWMutex // guards the published state below
	segments    []*segment   // by base offset; never empty while open
	startOffset int64
	endOffset   int64
	epochs      epochCache
	// epochsDisk is what leader-epoch-checkpoint holds (guarded by wmu; nil when nothing), so
	// a write that would not change it is skipped; epochsStale says the cache dropped entries
	// that the file still has (Open's truncation to the log end, written lazily: see
	// finishOpen). A pointer: an idle partition has no file, and a slice header would cost it
	// two words more.
	epochsDisk *[]epochEntry
	// The flags together, so that they share one word (ten thousand idle logs, issue 18).
	closed      bool // written under both locks
	epochsStale bool
	fresh       bool // during Open: the directory was empty (see createSegment)
	txnSnapUsed bool // Open took transaction-state-checkpoint instead of scanning
	// epochsFromBatches: during Open, the segment being recovered assigns its batches' epochs.
	epochsFromBatches bool
	listed            FS               // during Open: l.fs for reads of files it may lack (listedFS)
	deferred          *deferredDirSync // the FS after a clean Open, else nil
	lazy              *lazyDirFS       // Options.LazyDir's FS (under deferred), else nil
}

// logCaches are a log's file and index caches (Options.Files, Options.Indexes).
type logCaches struct {
	files  *FileCache
	icache *IndexCache
}

// files is the log's file cache.
func (l *Log) files() *FileCache { return l.caches.Value().files }

// diskEpochs is what leader-epoch-checkpoint holds. The caller holds wmu.
func (l *Log) diskEpochs() []epochEntry {
	if l.epochsDisk == nil {
		return nil
	}
	return *l.epochsDisk
}

// setDiskEpochs records what leader-epoch-checkpoint holds. The caller holds wmu.
func (l *Log) setDiskEpochs(es []epochEntry) {
	l.epochsDisk = nil
	if len(es) > 0 {
		l.epochsDisk = &es
	}
}

// SetConfig applies a changed topic config. An invalid config is logged and
// ignored (callers validate with Config.Validate before accepting it).
func (l *Log) SetConfig(cfg Config) {
	if err := cfg.Validate(); err != nil {
		l.logger.Warn("log: ignoring invalid config", "dir", l.dir, "err", err)
		return
	}
	l.wmu.Lock()
	l.cfg = unique.Make(cfg)
	l.indexInterval.Store(int32(min(cfg.IndexIntervalBytes, math.MaxInt32)))
	l.wmu.Unlock()
}

// Config returns the log's current configuration.
func (l *Log) Config() Config {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return l.cfg.Value()
}

// Err returns the storage error that stopped writes to this log, or nil.
func (l *Log) Err() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return l.failed
}

// fail records a storage error: the log takes no more writes. The caller
// holds wmu.
func (l *Log) fail(err error) error {
	if errors.Is(err, ErrClosed) {
		return err
	}
	if !errors.Is(err, ErrStorage) {
		err = fmt.Errorf("%w: %w", ErrStorage, err)
	}
	if l.failed == nil {
		l.failed = err
		l.logger.Error("log: storage error; refusing writes until reopened", "dir", l.dir, "err", err)
	}
	return err
}

// writable reports why the log cannot be written. The caller holds wmu.
func (l *Log) writable() error {
	if l.closed {
		return ErrClosed
	}
	return l.failed
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
// A negative epoch leaves the epoch cache alone. A compacted topic refuses
// records without a key (ErrInvalidRecord), as Kafka does.
func (l *Log) Append(b []byte, epoch int32) (AppendResult, error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return AppendResult{}, err
	}
	if len(b) == 0 {
		return AppendResult{}, fmt.Errorf("%w: no record batches", ErrInvalidRecord)
	}
	res := AppendResult{BaseOffset: l.endOffset, LogAppendTime: -1, MaxTimestamp: -1}
	if l.cfg.Value().logAppendTime() {
		res.LogAppendTime = l.now().UnixMilli()
	}
	next := l.endOffset
	for pos := 0; pos < len(b); {
		h, size, err := frameBatch(b[pos:], 0)
		if err != nil {
			return AppendResult{}, err
		}
		batch := b[pos : pos+size]
		if l.cfg.Value().Compact {
			if err := checkKeys(l.codecs, h, batch); err != nil {
				return AppendResult{}, err
			}
		}
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
// start at or after the log end offset (a compacted leader's log has gaps)
// and offsets must increase. Leader epochs found in the batches are added
// to the epoch cache, as Kafka does. Empty batches (kept by compaction for
// their producer state) are accepted.
func (l *Log) AppendReplicated(b []byte) (AppendResult, error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return AppendResult{}, err
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
		if h.BaseOffset < next {
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
// res.LastOffset to the active segment (rolling first if needed) in one
// write, updates the in-memory indexes, then publishes. The index files are
// written when the segment is sealed or flushed. The caller holds wmu.
func (l *Log) appendLocked(b []byte, res AppendResult, newEpochs []epochEntry) error {
	txn, err := l.txnChanges(b)
	if err != nil {
		return err // a malformed marker: refused, the log is fine
	}
	if err := l.maybeRoll(int64(len(b)), res.MaxTimestamp, res.LastOffset); err != nil {
		return l.fail(err)
	}
	s := l.active()
	if txn != nil && len(txn.aborted) > 0 {
		// Before the batches: an entry without its marker (a failed or torn
		// write) is in a segment recovery re-reads, which rebuilds the index.
		if err := s.appendTxnIndex(l.fs, l.dir, txn.aborted); err != nil {
			return l.fail(err)
		}
	}
	pos := s.size
	f, err := s.open()
	if err != nil {
		return l.fail(err)
	}
	_, err = f.WriteAt(b, pos)
	if err != nil {
		// Drop what part of the write landed; the log stops taking writes either way.
		_ = f.Truncate(pos)
	}
	s.file.release()
	if err != nil {
		return l.fail(fmt.Errorf("append to segment %d: %w", s.base, err))
	}
	s.dirty.Store(true)

	// Index the new batches on copies; readers see the originals until publish.
	ix := s.ix
	x := s.mustIndexes() // the active segment's stay in memory
	oidx, tidx := x.oidx, x.tidx
	lastTime := s.lastTime()
	for p := 0; p < len(b); {
		h := decodeHeader(b[p:]) // framed above
		if s.rollTs < 0 && pos+int64(p) == 0 {
			s.rollTs = h.MaxTimestamp
		}
		oe, te, addOff, addTime := ix.add(h, s.base, pos+int64(p), l.cfg.Value().IndexIntervalBytes, lastTime)
		if addOff {
			oidx = append(oidx, oe)
		}
		if addTime {
			tidx = append(tidx, te)
			lastTime = te.ts
		}
		p += h.Size()
	}
	nx := x
	if len(oidx) != len(x.oidx) || len(tidx) != len(x.tidx) {
		nx = &segIndexes{oidx: oidx, tidx: tidx, sp: x.sp}
		if nx, err = s.spillIfLarge(l.fs, l.dir, nx, int(l.spillBlock), l.scratchBuf()); err != nil {
			return l.fail(fmt.Errorf("write the indexes of segment %d: %w", s.base, err))
		}
	}

	l.mu.Lock()
	s.size = pos + int64(len(b))
	s.appended(pos, s.size)
	s.next = res.LastOffset + 1
	s.ix = ix
	if nx != x {
		s.setIndexes(nx)
	}
	l.endOffset = res.LastOffset + 1
	if txn != nil {
		s.aborted = append(s.aborted, txn.aborted...)
		l.txnMu.Lock()
		l.txns.publish(txn)
		l.txnMu.Unlock()
	}
	changed := false
	for _, e := range newEpochs {
		changed = l.epochs.assign(e.epoch, e.start) || changed
	}
	l.mu.Unlock()
	if changed || l.epochsStale {
		if err := l.writeEpochsLocked(); err != nil {
			return l.fail(err)
		}
	}
	l.unflushed += res.LastOffset - res.BaseOffset + 1
	if l.unflushed >= l.cfg.Value().FlushMessages {
		return l.flushLocked()
	}
	return nil
}

// Close flushes, closes the files and writes the clean-shutdown marker, so
// the next Open trusts the files instead of re-checking the tail. A running
// clean is abandoned and segment files awaiting deletion are removed now.
// A log that failed with a storage error closes without the marker, so the
// next Open re-checks it. Closing a closed log is a no-op.
func (l *Log) Close() error {
	defer l.quiesce()()
	if l.closed {
		return nil
	}
	err := l.closeLocked(l.failed == nil)
	if l.deleter != nil {
		l.deleter.finish(l.fs)
	}
	if err == nil && l.failed == nil && l.untouched() {
		// Opened after a clean shutdown and not changed since: every file,
		// the transaction-state checkpoint Open took included, is as the
		// last Close left it, the marker included.
		return nil
	}
	if err == nil && l.failed == nil && !l.DirCreated() && l.startOffset == 0 && l.endOffset == 0 && l.holdsNothing() {
		// A lazy directory never created: the next Open makes the same empty
		// log of its absence, with no marker needed (LazyDir).
		return nil
	}
	if err == nil && l.failed == nil {
		l.flushMu.Lock()
		err = l.setRecoveryPointLocked(l.endOffset)
		l.flushMu.Unlock()
		if l.holdsNothing() {
			// A log without batches or transaction state (a new or idle
			// partition) closes without a sync: Open re-reads nothing of an
			// empty segment and its state is the empty one with or without
			// a checkpoint, so a marker lost in a crash costs nothing. The
			// state file of an earlier, non-empty life goes, durably before
			// the marker can be (then the marker costs its directory sync).
			removed := false
			if err == nil {
				removed, err = removeIfExists(l.fs, filepath.Join(l.dir, txnStateFile))
			}
			if err == nil && removed {
				err = syncDir(l.fs, l.dir)
			}
			if err == nil {
				err = createEmpty(l.fs, l.dir, cleanShutdownFile)
			}
			return err
		}
		if err == nil {
			err = l.writeTxnState()
		}
		if err == nil {
			err = writeMarker(l.fs, l.dir, cleanShutdownFile)
		}
	}
	return err
}

// holdsNothing reports that every segment file is empty and there is no
// transaction state. The caller holds wmu.
func (l *Log) holdsNothing() bool {
	for _, s := range l.segments {
		if s.size > 0 {
			return false
		}
	}
	l.txnMu.Lock()
	defer l.txnMu.Unlock()
	return len(l.txns.ongoing) == 0 && len(l.txns.unrepl) == 0 && !l.txns.seen
}

// untouched reports that the log was opened after a clean shutdown, took
// its transaction-state checkpoint, and has changed no file since.
func (l *Log) untouched() bool {
	return l.deferred != nil && !l.deferred.done.Load() && l.txnSnapUsed
}

// closeLocked seals the active segment and closes every segment, first
// writing the indexes and syncing when persist is set. The caller holds wmu.
func (l *Log) closeLocked(persist bool) error {
	l.mu.Lock()
	l.closed = true
	s := l.active()
	l.sealLocked(s)
	l.mu.Unlock()
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	if s.file.unborn() {
		// Never used: no file, nothing to drop.
	} else if f, err := s.open(); err == nil {
		// Drop anything a failed write left past the valid end.
		if fi, err := f.Stat(); err == nil && fi.Size() > s.size {
			keep(f.Truncate(s.size))
		}
		s.file.release()
	}
	for _, s := range l.segments {
		if persist {
			keep(s.persistIndexes(l.fs, l.dir, l.scratchBuf()))
			keep(s.sync(l.fs, l.dir))
		}
		keep(s.close())
	}
	return first
}

// quiesce stops every other user of the files before Close or Delete: it abandons a running
// clean, takes the cleaner's and the writers' locks and waits for background flushes. The
// returned function releases the locks.
func (l *Log) quiesce() (release func()) {
	l.abortClean.Store(true)
	l.cleanMu.Lock()
	l.wmu.Lock()
	l.flushes.Wait()
	return func() {
		l.wmu.Unlock()
		l.cleanMu.Unlock()
	}
}

// scratchBuf returns the buffer for index entries being written, making it on first use. The
// caller holds wmu.
func (l *Log) scratchBuf() *[]byte {
	if l.scratch == nil {
		l.scratch = new([]byte)
	}
	return l.scratch
}

// Dir is the log's directory.
func (l *Log) Dir() string { return l.dir }

// DeleteTo closes the log like Delete and moves its directory to trash (a rename on the same
// file system) instead of removing it: the caller removes trash later, off the path that waits
// for the deletion. Kafka deletes a partition the same way (its directory renamed
// "<topic>-<n>.<id>-delete", removed after file.delete.delay.ms), so that deleting many
// partitions does not wait on unlinking their files. If the rename fails, the directory is
// removed now.
func (l *Log) DeleteTo(trash string) error {
	defer l.quiesce()()
	if !l.closed {
		_ = l.closeLocked(false)
	}
	if l.deleter != nil {
		l.deleter.cancel()
	}
	if !l.DirCreated() {
		return nil // nothing on disk to move (Options.LazyDir)
	}
	if err := l.fs.Rename(l.dir, trash); err == nil {
		return nil
	}
	return l.fs.RemoveAll(l.dir)
}

// Delete closes the log and removes its directory (topic deletion).
func (l *Log) Delete() error {
	defer l.quiesce()()
	if !l.closed {
		_ = l.closeLocked(false)
	}
	if l.deleter != nil {
		l.deleter.cancel()
	}
	return l.fs.RemoveAll(l.dir)
}
