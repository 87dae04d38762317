package partition

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/minikraft/minikraft/log"
)

// maxCachedBatches is how many recent batches per producer are remembered for duplicate
// detection: Kafka's limit, matching the producer's max.in.flight.requests.per.connection=5 bound
// for idempotence.
const maxCachedBatches = 5

// batchMeta is what duplicate detection needs of one appended batch.
type batchMeta struct {
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
	timestamp               int64
	logAppendTime           int64 // timestamp for a LogAppendTime batch, else -1
}

// producerEntry is the state of one producer id on this partition (Kafka's ProducerStateEntry):
// idempotence (epoch, recent batches) and the coordinator epoch of its last transaction marker.
// Whether it has an open transaction is the log's to say (log.Log.OngoingTxn).
type producerEntry struct {
	epoch            int16
	batches          []batchMeta // oldest first, at most maxCachedBatches
	coordinatorEpoch int32       // of its last marker, -1 if none
	lastTimestamp    int64       // max timestamp of its last batch or marker as stored
}

// setEpoch moves the entry to a new producer epoch: the batches of the old one say nothing about
// the new one's sequences (Kafka's maybeUpdateProducerEpoch).
func (e *producerEntry) setEpoch(epoch int16) {
	if epoch != e.epoch {
		e.epoch = epoch
		e.batches = nil
	}
}

func (e *producerEntry) lastSeq() int32 {
	if len(e.batches) == 0 {
		return -1
	}
	return e.batches[len(e.batches)-1].lastSeq
}

func (e *producerEntry) add(m batchMeta) {
	if len(e.batches) == maxCachedBatches {
		copy(e.batches, e.batches[1:])
		e.batches = e.batches[:maxCachedBatches-1]
	}
	e.batches = append(e.batches, m)
}

// nextSeq is the sequence number that follows seq; sequences wrap to 0 after MaxInt32 as the
// producer's do.
func nextSeq(seq int32) int32 {
	if seq == math.MaxInt32 {
		return 0
	}
	return seq + 1
}

func batchLastSeq(h log.BatchHeader) int32 {
	last := int64(h.BaseSequence) + int64(h.LastOffsetDelta)
	if last > math.MaxInt32 {
		last -= math.MaxInt32 + 1
	}
	return int32(last)
}

// producers tracks idempotent producers; the Partition's mutex guards it.
type producers struct {
	m    map[int64]*producerEntry
	base *producers // an overlay's underlying state: read through, never written
}

// overlay returns a scratch state on top of ps: records go to the overlay only, so a payload's
// batches can be checked one after the other without touching ps.
func (ps *producers) overlay() *producers {
	return &producers{base: ps}
}

// set stores pid's entry, making the map with the first: most partitions never see an
// idempotent producer, and an empty map each costs ten thousand idle partitions half a megabyte.
func (ps *producers) set(pid int64, e *producerEntry) {
	if ps.m == nil {
		ps.m = make(map[int64]*producerEntry)
	}
	ps.m[pid] = e
}

func (ps *producers) entry(pid int64) *producerEntry {
	if e, ok := ps.m[pid]; ok || ps.base == nil {
		return e
	}
	if e := ps.base.m[pid]; e != nil {
		c := &producerEntry{epoch: e.epoch, batches: append([]batchMeta(nil), e.batches...),
			coordinatorEpoch: e.coordinatorEpoch, lastTimestamp: e.lastTimestamp}
		ps.set(pid, c)
		return c
	}
	return nil
}

// check validates one batch against the producer's state, following Kafka's
// ProducerAppendInfo.checkProducerEpoch and checkSequence. It returns the duplicate's metadata when
// the batch was already appended.
func (ps *producers) check(h log.BatchHeader) (dup *batchMeta, err error) {
	if h.ProducerID < 0 {
		return nil, nil
	}
	e := ps.entry(h.ProducerID)
	if e == nil {
		// An unknown producer (new, or its state was lost to retention) may start at any sequence:
		// Kafka accepts it since KIP-360 rather than failing with UNKNOWN_PRODUCER_ID.
		return nil, nil
	}
	if h.ProducerEpoch < e.epoch {
		return nil, ErrInvalidProducerEpoch
	}
	if h.ProducerEpoch > e.epoch {
		if h.BaseSequence != 0 {
			return nil, ErrOutOfOrderSequence
		}
		return nil, nil
	}
	last := batchLastSeq(h)
	for i := range e.batches {
		b := &e.batches[i]
		if b.firstSeq == h.BaseSequence && b.lastSeq == last {
			m := *b
			return &m, nil
		}
	}
	if ls := e.lastSeq(); ls >= 0 && h.BaseSequence != nextSeq(ls) {
		return nil, ErrOutOfOrderSequence
	}
	if len(e.batches) == 0 && h.BaseSequence != 0 {
		// Known only from a marker (which may have bumped the epoch): its data starts at 0, as
		// Kafka's checkSequence wants of an epoch with no sequence yet.
		return nil, ErrOutOfOrderSequence
	}
	return nil, nil
}

