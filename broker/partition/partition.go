package partition

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minikraft/minikraft/log"
)

// Errors a partition returns; the broker maps each to its Kafka error code.
var (
	ErrNotLeader                    = errors.New("partition: not the leader")
	ErrNotEnoughReplicas            = errors.New("partition: fewer in-sync replicas than min.insync.replicas")
	ErrNotEnoughReplicasAfterAppend = errors.New("partition: in-sync replicas fell below min.insync.replicas after the append")
	ErrOutOfOrderSequence           = errors.New("partition: out of order sequence number")
	ErrInvalidProducerEpoch         = errors.New("partition: producer epoch is older than the current one")
	ErrFencedLeaderEpoch            = errors.New("partition: leader epoch in the request is older than the current one")
	ErrUnknownLeaderEpoch           = errors.New("partition: leader epoch in the request is newer than the current one")
	ErrTimeout                      = errors.New("partition: timed out waiting for replication")
	ErrClosed                       = errors.New("partition: closed")
)

// Config is a partition's identity and the topic settings it enforces.
type Config struct {
	Topic             string
	Partition         int32
	NodeID            int32
	MinInsyncReplicas int
	// ReplicaLagTimeMax is replica.lag.time.max.ms: a follower that has not caught up for this long
	// leaves the ISR.
	ReplicaLagTimeMax time.Duration
	Logger            *slog.Logger
	Now               func() time.Time
}

// replica is the leader's view of one follower, as Kafka's Replica keeps it.
type replica struct {
	leo                int64     // the follower's log end offset: its last fetch offset; -1 unknown
	lastCaughtUp       time.Time // last time the follower had everything the leader had
	lastFetch          time.Time
	lastFetchLeaderLEO int64 // the leader's log end offset at lastFetch
}

// Partition is one replica of one partition. All methods are safe for concurrent use.
type Partition struct {
	log *log.Log

	mu             sync.Mutex
	cfg            Config
	leader         int32
	leaderEpoch    int32
	partitionEpoch int32
	closed         bool // next to the int32s: in their word's padding
	replicas       []int32
	isr            []int32
	// pendingISR is an ISR change this leader has proposed and the controller has not
	// answered yet (nil: none). Until it is committed the high watermark counts the union of
	// both sets (Kafka's "maximal ISR", KIP-497), so a joining follower is never short of
	// what becomes committed.
	pendingISR []int32
	epochStart int64 // log end offset when this leader epoch began
	hw         int64
	followers  map[int32]*replica
	producers  producers
	// changed is closed at the next change of the high watermark, role, ISR or log end, then
	// dropped; it is made only when an acks=all wait asks for it (ackState), so that appends
	// nobody waits on allocate nothing.
	changed  chan struct{}
	watchers map[*chan<- struct{}]struct{} // one-shot notifications for long polls

	// traffic is the metrics counters (traffic.go): atomics, not under mu; nil until the first
	// count, so an idle partition does not carry five zeros (issue 18).
	traffic atomic.Pointer[traffic]
}

// New wraps an opened log. The idempotent producers' state is rebuilt from the log's batches, as
// Kafka does when it has no producer snapshot. The partition starts with no role: until
// BecomeLeader or BecomeFollower it refuses appends and reads.
func New(l *log.Log, cfg Config) (*Partition, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Partition{
		log:         l,
		cfg:         cfg,
		leader:      -1,
		leaderEpoch: -1,
		hw:          l.StartOffset(),
		// watchers, followers and producers' map are made by their first entry: ten thousand
		// idle partitions would hold three empty maps each (issue 18).
	}
	if err := p.rebuildProducersLocked(); err != nil {
		return nil, err
	}
	return p, nil
}

// Log is the partition's log.
func (p *Partition) Log() *log.Log { return p.log }

// SetConfig applies changed topic settings (min.insync.replicas, replica lag) at run time.
func (p *Partition) SetConfig(cfg Config) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cfg.Logger == nil {
		cfg.Logger = p.cfg.Logger
	}
	if cfg.Now == nil {
		cfg.Now = p.cfg.Now
	}
	p.cfg = cfg
	p.notifyLocked()
}

