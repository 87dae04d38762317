package partition

import (
	"context"
	"errors"

	"github.com/minikraft/minikraft/log"
)

// Transactions on one partition, Kafka's way (ProducerStateManager, UnifiedLog): the log tracks
// which producers have an open transaction and the aborted-transaction index (package log); the
// partition checks what may be appended (producer and coordinator epochs, a plain batch inside a
// transaction), writes the markers the transaction coordinator sends (WriteTxnMarkers), and
// bounds read_committed reads by the last stable offset.

// Errors of transactional appends.
var (
	// ErrInvalidTxnState: a non-transactional batch from a producer with an open transaction
	// (Kafka's INVALID_TXN_STATE).
	ErrInvalidTxnState = errors.New("partition: non-transactional write from a producer with an open transaction")
	// ErrCoordinatorFenced: a marker from a transaction coordinator older than the one that wrote
	// the producer's last marker (TRANSACTION_COORDINATOR_FENCED).
	ErrCoordinatorFenced = errors.New("partition: transaction marker from a fenced transaction coordinator")
)

// Isolation levels of a read (Fetch, ListOffsets).
const (
	ReadUncommitted int8 = 0
	ReadCommitted   int8 = 1
)

// LastStableOffset is the offset below which every transaction is decided and replicated (Kafka's
// UnifiedLog.lastStableOffset): the first offset of the earliest open transaction, or of one whose
// marker is not yet below the high watermark, if below the high watermark; else the high
// watermark. A follower computes its own from what it replicated and the leader's high watermark.
func (p *Partition) LastStableOffset() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.LastStableOffset(p.hw)
}

// HasOngoingTxn reports whether the producer has an open transaction here: a transactional
// batch it wrote that no marker has ended yet.
func (p *Partition) HasOngoingTxn(producerID int64) bool {
	_, ok := p.log.OngoingTxn(producerID)
	return ok
}

// AppendMarker appends a transaction marker as the leader (Kafka's appendRecords with origin
// COORDINATOR): a COMMIT or ABORT control batch for the producer, ending its open transaction if
// it has one. As in Kafka a marker for a producer with no open transaction (a retried
// WriteTxnMarkers, or a transaction that wrote nothing here) is appended too and is harmless. A
// marker with an older producer epoch than the producer's is ErrInvalidProducerEpoch; one from a
// coordinator epoch older than the producer's last marker's is ErrCoordinatorFenced. With
// requiredAcks -1 it is refused below min.insync.replicas; the caller waits with WaitForAck.
// It is AppendMarkerVersion for a marker of transaction version 0 or 1.
func (p *Partition) AppendMarker(producerID int64, producerEpoch int16, coordinatorEpoch int32, commit bool, requiredAcks int16) (AppendInfo, error) {
	return p.AppendMarkerVersion(producerID, producerEpoch, coordinatorEpoch, commit, requiredAcks, 0)
}

// AppendMarkerVersion is AppendMarker for a marker of the given transaction version (WriteTxnMarkers
// v2's TransactionVersion, KIP-1228). A version 2 end bumps the producer epoch and its markers carry
// the bumped one, which the producer's next transaction then writes with; so a version 2 marker
// must have an epoch above the producer's here, else it is a late copy of the previous
// transaction's marker, which would end the transaction now open and let the last stable offset
// pass it (ErrInvalidProducerEpoch, Kafka's KAFKA-19446). The exception is a copy with no
// transaction open (a coordinator retrying a marker it wrote, KAFKA-19999): appended, harmless.
func (p *Partition) AppendMarkerVersion(producerID int64, producerEpoch int16, coordinatorEpoch int32, commit bool, requiredAcks int16, transactionVersion int8) (AppendInfo, error) {
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
	if e := p.producers.entry(producerID); e != nil {
		// Kafka's ProducerAppendInfo.appendEndTxnMarker: checkProducerEpoch, checkCoordinatorEpoch.
		stale := producerEpoch < e.epoch
		if transactionVersion >= 2 && producerEpoch == e.epoch {
			_, open := p.log.OngoingTxn(producerID)
			stale = open
		}
		if stale {
			return AppendInfo{}, ErrInvalidProducerEpoch
		}
		if coordinatorEpoch < e.coordinatorEpoch {
			return AppendInfo{}, ErrCoordinatorFenced
		}
	}
	m := log.Marker{Commit: commit, CoordinatorEpoch: coordinatorEpoch}
	b := log.EncodeMarker(producerID, producerEpoch, m, p.cfg.Now().UnixMilli())
	res, err := p.log.Append(b, p.leaderEpoch)
	if err != nil {
		return AppendInfo{}, err
	}
	h, err := log.ParseBatchHeader(b) // as stored: the offsets and timestamp the log gave it
	if err != nil {
		return AppendInfo{}, err
	}
	p.producers.recordMarker(h, m)
	if !p.maybeAdvanceHWLocked() {
		p.notifyLocked() // a marker may end a transaction a read_committed fetch waits on
	}
	return AppendInfo{
		BaseOffset:     res.BaseOffset,
		LastOffset:     res.LastOffset,
		LogAppendTime:  res.LogAppendTime,
		LogStartOffset: p.log.StartOffset(),
		LeaderEpoch:    p.leaderEpoch,
	}, nil
}

// WriteMarker is AppendMarker with acks=all: it returns once every in-sync replica has the
// marker (at least min.insync.replicas of them), as Kafka's WriteTxnMarkers handler appends with
// requiredAcks -1, or with the append's or the wait's error (ErrTimeout when ctx ends first).
func (p *Partition) WriteMarker(ctx context.Context, producerID int64, producerEpoch int16, coordinatorEpoch int32, commit bool) error {
	info, err := p.AppendMarker(producerID, producerEpoch, coordinatorEpoch, commit, -1)
	if err != nil {
		return err
	}
	return p.WaitForAck(ctx, info.LeaderEpoch, info.LastOffset)
}

// txnCheck follows the open transactions through a payload's batches, as the log will after
// appending them (Kafka's ProducerAppendInfo.appendDataBatch, checked before the append).
type txnCheck struct {
	p      *Partition
	staged map[int64]bool // producers a batch earlier in the payload opened a transaction for
}

// check refuses a non-transactional batch from a producer with an open transaction.
func (c *txnCheck) check(h log.BatchHeader) error {
	if h.ProducerID < 0 || h.IsControl() {
		return nil
	}
	_, open := c.p.log.OngoingTxn(h.ProducerID)
	open = open || c.staged[h.ProducerID]
	switch {
	case !h.IsTransactional() && open:
		return ErrInvalidTxnState
	case h.IsTransactional() && !open:
		if c.staged == nil {
			c.staged = make(map[int64]bool)
		}
		c.staged[h.ProducerID] = true
	}
	return nil
}

// HasOngoingTxnAt reports whether the producer has an open transaction here at producer epoch
// epoch (Kafka 4.0's UnifiedLog.hasOngoingTransaction(producerId, producerEpoch)): under
// transaction version 2 every transaction has its own epoch, so a batch of a newer epoch starts
// the producer's next transaction even while the marker of the previous one is still to come.
func (p *Partition) HasOngoingTxnAt(producerID int64, epoch int16) bool {
	if _, ok := p.log.OngoingTxn(producerID); !ok {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.producers.entry(producerID)
	return e != nil && e.epoch == epoch
}
