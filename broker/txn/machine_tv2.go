package txn

import (
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Transaction version 2 (KIP-890 part 2, Kafka 4.0's TransactionCoordinator.endTransaction and
// TransactionMetadata.prepareAbortOrCommit / prepareComplete).
//
// A client of version 2 ends every transaction with EndTxn v5, and every end bumps the producer
// epoch: the Prepare record carries epoch+1 (the last epoch is the one ended), so do the markers,
// which fence the ended transaction's late writes on every partition, and the answer gives the
// producer the new epoch for its next transaction. When the epoch is exhausted (32766, Kafka's
// isEpochExhausted) the end takes a new producer id: the Prepare record holds it as the next
// producer id, the markers still carry the old id at epoch 32767, and the Complete record moves
// to the new id at epoch 0, remembering the old one as the previous producer id; the answer
// gives the new id at once.
//
// With the epoch bumped, "same epoch" no longer means "a retry": an EndTxn with the current
// epoch of a Complete state is a new end (only an abort is valid: an empty transaction's, which
// version 2 allows, as it allows one from Empty), and a retry is recognized by the epoch just
// below the current one (or, after a rotation, the previous producer id at the exhausted epoch).
// Which rules apply is decided by the transaction version the last transition recorded (tv),
// as Kafka decides by TransactionMetadata.clientTransactionVersion.

// tvKeep is the transaction version of an addition that leaves the recorded one as it is
// (AddOffsetsToTxn, which clients of both versions send).
const tvKeep int16 = -1

// endResult is the answer to an EndTxn whose Prepare record is durable: the producer id and epoch
// for the client's next transaction (Kafka answers with the metadata prepareComplete will write).
func (t *txn) endResult() result {
	if t.tv >= 2 && t.nextProducerID >= 0 {
		return result{producerID: t.nextProducerID, epoch: 0}
	}
	return result{producerID: t.producerID, epoch: t.epoch}
}

// completeRotation moves a version 2 Complete transition to the next producer id, if its end
// exhausted the epoch (Kafka's prepareComplete). The last epoch stays the exhausted one, the last
// the client saw of the old id.
func completeRotation(to *meta) {
	if to.tv >= 2 && to.nextProducerID >= 0 {
		to.lastProducerID, to.producerID, to.epoch = to.producerID, to.nextProducerID, 0
	}
	to.nextProducerID = noProducerID
}

// needsFreshID reports whether an EndTxn v5 of the producer may end a transaction with an
// exhausted epoch, so that the runtime allocates a new producer id before calling
// endTxnVersion.
func (t *txn) needsFreshID(producerID int64, epoch int16) bool {
	return producerID == t.producerID && epoch == t.epoch && epochExhausted(t.epoch)
}

// endTxnVersion is Kafka's endTransaction for a client: tv2 for EndTxn v5. fresh is a newly
// allocated producer id for an end that exhausts the epoch (needsFreshID), else -1; without it
// such an end answers CONCURRENT_TRANSACTIONS, which the client retries.
func (t *txn) endTxnVersion(now time.Time, w waiter, producerID int64, epoch int16, commit, tv2 bool, fresh int64) {
	v2 := t.tv >= 2 // the rules of the version the last transition recorded
	// A retry of a version 2 end that rotated the producer id: the old id at the exhausted epoch.
	retryOnOverflow := v2 && producerID == t.lastProducerID && producerID != t.producerID &&
		epoch == math.MaxInt16-1 && t.epoch == 0
	// A retry of a version 2 end: the epoch it bumped is the current one.
	retryOnBump := v2 && producerID == t.producerID && int32(t.epoch) == int32(epoch)+1
	retry := retryOnBump || retryOnOverflow
	valid := epoch == t.epoch
	if v2 {
		switch t.state {
		case statePrepareCommit, statePrepareAbort:
			valid = retryOnBump
		case stateCompleteCommit, stateCompleteAbort:
			valid = retry || (valid && tv2)
		}
	}
	switch {
	case producerID != t.producerID && !retryOnOverflow:
		t.respond(w, fail(kerr.InvalidProducerIDMapping.Code))
		return
	case !valid:
		t.respond(w, fail(kerr.ProducerFenced.Code))
		return
	case t.pending != nil:
		t.respond(w, fail(kerr.ConcurrentTransactions.Code))
		return
	}
	invalid := fail(kerr.InvalidTxnState.Code)
	switch t.state {
	case stateOngoing:
		s := statePrepareAbort
		if commit {
			s = statePrepareCommit
		}
		t.prepareEnd(now, w, s, tv2, fresh, false)
	case stateCompleteCommit, stateCompleteAbort:
		same := commit == (t.state == stateCompleteCommit)
		switch {
		case retry || !v2:
			// A retry of the request that completed it (version 1: with the same epoch); the
			// answer is the current producer id and epoch.
			if same {
				t.respond(w, result{producerID: t.producerID, epoch: t.epoch})
			} else {
				t.respond(w, invalid)
			}
		case !commit: // version 2: an abort of a transaction nothing was added to
			t.prepareEnd(now, w, statePrepareAbort, true, fresh, true)
		default:
			t.respond(w, invalid)
		}
	case statePrepareCommit, statePrepareAbort: // a retry while its markers are being written
		if commit == (t.state == statePrepareCommit) {
			t.respond(w, fail(kerr.ConcurrentTransactions.Code))
		} else {
			t.respond(w, invalid)
		}
	case stateEmpty:
		if tv2 && !commit { // version 2 allows an empty transaction's abort
			t.prepareEnd(now, w, statePrepareAbort, true, fresh, true)
		} else {
			t.respond(w, invalid)
		}
	default: // Dead and PrepareEpochFence are never current states
		t.respond(w, invalid)
	}
}

// prepareEnd writes the Prepare record of an end (Kafka's prepareAbortOrCommit): with tv2 the
// epoch is bumped, and an exhausted one takes the fresh producer id as the next one. An empty
// abort (version 2) starts its transaction now.
func (t *txn) prepareEnd(now time.Time, w waiter, s state, tv2 bool, fresh int64, empty bool) {
	to := t.next(s, now)
	to.tv, to.nextProducerID = 0, noProducerID
	if tv2 {
		if epochExhausted(t.epoch) {
			if fresh < 0 {
				t.respond(w, fail(kerr.ConcurrentTransactions.Code))
				return
			}
			to.nextProducerID = fresh
		}
		to.tv, to.lastEpoch, to.epoch = 2, t.epoch, t.epoch+1
	}
	if empty {
		to.parts = map[TopicPartition]struct{}{}
		to.startMs = now.UnixMilli()
	}
	t.begin(kindEnd, to, w)
}

// markerVersion is the transaction version the markers of an end recorded with tv carry: 2 for a
// client's version 2 end (EndTxn v5), whose Prepare bumped the epoch; 0 otherwise, the fence and
// timeout aborts included (recorded as version 0, see fence), whose markers may carry the epoch
// of the transaction they end.
func markerVersion(tv int16) int8 {
	if tv >= 2 {
		return 2
	}
	return 0
}