// BecomeLeader makes this replica the leader for leaderEpoch. The epoch's start offset (the
// current log end offset) goes into the log's leader-epoch cache, so followers can later truncate
// to it (KIP-101).
func (p *Partition) BecomeLeader(leaderEpoch, partitionEpoch int32, replicas, isr []int32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if err := p.log.AssignEpoch(leaderEpoch, p.log.EndOffset()); err != nil {
		return fmt.Errorf("partition %s-%d: %w", p.cfg.Topic, p.cfg.Partition, err)
	}
	wasLeader := p.leader == p.cfg.NodeID && p.leaderEpoch == leaderEpoch
	if !wasLeader {
		p.epochStart = p.log.EndOffset()
	}
	p.pendingISR = nil
	p.leader = p.cfg.NodeID
	p.leaderEpoch = leaderEpoch
	p.partitionEpoch = partitionEpoch
	p.replicas = slices.Clone(replicas)
	p.isr = slices.Clone(isr)
	if !wasLeader {
		now := p.cfg.Now()
		p.followers = nil
		for _, r := range replicas {
			if r != p.cfg.NodeID {
				if p.followers == nil {
					p.followers = make(map[int32]*replica, len(replicas)-1)
				}
				// Unknown until the follower's first fetch; a follower in the ISR counts as caught
				// up now so a new leader does not shrink the ISR before followers had a chance.
				p.followers[r] = &replica{leo: -1, lastCaughtUp: now}
			}
		}
	} else {
		// Same epoch, new replica set (a reassignment): forget replicas that left, so one
		// added back later starts unknown (it deleted its copy) instead of from the log end
		// it had, which could put an empty replica in the ISR.
		for r := range p.followers {
			if !slices.Contains(replicas, r) {
				delete(p.followers, r)
			}
		}
	}
	p.maybeAdvanceHWLocked()
	p.notifyLocked()
	return nil
}

// BecomeFollower makes this replica a follower of leader at leaderEpoch.
func (p *Partition) BecomeFollower(leader, leaderEpoch, partitionEpoch int32, replicas []int32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	p.leader = leader
	p.leaderEpoch = leaderEpoch
	p.partitionEpoch = partitionEpoch
	p.replicas = slices.Clone(replicas)
	p.isr = nil
	p.pendingISR = nil
	p.followers = nil
	p.notifyLocked()
	return nil
}

// Leader returns the leader id (-1 if none known) and the leader epoch.
func (p *Partition) Leader() (id, epoch int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.leader, p.leaderEpoch
}

// IsLeader reports whether this replica currently leads the partition.
func (p *Partition) IsLeader() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.leader == p.cfg.NodeID && !p.closed
}

// ISR is the leader's current in-sync replica set.
func (p *Partition) ISR() []int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.isr)
}

// AcksAlone reports whether this replica leads the partition with no other replica in its
// (maximal) ISR: an acks=all write is then acknowledged as soon as it is appended (one node, or
// one replica), so a caller may append and wait on a goroutine that must not block on others.
func (p *Partition) AcksAlone() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.leader != p.cfg.NodeID {
		return false
	}
	for _, set := range [][]int32{p.isr, p.pendingISR} {
		for _, id := range set {
			if id != p.cfg.NodeID {
				return false
			}
		}
	}
	return true
}

// HighWatermark is the offset below which records are committed and visible to consumers.
func (p *Partition) HighWatermark() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hw
}

// LogStartOffset is the first offset still in the log.
func (p *Partition) LogStartOffset() int64 { return p.log.StartOffset() }

// LogEndOffset is the offset the next appended record gets.
func (p *Partition) LogEndOffset() int64 { return p.log.EndOffset() }

// AppendInfo describes a completed append.
type AppendInfo struct {
	BaseOffset     int64
	LastOffset     int64
	LogAppendTime  int64 // -1 unless the topic uses LogAppendTime
	LogStartOffset int64
	Duplicate      bool // the batch had been appended before; offsets are the original ones
	// LeaderEpoch is the leader epoch the write was appended in (for a duplicate, the current
	// one: the original is in this leader's log now). An acks=all wait passes it to WaitForAck.
	LeaderEpoch int32
}