// entryFor returns the producer's entry, creating it.
func (ps *producers) entryFor(pid int64, epoch int16) *producerEntry {
	e := ps.entry(pid)
	if e == nil {
		e = &producerEntry{epoch: epoch, coordinatorEpoch: -1}
		ps.set(pid, e)
	}
	return e
}

// recordMarker remembers an appended (or replayed) transaction marker: it may move the producer
// to a newer epoch (a coordinator aborting with a bumped epoch fences the old producer) and sets
// the coordinator epoch later markers are checked against.
func (ps *producers) recordMarker(h log.BatchHeader, m log.Marker) {
	if h.ProducerID < 0 {
		return
	}
	e := ps.entryFor(h.ProducerID, h.ProducerEpoch)
	if h.ProducerEpoch > e.epoch {
		e.setEpoch(h.ProducerEpoch)
	}
	e.coordinatorEpoch = m.CoordinatorEpoch
	e.lastTimestamp = h.MaxTimestamp
}

// record remembers an appended (or replayed) data batch; a control batch without a marker (one
// compaction emptied) changes nothing.
func (ps *producers) record(h log.BatchHeader) {
	if h.ProducerID < 0 || h.IsControl() {
		return
	}
	e := ps.entryFor(h.ProducerID, h.ProducerEpoch)
	if h.ProducerEpoch > e.epoch {
		e.setEpoch(h.ProducerEpoch)
	}
	e.lastTimestamp = h.MaxTimestamp
	e.add(batchMeta{
		firstSeq:    h.BaseSequence,
		lastSeq:     batchLastSeq(h),
		firstOffset: h.BaseOffset,
		lastOffset:  h.LastOffset(),
		timestamp:   h.MaxTimestamp,
		logAppendTime: func() int64 {
			if h.TimestampType() == 1 {
				return h.MaxTimestamp
			}
			return -1
		}(),
	})
}

// ProducerState is one producer's state on a partition (DescribeProducers).
type ProducerState struct {
	ProducerID    int64
	ProducerEpoch int16
	LastSequence  int32 // of its last batch here, -1 if it wrote only markers
	LastTimestamp int64 // max timestamp of its last batch as stored (the append time for LogAppendTime)
	// CoordinatorEpoch is the coordinator epoch of its last transaction marker, -1 if none.
	CoordinatorEpoch int32
	// CurrentTxnStartOffset is the first offset of its open transaction, -1 if none.
	CurrentTxnStartOffset int64
}

// ActiveProducers returns the state of every producer that has written to the partition and is
// still remembered, by producer id. Followers keep the state too (they rebuild it from what they
// replicate), so any open replica answers; a closed one is ErrClosed.
func (p *Partition) ActiveProducers() ([]ProducerState, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	out := make([]ProducerState, 0, len(p.producers.m))
	ongoing := p.log.OngoingTxns()
	for pid, e := range p.producers.m {
		ps := ProducerState{ProducerID: pid, ProducerEpoch: e.epoch, LastSequence: e.lastSeq(), LastTimestamp: e.lastTimestamp,
			CoordinatorEpoch: e.coordinatorEpoch, CurrentTxnStartOffset: -1}
		if first, ok := ongoing[pid]; ok {
			ps.CurrentTxnStartOffset = first
		}
		out = append(out, ps)
	}
	slices.SortFunc(out, func(a, b ProducerState) int { return cmp.Compare(a.ProducerID, b.ProducerID) })
	return out, nil
}

// ExpireProducers forgets the producers whose last batch's max timestamp is maxAge or more
// before now (Kafka's producer.id.expiration.ms, ProducerStateManager.removeExpiredProducers),
// so that a long-lived partition written by many short-lived idempotent producers does not keep
// them all. A producer with an open transaction stays, as in Kafka. A forgotten producer that writes again is an unknown producer: its next batch is
// taken at any sequence, as after the state's loss to retention (KIP-360). It returns how many
// went.
func (p *Partition) ExpireProducers(now time.Time, maxAge time.Duration) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	cutoff := now.Add(-maxAge).UnixMilli()
	n := 0
	for pid, e := range p.producers.m {
		if _, open := p.log.OngoingTxn(pid); open {
			continue
		}
		if e.lastTimestamp <= cutoff {
			delete(p.producers.m, pid)
			n++
		}
	}
	return n
}
