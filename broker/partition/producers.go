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

// producerEntry is the idempotence state of one producer id on this partition.
type producerEntry struct {
	epoch   int16
	batches []batchMeta // oldest first, at most maxCachedBatches
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
	return &producers{m: make(map[int64]*producerEntry), base: ps}
}

func (ps *producers) entry(pid int64) *producerEntry {
	if e, ok := ps.m[pid]; ok || ps.base == nil {
		return e
	}
	if e := ps.base.m[pid]; e != nil {
		c := &producerEntry{epoch: e.epoch, batches: append([]batchMeta(nil), e.batches...)}
		ps.m[pid] = c
		return c
	}
	return nil
}

func newProducers() producers { return producers{m: make(map[int64]*producerEntry)} }

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
	return nil, nil
}

// record remembers an appended (or replayed) batch.
func (ps *producers) record(h log.BatchHeader) {
	if h.ProducerID < 0 {
		return
	}
	e := ps.entry(h.ProducerID)
	if e == nil || h.ProducerEpoch > e.epoch {
		e = &producerEntry{epoch: h.ProducerEpoch}
		ps.m[h.ProducerID] = e
	}
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

// ProducerState is one idempotent producer's state on a partition (DescribeProducers).
type ProducerState struct {
	ProducerID    int64
	ProducerEpoch int16
	LastSequence  int32 // of its last batch here
	LastTimestamp int64 // max timestamp of its last batch as stored (the append time for LogAppendTime)
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
	for pid, e := range p.producers.m {
		if len(e.batches) == 0 {
			continue
		}
		last := e.batches[len(e.batches)-1]
		out = append(out, ProducerState{ProducerID: pid, ProducerEpoch: e.epoch, LastSequence: last.lastSeq, LastTimestamp: last.timestamp})
	}
	slices.SortFunc(out, func(a, b ProducerState) int { return cmp.Compare(a.ProducerID, b.ProducerID) })
	return out, nil
}

// ExpireProducers forgets the producers whose last batch's max timestamp is maxAge or more
// before now (Kafka's producer.id.expiration.ms, ProducerStateManager.removeExpiredProducers),
// so that a long-lived partition written by many short-lived idempotent producers does not keep
// them all. A forgotten producer that writes again is an unknown producer: its next batch is
// taken at any sequence, as after the state's loss to retention (KIP-360). It returns how many
// went.
func (p *Partition) ExpireProducers(now time.Time, maxAge time.Duration) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	cutoff := now.Add(-maxAge).UnixMilli()
	n := 0
	for pid, e := range p.producers.m {
		if len(e.batches) == 0 || e.batches[len(e.batches)-1].timestamp <= cutoff {
			delete(p.producers.m, pid)
			n++
		}
	}
	return n
}