// AppendAsLeader appends validated batches (b, with their headers hdrs from log.ValidateBatches).
// With requiredAcks == -1 it refuses the write up front when the ISR is smaller than
// min.insync.replicas, as Kafka does. A retried idempotent batch is not appended again: the
// original offsets come back with Duplicate set. A transactional batch opens a transaction for
// its producer if it has none; a plain batch from a producer with one is ErrInvalidTxnState.
func (p *Partition) AppendAsLeader(b []byte, hdrs []log.BatchHeader, requiredAcks int16) (AppendInfo, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return AppendInfo{}, ErrClosed
	}
	if p.leader != p.cfg.NodeID {
		return AppendInfo{}, ErrNotLeader
	}
	if requiredAcks == -1 && p.liveISRNowLocked() < p.cfg.MinInsyncReplicas {
		return AppendInfo{}, ErrNotEnoughReplicas
	}
	dup, err := p.checkSequencesLocked(hdrs)
	if err != nil {
		return AppendInfo{}, err
	}
	if dup != nil {
		return AppendInfo{
			BaseOffset:     dup.firstOffset,
			LastOffset:     dup.lastOffset,
			LogAppendTime:  dup.logAppendTime,
			LogStartOffset: p.log.StartOffset(),
			Duplicate:      true,
			LeaderEpoch:    p.leaderEpoch,
		}, nil
	}
	c := txnCheck{p: p}
	for _, h := range hdrs {
		if err := c.check(h); err != nil {
			return AppendInfo{}, err
		}
	}
	res, err := p.log.Append(b, p.leaderEpoch)
	if err != nil {
		return AppendInfo{}, err
	}
	off := res.BaseOffset
	for _, h := range hdrs {
		h.BaseOffset = off
		if res.LogAppendTime >= 0 {
			h.Attributes |= log.AttrLogAppendTime // as stored: LogAppendTime, max timestamp = append time
			h.MaxTimestamp = res.LogAppendTime
		}
		p.producers.record(h)
		off += int64(h.LastOffsetDelta) + 1
	}
	if !p.maybeAdvanceHWLocked() {
		p.notifyLocked() // followers' fetches wait on the log end offset, not the HW
	}
	tr := p.counters()
	tr.messagesIn.Add(res.LastOffset - res.BaseOffset + 1)
	tr.bytesIn.Add(int64(len(b)))
	return AppendInfo{
		BaseOffset:     res.BaseOffset,
		LastOffset:     res.LastOffset,
		LogAppendTime:  res.LogAppendTime,
		LogStartOffset: p.log.StartOffset(),
		LeaderEpoch:    p.leaderEpoch,
	}, nil
}

// checkSequencesLocked checks a payload's batches against the idempotent producers' state,
// each batch as if the ones before it in the payload were appended. It returns the duplicate's
// metadata when the payload is a retried batch that was appended before.
func (p *Partition) checkSequencesLocked(hdrs []log.BatchHeader) (*batchMeta, error) {
	if len(hdrs) == 1 {
		// What clients send: one batch per partition. Nothing is staged before it, so it is
		// checked against the state itself (check does not write), without an overlay.
		return p.producers.check(hdrs[0])
	}
	staged := p.producers.overlay()
	for _, h := range hdrs {
		dup, err := staged.check(h)
		if err != nil {
			return nil, err
		}
		if dup != nil {
			// A duplicate inside a multi-batch payload cannot be answered with one offset range.
			return nil, ErrOutOfOrderSequence
		}
		staged.record(h) // the next batch of the payload is checked against this one
	}
	return nil, nil
}

// WaitForAck blocks until lastOffset is below the high watermark (every ISR member has it), the
// ISR shrinks below min.insync.replicas, leadership moves, or ctx ends. leaderEpoch is the epoch
// the write was appended in (AppendInfo.LeaderEpoch).
func (p *Partition) WaitForAck(ctx context.Context, leaderEpoch int32, lastOffset int64) error {
	for {
		done, ch, err := p.ackState(leaderEpoch, lastOffset)
		if done {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ErrTimeout
		}
	}
}

// Acked is WaitForAck without the wait: done reports whether the outcome is known now.
func (p *Partition) Acked(leaderEpoch int32, lastOffset int64) (done bool, err error) {
	done, _, err = p.ackState(leaderEpoch, lastOffset)
	return done, err
}

