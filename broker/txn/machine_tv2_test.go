package txn

import (
	"math"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// newHarnessV2 is newHarness writing value v1 records (transaction.version 1 or more), with the
// id initialized at epoch 0.
func newHarnessV2(t *testing.T) *harness {
	h := newHarness(t)
	lim := *h.tx.lim
	lim.valueVersion = 1
	h.tx.lim = &lim
	if r := h.init(nil); r.code != 0 || r.epoch != 0 {
		t.Fatalf("InitProducerId = %+v", r)
	}
	return h
}

// addV2 adds parts as a partition leader does for a Produce v12 (transaction version 2).
func (h *harness) addV2(pid int64, epoch int16, parts ...TopicPartition) int16 {
	h.t.Helper()
	w := h.w()
	h.tx.addPartitionsVersion(h.now, w, pid, epoch, parts, 2)
	h.collect()
	h.flush(nil)
	return h.code(w)
}

// endV2 sends EndTxn v5 and returns its waiter; the Prepare record is left unwritten.
func (h *harness) endV2(pid int64, epoch int16, commit bool, fresh int64) waiter {
	h.t.Helper()
	w := h.w()
	h.tx.endTxnVersion(h.now, w, pid, epoch, commit, true, fresh)
	h.collect()
	return w
}

// finish writes what is pending, every marker, and the Complete record.
func (h *harness) finish() {
	h.t.Helper()
	h.flush(nil)
	for len(h.markers) > 0 {
		h.answerMarkers(nil)
		h.flush(nil)
	}
}

// TestTV2EpochBumpPerEnd: every EndTxn v5 bumps the epoch; the Prepare record, the markers and
// the answer carry the new one; the next transaction runs at it and the old one is fenced.
func TestTV2EpochBumpPerEnd(t *testing.T) {
	h := newHarnessV2(t)
	for i, commit := range []bool{true, false, true} {
		epoch := int16(i)
		if c := h.addV2(1000, epoch, tp("a", 0), tp("b", 1)); c != 0 {
			t.Fatalf("txn %d: add = %d", i, c)
		}
		w := h.endV2(1000, epoch, commit, noProducerID)
		h.flush(nil)
		if r := h.result(w); r.code != 0 || r.producerID != 1000 || r.epoch != epoch+1 {
			t.Fatalf("txn %d: EndTxn = %+v, want epoch %d", i, r, epoch+1)
		}
		m, _ := h.lastMeta()
		if m.epoch != epoch+1 || m.tv != 2 || (m.state != statePrepareCommit && m.state != statePrepareAbort) {
			t.Fatalf("txn %d: Prepare record %+v", i, m)
		}
		if mk := h.answerMarkers(nil); mk.ProducerEpoch != epoch+1 || mk.Commit != commit || mk.TransactionVersion != 2 {
			t.Fatalf("txn %d: markers %+v", i, mk)
		}
		h.flush(nil)
		if h.tx.state != stateCompleteCommit && h.tx.state != stateCompleteAbort || h.tx.epoch != epoch+1 {
			t.Fatalf("txn %d: state %v epoch %d", i, h.tx.state, h.tx.epoch)
		}
		// The ended epoch is fenced from the next transaction.
		if c := h.addV2(1000, epoch, tp("c", 0)); c != kerr.ProducerFenced.Code {
			t.Fatalf("txn %d: add with the old epoch = %d, want PRODUCER_FENCED", i, c)
		}
	}
}

// TestTV2RetriedEndTxn: an EndTxn v5 retried with the epoch it ended (its answer lost) gets the
// same answer once complete, CONCURRENT_TRANSACTIONS while the markers are written, and
// INVALID_TXN_STATE for the other outcome; other epochs are fenced.
func TestTV2RetriedEndTxn(t *testing.T) {
	h := newHarnessV2(t)
	h.addV2(1000, 0, tp("a", 0))
	w := h.endV2(1000, 0, true, noProducerID)
	h.flush(nil) // PrepareCommit at epoch 1, markers out
	if h.code(w) != 0 {
		t.Fatalf("EndTxn = %d", h.code(w))
	}
	if c := h.code(h.endV2(1000, 0, true, noProducerID)); c != kerr.ConcurrentTransactions.Code {
		t.Fatalf("retry in PrepareCommit = %d, want CONCURRENT_TRANSACTIONS", c)
	}
	if c := h.code(h.endV2(1000, 0, false, noProducerID)); c != kerr.InvalidTxnState.Code {
		t.Fatalf("abort in PrepareCommit = %d, want INVALID_TXN_STATE", c)
	}
	if c := h.code(h.endV2(1000, 1, true, noProducerID)); c != kerr.ProducerFenced.Code {
		t.Fatalf("new epoch in PrepareCommit = %d, want PRODUCER_FENCED", c)
	}
	h.finish()
	if r := h.result(h.endV2(1000, 0, true, noProducerID)); r.code != 0 || r.epoch != 1 {
		t.Fatalf("retry after completion = %+v, want epoch 1", r)
	}
	if len(h.appends) != 0 {
		t.Fatalf("a retry wrote %d records", len(h.appends))
	}
	if c := h.code(h.endV2(1000, 0, false, noProducerID)); c != kerr.InvalidTxnState.Code {
		t.Fatalf("abort retry after a commit = %d, want INVALID_TXN_STATE", c)
	}
	for _, e := range []int16{2, 5} {
		if c := h.code(h.endV2(1000, e, true, noProducerID)); c != kerr.ProducerFenced.Code {
			t.Fatalf("epoch %d = %d, want PRODUCER_FENCED", e, c)
		}
	}
	if c := h.code(h.endV2(999, 1, true, noProducerID)); c != kerr.InvalidProducerIDMapping.Code {
		t.Fatalf("other producer id = %d", c)
	}
	// A client of version 1 retrying with the current epoch is not a version 2 retry.
	w = h.w()
	h.tx.endTxn(h.now, w, 1000, 1, true)
	h.collect()
	if c := h.code(w); c != kerr.ProducerFenced.Code {
		t.Fatalf("EndTxn v4 at the current epoch after a v5 end = %d, want PRODUCER_FENCED", c)
	}
}

// TestTV2EmptyAbort: version 2 may abort a transaction nothing was added to (from Empty or a
// Complete state, at the current epoch), which bumps the epoch; a commit of one is
// INVALID_TXN_STATE, and version 1 keeps its rules.
func TestTV2EmptyAbort(t *testing.T) {
	h := newHarnessV2(t)
	if c := h.code(h.endV2(1000, 0, true, noProducerID)); c != kerr.InvalidTxnState.Code {
		t.Fatalf("empty commit = %d, want INVALID_TXN_STATE", c)
	}
	w := h.w()
	h.tx.endTxn(h.now, w, 1000, 0, false)
	h.collect()
	if c := h.code(w); c != kerr.InvalidTxnState.Code {
		t.Fatalf("EndTxn v4 abort on Empty = %d, want INVALID_TXN_STATE", c)
	}
	w = h.endV2(1000, 0, false, noProducerID)
	h.finish()
	if r := h.result(w); r.code != 0 || r.epoch != 1 || h.tx.state != stateCompleteAbort || len(h.tx.parts) != 0 {
		t.Fatalf("empty abort = %+v, state %v", r, h.tx.state)
	}
	// From CompleteAbort, at the current epoch: another empty abort.
	w = h.endV2(1000, 1, false, noProducerID)
	h.finish()
	if r := h.result(w); r.code != 0 || r.epoch != 2 {
		t.Fatalf("empty abort after an abort = %+v", r)
	}
	if c := h.code(h.endV2(1000, 2, true, noProducerID)); c != kerr.InvalidTxnState.Code {
		t.Fatalf("empty commit after an abort = %d, want INVALID_TXN_STATE", c)
	}
}

// TestTV2EpochOverflow: an end at the exhausted epoch takes a new producer id: the markers carry
// the old id at epoch 32767, the answer the new id at epoch 0, and a retry with the old id and
// epoch gets the same answer.
func TestTV2EpochOverflow(t *testing.T) {
	h := newHarnessV2(t)
	h.tx.epoch = math.MaxInt16 - 1
	if c := h.addV2(1000, math.MaxInt16-1, tp("a", 0)); c != 0 {
		t.Fatalf("add = %d", c)
	}
	if !h.tx.needsFreshID(1000, math.MaxInt16-1) {
		t.Fatal("no fresh producer id asked for at the exhausted epoch")
	}
	if c := h.code(h.endV2(1000, math.MaxInt16-1, true, noProducerID)); c != kerr.ConcurrentTransactions.Code {
		t.Fatalf("end without a fresh id = %d, want CONCURRENT_TRANSACTIONS", c)
	}
	w := h.endV2(1000, math.MaxInt16-1, true, 2000)
	h.flush(nil)
	if r := h.result(w); r.code != 0 || r.producerID != 2000 || r.epoch != 0 {
		t.Fatalf("EndTxn = %+v, want producer 2000 epoch 0", r)
	}
	if m, _ := h.lastMeta(); m.producerID != 1000 || m.epoch != math.MaxInt16 || m.nextProducerID != 2000 {
		t.Fatalf("Prepare record %+v", m)
	}
	if mk := h.answerMarkers(nil); mk.ProducerID != 1000 || mk.ProducerEpoch != math.MaxInt16 {
		t.Fatalf("markers %+v", mk)
	}
	h.flush(nil)
	m, _ := h.lastMeta()
	if m.state != stateCompleteCommit || m.producerID != 2000 || m.epoch != 0 || m.lastProducerID != 1000 || m.nextProducerID != noProducerID {
		t.Fatalf("Complete record %+v", m)
	}
	if r := h.result(h.endV2(1000, math.MaxInt16-1, true, noProducerID)); r.code != 0 || r.producerID != 2000 || r.epoch != 0 {
		t.Fatalf("retry with the old id = %+v", r)
	}
	if c := h.code(h.endV2(1000, math.MaxInt16-1, false, noProducerID)); c != kerr.InvalidTxnState.Code {
		t.Fatalf("abort retry with the old id = %d", c)
	}
	if c := h.addV2(1000, math.MaxInt16, tp("b", 0)); c != kerr.InvalidProducerIDMapping.Code {
		t.Fatalf("add with the old id = %d", c)
	}
	if c := h.addV2(2000, 0, tp("b", 0)); c != 0 {
		t.Fatalf("add with the new id = %d", c)
	}
}

// TestTV2AddQueuedBehindRotation: an addition with the new producer id that arrives while the
// Complete record of the rotating end is written waits for it.
func TestTV2AddQueuedBehindRotation(t *testing.T) {
	h := newHarnessV2(t)
	h.tx.epoch = math.MaxInt16 - 1
	h.addV2(1000, math.MaxInt16-1, tp("a", 0))
	h.endV2(1000, math.MaxInt16-1, true, 2000)
	h.flush(nil)
	h.answerMarkers(nil) // the Complete record is now being written
	w := h.w()
	h.tx.addPartitionsVersion(h.now, w, 2000, 0, []TopicPartition{tp("b", 0)}, 2)
	h.collect()
	if _, answered := h.replies[w]; answered {
		t.Fatalf("add answered %d before the Complete record", h.code(w))
	}
	h.flush(nil)
	if c := h.code(w); c != 0 || h.tx.state != stateOngoing || h.tx.producerID != 2000 {
		t.Fatalf("queued add = %d, state %v, producer %d", c, h.tx.state, h.tx.producerID)
	}
}

// TestTV2FencedProducer: the old producer of a transaction that a new instance's InitProducerId
// aborted is not taken for a version 2 retry: its EndTxn with the epoch just below is fenced.
func TestTV2FencedProducer(t *testing.T) {
	h := newHarnessV2(t)
	h.addV2(1000, 0, tp("a", 0))
	w := h.w()
	h.tx.initProducerID(h.now, w, 60000, nil, noProducerID) // fence: abort at epoch 1
	h.collect()
	h.flush(nil)
	// The fence's markers are version 0's: the partitions take them at the data's epoch too.
	if mk := h.answerMarkers(nil); mk.ProducerEpoch != 1 || mk.Commit || mk.TransactionVersion != 0 {
		t.Fatalf("fence markers %+v", mk)
	}
	h.finish()
	if c := h.code(w); c != kerr.ConcurrentTransactions.Code || h.tx.state != stateCompleteAbort || h.tx.epoch != 1 {
		t.Fatalf("fence = %d, state %v epoch %d", c, h.tx.state, h.tx.epoch)
	}
	for _, commit := range []bool{true, false} {
		if c := h.code(h.endV2(1000, 0, commit, noProducerID)); c != kerr.ProducerFenced.Code {
			t.Fatalf("fenced producer's EndTxn(%v) = %d, want PRODUCER_FENCED", commit, c)
		}
	}
	if c := h.addV2(1000, 0, tp("a", 0)); c != kerr.ProducerFenced.Code {
		t.Fatalf("fenced producer's add = %d", c)
	}
}

// TestTV2RecordsReload: value v1 keeps what version 2 needs across a coordinator failover.
func TestTV2RecordsReload(t *testing.T) {
	h := newHarnessV2(t)
	h.tx.epoch = math.MaxInt16 - 1
	h.addV2(1000, math.MaxInt16-1, tp("a", 0))
	h.endV2(1000, math.MaxInt16-1, false, 2000)
	h.flush(nil)
	m, _ := h.lastMeta()
	if m.tv != 2 || m.nextProducerID != 2000 || m.state != statePrepareAbort {
		t.Fatalf("PrepareAbort reloaded as %+v", m)
	}
	// A new coordinator finishes it: markers with the old id, then the rotation.
	h2 := newHarness(t)
	h2.tx = loadTxn("tx", h.tx.lim, 6, m)
	h2.tx.onLoaded(h2.now)
	h2.collect()
	if mk := h2.answerMarkers(nil); mk.ProducerID != 1000 || mk.ProducerEpoch != math.MaxInt16 || mk.Commit {
		t.Fatalf("markers after the load %+v", mk)
	}
	h2.flush(nil)
	if h2.tx.producerID != 2000 || h2.tx.epoch != 0 || h2.tx.state != stateCompleteAbort {
		t.Fatalf("after the load: producer %d epoch %d state %v", h2.tx.producerID, h2.tx.epoch, h2.tx.state)
	}
	if r := h2.result(h2.endV2(1000, math.MaxInt16-1, false, noProducerID)); r.code != 0 || r.producerID != 2000 {
		t.Fatalf("retry across the failover = %+v", r)
	}
}