// ackState decides an acks=all wait: done with its outcome, or not yet, with the channel that
// signals the next change. Kafka's checkEnoughReplicasReachOffset.
//
// Leadership is checked first, as Kafka does: the high watermark says nothing about a write once
// this replica stopped leading the epoch the write was appended in. As a follower it may have
// truncated the write and fetched the new leader's records past its offset; having led again
// since, it may have written other records at that offset. Either way the high watermark passes
// the offset of a write that is gone, so the write is answered NOT_LEADER_OR_FOLLOWER (the
// client retries; an idempotent retry of a write that survived is answered as a duplicate).
func (p *Partition) ackState(leaderEpoch int32, lastOffset int64) (done bool, changed <-chan struct{}, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return true, nil, ErrClosed
	case p.leader != p.cfg.NodeID || p.leaderEpoch != leaderEpoch:
		return true, nil, ErrNotLeader
	case p.liveISRNowLocked() < p.cfg.MinInsyncReplicas:
		return true, nil, ErrNotEnoughReplicasAfterAppend
	case p.hw > lastOffset:
		return true, nil, nil
	}
	if p.changed == nil {
		p.changed = make(chan struct{})
	}
	return false, p.changed, nil
}

// ReadResult is what a fetch of one partition returns.
type ReadResult struct {
	Records          []byte
	HighWatermark    int64
	LogStartOffset   int64
	LastStableOffset int64
	// AbortedTxns (read_committed only) are the aborted transactions overlapping the records.
	AbortedTxns []log.AbortedTxn
}

// UpdateFollower records a follower's fetch at offset: it has every record below it. The fetch
// handler calls it once per fetch request, when the request arrives: re-reads while the fetch
// waits for data must not count as fresh progress, or a follower that died with a fetch parked
// here would look caught up until that fetch ends. An offset outside the log is no progress.
func (p *Partition) UpdateFollower(replicaID int32, offset int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || offset < p.log.StartOffset() || offset > p.log.EndOffset() {
		return
	}
	p.updateFollowerLocked(replicaID, offset, p.cfg.Now())
}

// Read returns batches from offset on. Consumers (replicaID < 0) read up to the high watermark;
// a follower reads up to the log end offset. currentLeaderEpoch (-1 when the client did not send
// one) is checked against ours so clients with stale metadata refresh (KIP-320).
func (p *Partition) Read(offset int64, maxBytes int, replicaID, currentLeaderEpoch int32) (ReadResult, error) {
	return p.ReadIsolated(offset, maxBytes, replicaID, currentLeaderEpoch, ReadUncommitted)
}

// ReadIsolated is Read at an isolation level: a read_committed consumer (ReadCommitted) reads up
// to the last stable offset only and is told the aborted transactions in what it read.
func (p *Partition) ReadIsolated(offset int64, maxBytes int, replicaID, currentLeaderEpoch int32, isolation int8) (ReadResult, error) {
	b, err := p.readBounds(replicaID, currentLeaderEpoch, isolation)
	if err != nil {
		return ReadResult{}, err
	}
	recs, err := p.log.Read(offset, maxBytes, b.limit)
	res := ReadResult{HighWatermark: b.hw, LogStartOffset: p.log.StartOffset(), LastStableOffset: b.lso}
	if err != nil {
		return res, err
	}
	res.Records = recs
	if isolation == ReadCommitted && replicaID < 0 && len(recs) > 0 {
		res.AbortedTxns = p.log.AbortedTxns(offset, b.limit)
	}
	return res, nil
}

func (p *Partition) checkEpochLocked(epoch int32) error {
	switch {
	case epoch < 0:
		return nil
	case epoch < p.leaderEpoch:
		return ErrFencedLeaderEpoch
	case epoch > p.leaderEpoch:
		return ErrUnknownLeaderEpoch
	}
	return nil
}

// CheckLeaderEpoch compares a client's current leader epoch with ours (-1 skips the check).
func (p *Partition) CheckLeaderEpoch(epoch int32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.checkEpochLocked(epoch)
}

// Register arranges a non-blocking send on ch at the next change of the high watermark, role or
// ISR. A fetch that waits on many partitions registers one channel with each; cancel removes it.
func (p *Partition) Register(ch chan<- struct{}) (cancel func()) {
	key := &ch
	p.mu.Lock()
	if p.watchers == nil {
		p.watchers = make(map[*chan<- struct{}]struct{})
	}
	p.watchers[key] = struct{}{}
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		delete(p.watchers, key)
		p.mu.Unlock()
	}
}

// maybeAdvanceHWLocked moves the high watermark to the lowest log end offset in the (maximal)
// ISR. It never moves it backwards. It reports whether it moved (and so notified).
func (p *Partition) maybeAdvanceHWLocked() bool {
	if p.leader != p.cfg.NodeID {
		return false
	}
	hw := p.log.EndOffset()
	for _, set := range [][]int32{p.isr, p.pendingISR} {
		for _, id := range set {
			if id == p.cfg.NodeID {
				continue
			}
			f := p.followers[id]
			if f == nil || f.leo < 0 {
				return false // an ISR member we know nothing of yet holds the HW where it is
			}
			hw = min(hw, f.leo)
		}
	}
	if hw > p.hw {
		p.hw = hw
		p.notifyLocked()
		return true
	}
	return false
}

// notifyLocked wakes the acks=all waits (WaitForAck) and the registered long polls.
func (p *Partition) notifyLocked() {
	if p.changed != nil {
		close(p.changed)
		p.changed = nil // the next wait makes a new one
	}
	for w := range p.watchers {
		select {
		case *w <- struct{}{}:
		default:
		}
	}
}

// Close wakes every waiter and closes the log.
func (p *Partition) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.notifyLocked()
	p.mu.Unlock()
	return p.log.Close()
}

// Delete closes the partition and removes its log from disk (topic deletion).
func (p *Partition) Delete() error {
	p.mu.Lock()
	p.closed = true
	p.notifyLocked()
	p.mu.Unlock()
	return p.log.Delete()
}

// Retire makes the partition refuse every request from now on (ErrClosed), as Delete does, but
// leaves its log open and its files in place: the replica manager retires a deleted replica
// while it applies the metadata and deletes its log (DeleteTo) in the background. Only Delete
// or DeleteTo may follow: Close would leave the log open.
func (p *Partition) Retire() {
	p.mu.Lock()
	p.closed = true
	p.notifyLocked()
	p.mu.Unlock()
}

// Recycle retires the partition as Retire does and empties its log in place (log.Log.Truncate
// to offset 0: its segment files are cut, not removed and created again), and hands the log
// over for a new replica of the same name (New): the replica manager recycles a replica whose
// topic was deleted and re-created in one metadata change that keeps it on this node (the
// internal topics at the fixture's Reset, re-created under new ids). Emptying a log costs a
// truncation, where deleting it and creating another closed its files, renamed its directory
// and created a directory and files again, which was most of a Reset's time on a slow disk.
// From then on the log is the caller's: nothing of p closes or deletes it. On an error the log
// is p's still, and only Delete or DeleteTo may follow, as after Retire.
func (p *Partition) Recycle() (*log.Log, error) {
	p.Retire()
	if err := p.log.Truncate(0); err != nil {
		return nil, err
	}
	return p.log, nil
}

// DeleteTo closes the partition like Delete and moves its log's directory to trash, for the
// caller to remove later (log.Log.DeleteTo).
func (p *Partition) DeleteTo(trash string) error {
	p.mu.Lock()
	p.closed = true
	p.notifyLocked()
	p.mu.Unlock()
	return p.log.DeleteTo(trash)
}

// DeleteRecordsBefore advances the log start offset to offset (-1: the high watermark), as
// DeleteRecords asks. Offsets above the high watermark cannot be deleted: they are not yet
// committed. It returns the new log start offset.
func (p *Partition) DeleteRecordsBefore(offset int64) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, ErrClosed
	}
	if p.leader != p.cfg.NodeID {
		return 0, ErrNotLeader
	}
	if offset == -1 {
		offset = p.hw
	}
	if offset < 0 || offset > p.hw {
		return 0, log.ErrOffsetOutOfRange
	}
	if offset > p.log.StartOffset() {
		if err := p.log.SetStartOffset(offset); err != nil {
			return 0, err
		}
		p.notifyLocked()
	}
	return p.log.StartOffset(), nil
}
