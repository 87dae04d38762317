package txn

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestInitProducerIDNewThenBump(t *testing.T) {
	h := newHarness(t)
	r := h.init(nil)
	if r.code != 0 || r.producerID != 1000 || r.epoch != 0 {
		t.Fatalf("first init = %+v, want producer 1000 epoch 0", r)
	}
	m, _ := h.lastMeta()
	if m.state != stateEmpty || m.epoch != 0 || m.producerID != 1000 || m.startMs != -1 || m.timeoutMs != 60000 {
		t.Fatalf("record = %+v", m)
	}
	r = h.init(nil)
	if r.code != 0 || r.producerID != 1000 || r.epoch != 1 {
		t.Fatalf("second init = %+v, want epoch 1", r)
	}
	if h.tx.lastEpoch != noEpoch {
		t.Fatalf("lastEpoch = %d after a plain bump, want -1", h.tx.lastEpoch)
	}
}

func TestCommitFlow(t *testing.T) {
	h := newHarness(t)
	h.init(nil)
	h.now = h.now.Add(time.Second)
	if code := h.add(tp("a", 0), tp("a", 1)); code != 0 {
		t.Fatalf("add = %d", code)
	}
	m, _ := h.lastMeta()
	if m.state != stateOngoing || len(m.parts) != 2 || m.startMs != h.now.UnixMilli() {
		t.Fatalf("Ongoing record = %+v", m)
	}
	// Adding a partition already in the transaction writes nothing.
	w := h.w()
	h.tx.addPartitions(h.now, w, 1000, 0, []TopicPartition{tp("a", 1)})
	h.collect()
	if h.code(w) != 0 || len(h.appends) != 0 {
		t.Fatalf("re-add: code %d, appends %d", h.code(w), len(h.appends))
	}
	// A new one is added to the set, keeping the start time.
	start := h.tx.startMs
	h.now = h.now.Add(time.Second)
	if code := h.add(tp("b", 3)); code != 0 || h.tx.startMs != start || len(h.tx.parts) != 3 {
		t.Fatalf("add b-3: code %d start %d parts %v", code, h.tx.startMs, h.tx.parts)
	}

	r := h.end(true)
	if r.code != 0 || r.producerID != 1000 || r.epoch != 0 {
		t.Fatalf("EndTxn = %+v", r)
	}
	if m, _ := h.lastMeta(); m.state != statePrepareCommit || len(m.parts) != 3 {
		t.Fatalf("Prepare record = %+v", m)
	}
	mk := h.answerMarkers(nil)
	if !mk.Commit || mk.ProducerID != 1000 || mk.ProducerEpoch != 0 || mk.CoordinatorEpoch != 5 || len(mk.Partitions) != 3 ||
		mk.Partitions[0] != tp("a", 0) || mk.Partitions[2] != tp("b", 3) {
		t.Fatalf("markers = %+v", mk)
	}
	h.flush(nil)
	m, _ = h.lastMeta()
	if m.state != stateCompleteCommit || len(m.parts) != 0 || h.tx.state != stateCompleteCommit {
		t.Fatalf("Complete record = %+v, state %v", m, h.tx.state)
	}
	// The next transaction starts from CompleteCommit with a new start time.
	h.now = h.now.Add(time.Second)
	if code := h.add(tp("c", 0)); code != 0 || h.tx.startMs != h.now.UnixMilli() || len(h.tx.parts) != 1 {
		t.Fatalf("next txn: code %d start %d parts %v", code, h.tx.startMs, h.tx.parts)
	}
}

func TestEndTxnCodes(t *testing.T) {
	h := newHarness(t)
	h.init(nil)
	endCode := func(pid int64, epoch int16, commit bool) int16 {
		t.Helper()
		w := h.w()
		h.tx.endTxn(h.now, w, pid, epoch, commit)
		h.collect()
		return h.code(w)
	}
	if c := endCode(1000, 0, true); c != kerr.InvalidTxnState.Code {
		t.Fatalf("EndTxn on Empty = %d, want INVALID_TXN_STATE", c)
	}
	h.add(tp("a", 0))
	if c := endCode(999, 0, true); c != kerr.InvalidProducerIDMapping.Code {
		t.Fatalf("wrong producer id = %d", c)
	}
	if c := endCode(1000, 1, true); c != kerr.ProducerFenced.Code {
		t.Fatalf("wrong epoch = %d", c)
	}
	// While the Prepare record is written: CONCURRENT_TRANSACTIONS.
	w := h.w()
	h.tx.endTxn(h.now, w, 1000, 0, true)
	h.collect()
	if c := endCode(1000, 0, true); c != kerr.ConcurrentTransactions.Code {
		t.Fatalf("during the write = %d", c)
	}
	h.flush(nil)
	if h.code(w) != 0 {
		t.Fatalf("EndTxn = %d", h.code(w))
	}
	// While its markers are written: the same result is CONCURRENT, the other INVALID_TXN_STATE.
	if c := endCode(1000, 0, true); c != kerr.ConcurrentTransactions.Code {
		t.Fatalf("commit retry in PrepareCommit = %d", c)
	}
	if c := endCode(1000, 0, false); c != kerr.InvalidTxnState.Code {
		t.Fatalf("abort in PrepareCommit = %d", c)
	}
	w2 := h.w()
	h.tx.addPartitions(h.now, w2, 1000, 0, []TopicPartition{tp("z", 0)})
	h.collect()
	if h.code(w2) != kerr.ConcurrentTransactions.Code {
		t.Fatalf("add in PrepareCommit = %d", h.code(w2))
	}
	h.answerMarkers(nil)
	h.flush(nil)
	// Completed: a retry of the commit succeeds, an abort is INVALID_TXN_STATE.
	if c := endCode(1000, 0, true); c != 0 {
		t.Fatalf("commit retry after completion = %d", c)
	}
	if c := endCode(1000, 0, false); c != kerr.InvalidTxnState.Code {
		t.Fatalf("abort after commit = %d", c)
	}
	// And the mirror for an abort.
	h.add(tp("a", 0))
	if r := h.end(false); r.code != 0 {
		t.Fatalf("abort = %d", r.code)
	}
	if mk := h.answerMarkers(nil); mk.Commit {
		t.Fatal("abort markers say commit")
	}
	h.flush(nil)
	if c := endCode(1000, 0, false); c != 0 {
		t.Fatalf("abort retry = %d", c)
	}
	if c := endCode(1000, 0, true); c != kerr.InvalidTxnState.Code {
		t.Fatalf("commit after abort = %d", c)
	}
}

func TestAddPartitionsCodes(t *testing.T) {
	h := newHarness(t)
	h.init(nil)
	addCode := func(pid int64, epoch int16) int16 {
		t.Helper()
		w := h.w()
		h.tx.addPartitions(h.now, w, pid, epoch, []TopicPartition{tp("a", 0)})
		h.collect()
		return h.code(w)
	}
	if c := addCode(7, 0); c != kerr.InvalidProducerIDMapping.Code {
		t.Fatalf("wrong id = %d", c)
	}
	if c := addCode(1000, 3); c != kerr.ProducerFenced.Code {
		t.Fatalf("wrong epoch = %d", c)
	}
	w := h.w()
	h.tx.addPartitions(h.now, w, 1000, 0, []TopicPartition{tp("a", 0)})
	h.collect()
	// During another kind of write (here an EndTxn's would do too) it is CONCURRENT_TRANSACTIONS;
	// behind an addition it waits (TestConcurrentAddsQueue).
	w2 := h.w()
	h.tx.endTxn(h.now, w2, 1000, 0, true)
	h.collect()
	if c := h.code(w2); c != kerr.ConcurrentTransactions.Code {
		t.Fatalf("EndTxn during a write = %d", c)
	}
	// A failed write leaves the state as it was and answers the mapped error.
	h.flush(kerr.NotEnoughReplicas)
	if h.code(w) != kerr.CoordinatorNotAvailable.Code || h.tx.state != stateEmpty || len(h.tx.parts) != 0 {
		t.Fatalf("failed add: code %d state %v parts %v", h.code(w), h.tx.state, h.tx.parts)
	}
}

func TestInitProducerIDFencesOngoing(t *testing.T) {
	h := newHarness(t)
	h.init(nil)
	h.add(tp("a", 0))
	w := h.w()
	h.tx.initProducerID(h.now, w, 60000, nil, noProducerID)
	h.collect()
	if h.tx.epoch != 1 {
		t.Fatalf("epoch = %d right after the fence, want 1 (taken at once)", h.tx.epoch)
	}
	// The old producer is fenced at once.
	w2 := h.w()
	h.tx.endTxn(h.now, w2, 1000, 0, true)
	h.collect()
	if h.code(w2) != kerr.ProducerFenced.Code {
		t.Fatalf("old producer's EndTxn = %d, want PRODUCER_FENCED", h.code(w2))
	}
	h.flush(nil)
	if h.code(w) != kerr.ConcurrentTransactions.Code {
		t.Fatalf("InitProducerId over Ongoing = %d, want CONCURRENT_TRANSACTIONS", h.code(w))
	}
	if m, _ := h.lastMeta(); m.state != statePrepareAbort || m.epoch != 1 {
		t.Fatalf("fence record = %+v", m)
	}
	mk := h.answerMarkers(nil)
	if mk.Commit || mk.ProducerEpoch != 1 {
		t.Fatalf("fence markers = %+v", mk)
	}
	h.flush(nil)
	if h.tx.state != stateCompleteAbort {
		t.Fatalf("state = %v", h.tx.state)
	}
	if r := h.init(nil); r.code != 0 || r.epoch != 2 {
		t.Fatalf("retried init = %+v, want epoch 2", r)
	}
}

func TestInitProducerIDDuringPrepare(t *testing.T) {
	h := newHarness(t)
	h.init(nil)
	h.add(tp("a", 0))
	h.end(true)
	w := h.w()
	h.tx.initProducerID(h.now, w, 60000, nil, noProducerID)
	h.collect()
	if h.code(w) != kerr.ConcurrentTransactions.Code {
		t.Fatalf("init during PrepareCommit = %d", h.code(w))
	}
}

func TestFailedFenceDoesNotBumpTwice(t *testing.T) {
	h := newHarness(t)
	h.init(nil)
	h.add(tp("a", 0))
	w := h.w()
	h.tx.initProducerID(h.now, w, 60000, nil, noProducerID)
	h.collect()
	h.flush(kerr.NotLeaderForPartition)
	if h.code(w) != kerr.NotCoordinator.Code {
		t.Fatalf("failed fence = %d, want NOT_COORDINATOR", h.code(w))
	}
	if h.tx.state != stateOngoing || h.tx.epoch != 1 || !h.tx.failedFence {
		t.Fatalf("after a failed fence: state %v epoch %d failedFence %v", h.tx.state, h.tx.epoch, h.tx.failedFence)
	}
	// The old producer stays fenced; the next fence keeps epoch 1.
	h.now = h.now.Add(time.Second)
	w = h.w()
	h.tx.initProducerID(h.now, w, 60000, nil, noProducerID)
	h.collect()
	h.flush(nil)
	if m, _ := h.lastMeta(); m.epoch != 1 || m.state != statePrepareAbort {
		t.Fatalf("second fence record = %+v", m)
	}
}

func TestKIP360(t *testing.T) {
	h := newHarness(t)
	// A new id accepts any expected producer (it recovers from UNKNOWN_PRODUCER_ID elsewhere).
	if r := h.init(&producerIDEpoch{77, 3}); r.code != 0 || r.producerID != 1000 || r.epoch != 0 {
		t.Fatalf("init of a new id with an expected producer = %+v", r)
	}
	// The current producer bumps its own epoch; lastEpoch remembers it.
	if r := h.init(&producerIDEpoch{1000, 0}); r.code != 0 || r.epoch != 1 || h.tx.lastEpoch != 0 {
		t.Fatalf("bump with the current epoch = %+v lastEpoch %d", r, h.tx.lastEpoch)
	}
	// Its retry (the answer was lost) gets the same epoch again.
	if r := h.init(&producerIDEpoch{1000, 0}); r.code != 0 || r.epoch != 1 {
		t.Fatalf("retry = %+v, want epoch 1 again", r)
	}
	// Another epoch, or another producer id, is fenced.
	for _, e := range []producerIDEpoch{{1000, 5}, {999, 1}} {
		w := h.w()
		h.tx.initProducerID(h.now, w, 60000, &e, noProducerID)
		h.collect()
		if h.code(w) != kerr.ProducerFenced.Code || len(h.appends) != 0 {
			t.Fatalf("init with %+v = %d, want PRODUCER_FENCED", e, h.code(w))
		}
	}
	// A plain InitProducerId (a new producer instance) resets lastEpoch: the old one can no
	// longer claim a retry.
	h.init(nil)
	w := h.w()
	h.tx.initProducerID(h.now, w, 60000, &producerIDEpoch{1000, 1}, noProducerID)
	h.collect()
	if h.code(w) != kerr.ProducerFenced.Code {
		t.Fatalf("old instance after a new one = %d", h.code(w))
	}
}

func TestEpochExhaustionRotatesProducerID(t *testing.T) {
	h := newHarness(t)
	h.init(nil)
	h.tx.epoch = math.MaxInt16 - 1
	w := h.w()
	if !h.tx.initProducerID(h.now, w, 60000, nil, noProducerID) {
		t.Fatal("an exhausted epoch did not ask for a producer id")
	}
	h.collect()
	if len(h.appends) != 0 || len(h.replies) != 1 { // only the first init's answer
		t.Fatalf("asking for an id changed something: %d appends %d replies", len(h.appends), len(h.replies))
	}
	h.tx.initProducerID(h.now, w, 60000, nil, 2000)
	h.collect()
	h.flush(nil)
	if r := h.result(w); r.code != 0 || r.producerID != 2000 || r.epoch != 0 || h.tx.lastProducerID != 1000 {
		t.Fatalf("rotation = %+v lastProducerID %d", r, h.tx.lastProducerID)
	}

	// KIP-360 across a rotation: the producer that sent the old id and exhausted epoch and
	// missed the answer is not fenced.
	h2 := newHarness(t)
	h2.init(nil)
	h2.tx.epoch = math.MaxInt16 - 1
	w = h2.w()
	h2.tx.initProducerID(h2.now, w, 60000, &producerIDEpoch{1000, math.MaxInt16 - 1}, 2000)
	h2.collect()
	h2.flush(nil)
	if r := h2.result(w); r.code != 0 || r.producerID != 2000 || r.epoch != 0 || h2.tx.lastEpoch != math.MaxInt16-1 {
		t.Fatalf("KIP-360 rotation = %+v lastEpoch %d", r, h2.tx.lastEpoch)
	}
	if r := h2.init(&producerIDEpoch{1000, math.MaxInt16 - 1}); r.code != 0 || r.producerID != 2000 || r.epoch != 0 {
		t.Fatalf("retry of the rotation = %+v", r)
	}
}

func TestTimeoutAbortsAndFences(t *testing.T) {
	h := newHarness(t)
	h.init(nil)
	h.add(tp("a", 0))
	at, ok := h.tx.nextDeadline()
	if want := h.now.Add(60*time.Second + time.Millisecond); !ok || !at.Equal(want) {
		t.Fatalf("deadline %v %v, want %v", at, ok, want)
	}
	h.advance(60 * time.Second) // start + timeout is not yet passed
	if len(h.appends) != 0 {
		t.Fatal("aborted at the timeout itself")
	}
	h.advance(time.Millisecond)
	if len(h.appends) != 1 || h.tx.epoch != 1 {
		t.Fatalf("no abort after the timeout: %d appends, epoch %d", len(h.appends), h.tx.epoch)
	}
	h.flush(nil)
	mk := h.answerMarkers(nil)
	if mk.Commit || mk.ProducerEpoch != 1 {
		t.Fatalf("timeout markers = %+v", mk)
	}
	h.flush(nil)
	if h.tx.state != stateCompleteAbort {
		t.Fatalf("state = %v", h.tx.state)
	}
	// The zombie producer is fenced.
	w := h.w()
	h.tx.endTxn(h.now, w, 1000, 0, true)
	h.collect()
	if h.code(w) != kerr.ProducerFenced.Code {
		t.Fatalf("zombie EndTxn = %d", h.code(w))
	}
}

func TestTimeoutFenceRetriesAfterBackoff(t *testing.T) {
	h := newHarness(t)
	h.init(nil)
	h.add(tp("a", 0))
	h.advance(61 * time.Second)
	h.flush(kerr.NotEnoughReplicas)
	h.advance(time.Millisecond)
	if len(h.appends) != 0 {
		t.Fatal("retried before the backoff")
	}
	h.advance(DefaultRetryBackoff)
	if len(h.appends) != 1 || h.tx.epoch != 1 {
		t.Fatalf("retry: %d appends, epoch %d (want 1: no second bump)", len(h.appends), h.tx.epoch)
	}
}

func TestExpiration(t *testing.T) {
	h := newHarness(t)
	h.init(nil)
	h.add(tp("a", 0))
	h.end(true)
	h.answerMarkers(nil)
	h.flush(nil)
	h.advance(DefaultIDExpiration - time.Millisecond)
	if len(h.appends) != 0 {
		t.Fatal("expired early")
	}
	h.advance(time.Millisecond)
	if len(h.appends) != 1 || h.appends[0].rec.Value != nil {
		t.Fatalf("no tombstone: %+v", h.appends)
	}
	// While the tombstone is written, requests are CONCURRENT_TRANSACTIONS.
	w := h.w()
	h.tx.initProducerID(h.now, w, 60000, nil, noProducerID)
	h.collect()
	if h.code(w) != kerr.ConcurrentTransactions.Code {
		t.Fatalf("init during expiry = %d", h.code(w))
	}
	h.flush(errors.New("disk"))
	if h.tx.removed || h.tx.state != stateCompleteCommit {
		t.Fatal("a failed tombstone removed the id")
	}
	h.advance(10 * DefaultRetryBackoff)
	h.flush(nil)
	if !h.tx.removed {
		t.Fatal("not removed after the tombstone")
	}
	if _, ok := h.tx.nextDeadline(); ok {
		t.Fatal("a removed id has a deadline")
	}
}

func TestOngoingDoesNotExpire(t *testing.T) {
	h := newHarness(t)
	h.init(nil)
	h.tx.timeoutMs = math.MaxInt32
	h.add(tp("a", 0))
	h.advance(DefaultIDExpiration + time.Hour)
	if len(h.appends) != 0 {
		t.Fatal("an Ongoing transaction expired")
	}
}

func TestMarkerRetries(t *testing.T) {
	h := newHarness(t)
	h.init(nil)
	h.add(tp("a", 0), tp("a", 1), tp("b", 0), tp("c", 0))
	h.end(true)
	// a-0 written, a-1 not led, b-0 unanswered, c-0 unsupported (counts as done, as in Kafka).
	h.answerMarkers(map[TopicPartition]int16{
		tp("a", 0): 0, tp("a", 1): kerr.NotLeaderForPartition.Code, tp("c", 0): kerr.UnsupportedForMessageFormat.Code,
	})
	if len(h.markers) != 0 || len(h.appends) != 0 {
		t.Fatal("retried at once")
	}
	h.advance(DefaultRetryBackoff)
	mk := h.answerMarkers(nil)
	if len(mk.Partitions) != 2 || mk.Partitions[0] != tp("a", 1) || mk.Partitions[1] != tp("b", 0) {
		t.Fatalf("retry sent %v", mk.Partitions)
	}
	if len(h.appends) != 1 {
		t.Fatal("no Complete record after the last marker")
	}
	// The Complete record is retried until written.
	h.flush(kerr.RequestTimedOut)
	h.advance(DefaultRetryBackoff)
	h.flush(nil)
	if h.tx.state != stateCompleteCommit {
		t.Fatalf("state = %v", h.tx.state)
	}
}

func TestMarkersAbandonedWhenObsolete(t *testing.T) {
	h := newHarness(t)
	h.init(nil)
	h.add(tp("a", 0))
	h.end(false)
	h.answerMarkers(map[TopicPartition]int16{tp("a", 0): kerr.TransactionCoordinatorFenced.Code})
	h.advance(time.Hour)
	if len(h.markers) != 0 || len(h.appends) != 0 {
		t.Fatal("obsolete markers were sent again")
	}
	if h.tx.state != statePrepareAbort {
		t.Fatalf("state = %v", h.tx.state)
	}
}

func TestVerify(t *testing.T) {
	h := newHarness(t)
	h.init(nil)
	h.add(tp("a", 0))
	codes := h.tx.verify(1000, 0, []TopicPartition{tp("a", 0), tp("a", 1)})
	if codes[tp("a", 0)] != 0 || codes[tp("a", 1)] != kerr.InvalidTxnState.Code {
		t.Fatalf("verify = %v", codes)
	}
	if c := h.tx.verify(1000, 1, []TopicPartition{tp("a", 0)}); c[tp("a", 0)] != kerr.ProducerFenced.Code {
		t.Fatalf("verify with a wrong epoch = %v", c)
	}
	if c := h.tx.verify(9, 0, []TopicPartition{tp("a", 0)}); c[tp("a", 0)] != kerr.InvalidProducerIDMapping.Code {
		t.Fatalf("verify with a wrong id = %v", c)
	}
	h.end(true)
	if c := h.tx.verify(1000, 0, []TopicPartition{tp("a", 0)}); c[tp("a", 0)] != kerr.ConcurrentTransactions.Code {
		t.Fatalf("verify during PrepareCommit = %v", c)
	}
	h.answerMarkers(nil)
	h.flush(nil)
	if c := h.tx.verify(1000, 0, []TopicPartition{tp("a", 0)}); c[tp("a", 0)] != kerr.InvalidTxnState.Code {
		t.Fatalf("verify after the commit = %v", c)
	}
}

func TestReplayRecoversMidCommit(t *testing.T) {
	h := newHarness(t)
	h.init(nil)
	h.add(tp("a", 0), tp("b", 1))
	h.end(true) // PrepareCommit durable, markers never answered: the coordinator dies

	ld := newLoader()
	for _, r := range h.written {
		if err := ld.add(r); err != nil {
			t.Fatal(err)
		}
	}
	m := ld.txns["tx"]
	if m.state != statePrepareCommit || len(m.parts) != 2 || m.producerID != 1000 || m.epoch != 0 || m.timeoutMs != 60000 {
		t.Fatalf("replayed = %+v", m)
	}
	h2 := &harness{t: t, now: h.now.Add(time.Minute), replies: map[waiter]result{}}
	h2.tx = loadTxn("tx", testLimits(), 6, m)
	h2.tx.onLoaded(h2.now)
	h2.collect()
	mk := h2.answerMarkers(nil)
	if !mk.Commit || mk.CoordinatorEpoch != 6 || len(mk.Partitions) != 2 {
		t.Fatalf("recovered markers = %+v", mk)
	}
	h2.flush(nil)
	if got, _ := h2.lastMeta(); got.state != stateCompleteCommit {
		t.Fatalf("recovered state = %v", got.state)
	}
}

func TestLoaderLastWinsTombstoneDeletes(t *testing.T) {
	ld := newLoader()
	a := meta{producerID: 1, epoch: 0, timeoutMs: 1000, state: stateEmpty, startMs: -1, lastUpdateMs: 5}
	b := a
	b.state, b.epoch, b.parts = stateOngoing, 1, map[TopicPartition]struct{}{tp("x", 2): {}}
	for _, r := range []Record{record("a", &a, 0), record("b", &a, 0), record("a", &b, 0), tombstone("b"),
		{Key: []byte{0, 1, 0, 0}, Value: []byte{1}}} { // a key version this package does not know
		if err := ld.add(r); err != nil {
			t.Fatal(err)
		}
	}
	if len(ld.txns) != 1 || ld.txns["a"].state != stateOngoing || ld.txns["a"].epoch != 1 {
		t.Fatalf("loaded = %+v", ld.txns)
	}
	if _, ok := ld.txns["a"].parts[tp("x", 2)]; !ok {
		t.Fatal("partitions lost")
	}
	if err := ld.add(Record{Key: []byte{0}}); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("short key: %v", err)
	}
	if err := ld.add(Record{Key: recordKey("c"), Value: []byte{0, 0, 1}}); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("short value: %v", err)
	}
}

func TestAppendErrorCodes(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int16
	}{
		{kerr.NotEnoughReplicas, kerr.CoordinatorNotAvailable.Code},
		{kerr.RequestTimedOut, kerr.CoordinatorNotAvailable.Code},
		{kerr.UnknownTopicOrPartition, kerr.CoordinatorNotAvailable.Code},
		{kerr.NotLeaderForPartition, kerr.NotCoordinator.Code},
		{kerr.KafkaStorageError, kerr.NotCoordinator.Code},
		{kerr.MessageTooLarge, kerr.UnknownServerError.Code},
		{errors.New("x"), kerr.UnknownServerError.Code},
	} {
		if got := appendErrorCode(c.err); got != c.want {
			t.Errorf("%v -> %d, want %d", c.err, got, c.want)
		}
	}
}

// TestRotationRetryAfterATransaction: the last producer id survives the transitions after a
// rotation (only InitProducerId changes it), so a late retry of the rotation is still recognized.
func TestRotationRetryAfterATransaction(t *testing.T) {
	h := newHarness(t)
	h.init(nil)
	h.tx.epoch = math.MaxInt16 - 1
	w := h.w()
	h.tx.initProducerID(h.now, w, 60000, &producerIDEpoch{1000, math.MaxInt16 - 1}, 2000)
	h.collect()
	h.flush(nil)
	h.add(tp("a", 0))
	h.end(true)
	h.answerMarkers(nil)
	h.flush(nil)
	if h.tx.lastProducerID != 1000 {
		t.Fatalf("lastProducerID = %d after a transaction, want 1000", h.tx.lastProducerID)
	}
	if !h.tx.validProducerID(producerIDEpoch{1000, math.MaxInt16 - 1}) {
		t.Fatal("the retry of the rotation is not recognized")
	}
}

// TestEndTxnHeldUntilComplete: with an EndTxn hold, the answer waits for the markers, and the
// client's next AddPartitionsToTxn, sent while the Complete record is written, waits for that
// write instead of answering CONCURRENT_TRANSACTIONS (and fails retriably if it fails); a hold
// that runs out (markers stuck), or a resignation, answers it anyway, since the Prepare record
// already decided the outcome.
func TestEndTxnHeldUntilComplete(t *testing.T) {
	held := func(t *testing.T) (*harness, waiter) {
		h := newHarness(t)
		h.tx.lim.endHold = 5 * time.Second
		h.init(nil)
		h.add(tp("a", 0), tp("b", 1))
		w := h.w()
		h.tx.endTxn(h.now, w, h.tx.producerID, h.tx.epoch, true)
		h.collect()
		h.flush(nil) // the Prepare record
		if _, ok := h.replies[w]; ok {
			t.Fatal("EndTxn answered before its markers were written")
		}
		if at, ok := h.tx.nextDeadline(); !ok || !at.Equal(h.now.Add(5*time.Second)) {
			t.Fatalf("next deadline = %v %v, want the end of the hold", at, ok)
		}
		return h, w
	}

	t.Run("complete", func(t *testing.T) {
		h, w := held(t)
		h.answerMarkers(map[TopicPartition]int16{tp("a", 0): 0}) // b-1's leader does not answer
		if _, ok := h.replies[w]; ok {
			t.Fatal("EndTxn answered before every marker was written")
		}
		h.advance(h.tx.lim.retryBackoff)
		h.answerMarkers(nil)
		if r := h.result(w); r.code != 0 || r.producerID != 1000 {
			t.Fatalf("EndTxn = %+v", r)
		}
		if len(h.appends) != 1 || h.tx.state != statePrepareCommit {
			t.Fatalf("appends %d, state %v: want the Complete record being written", len(h.appends), h.tx.state)
		}
		next := h.w()
		h.tx.addPartitions(h.now, next, h.tx.producerID, h.tx.epoch, []TopicPartition{tp("c", 0)})
		h.collect()
		if _, ok := h.replies[next]; ok || len(h.appends) != 1 {
			t.Fatalf("the next AddPartitionsToTxn did not wait for the Complete record: %v", h.replies[next])
		}
		h.flush(nil) // Complete, then the addition queued behind it
		if h.code(next) != 0 || h.tx.state != stateOngoing || !h.tx.hasAll([]TopicPartition{tp("c", 0)}) {
			t.Fatalf("the next transaction's AddPartitionsToTxn = %d, state %v", h.code(next), h.tx.state)
		}
		if m, _ := h.lastMeta(); m.state != stateOngoing {
			t.Fatalf("last record %v, want Ongoing after CompleteCommit", m.state)
		}
	})
	t.Run("complete fails", func(t *testing.T) {
		h, w := held(t)
		h.answerMarkers(nil)
		h.result(w)
		next := h.w()
		h.tx.addPartitions(h.now, next, h.tx.producerID, h.tx.epoch, []TopicPartition{tp("c", 0)})
		h.collect()
		h.flush(errors.New("disk on fire"))
		if h.code(next) != kerr.ConcurrentTransactions.Code {
			t.Fatalf("behind a failed Complete record: %d, want CONCURRENT_TRANSACTIONS", h.code(next))
		}
		h.advance(h.tx.lim.retryBackoff) // the Complete record again
		h.flush(nil)
		if h.tx.state != stateCompleteCommit {
			t.Fatalf("state %v", h.tx.state)
		}
		if code := h.add(tp("c", 0)); code != 0 {
			t.Fatalf("the retried AddPartitionsToTxn = %d", code)
		}
	})
	t.Run("hold runs out", func(t *testing.T) {
		h, w := held(t)
		h.answerMarkers(map[TopicPartition]int16{tp("a", 0): 0}) // b-1's leader does not answer
		h.advance(4 * time.Second)
		if _, ok := h.replies[w]; ok {
			t.Fatal("EndTxn answered before the hold ran out")
		}
		h.advance(time.Second)
		if r := h.result(w); r.code != 0 {
			t.Fatalf("EndTxn after the hold = %+v", r)
		}
		if h.tx.state != statePrepareCommit {
			t.Fatalf("state = %v, want PrepareCommit until b-1 has its marker", h.tx.state)
		}
	})
	t.Run("resigned", func(t *testing.T) {
		h, w := held(t)
		h.tx.unload()
		h.collect()
		if r := h.result(w); r.code != 0 {
			t.Fatalf("EndTxn after a resignation = %+v", r)
		}
	})
}

// TestConcurrentAddsQueue: an AddPartitionsToTxn that arrives while another of the same producer
// is being written waits for it instead of answering CONCURRENT_TRANSACTIONS; one already covered
// by the first is answered without a write, a new partition gets its own; a failed write fails
// the queue with it; another producer epoch is refused at once.
func TestConcurrentAddsQueue(t *testing.T) {
	h := newHarness(t)
	h.init(nil)
	w1, w2, w3, w4 := h.w(), h.w(), h.w(), h.w()
	pid, epoch := h.tx.producerID, h.tx.epoch
	h.tx.addPartitions(h.now, w1, pid, epoch, []TopicPartition{tp("a", 0)})
	h.tx.addPartitions(h.now, w2, pid, epoch, []TopicPartition{tp("a", 0)})
	h.tx.addPartitions(h.now, w3, pid, epoch, []TopicPartition{tp("b", 0)})
	h.tx.addPartitions(h.now, w4, pid, epoch+1, []TopicPartition{tp("c", 0)})
	h.collect()
	if h.code(w4) != kerr.InvalidProducerEpoch.Code && h.code(w4) != kerr.ProducerFenced.Code {
		t.Fatalf("another epoch: %d", h.code(w4))
	}
	for _, w := range []waiter{w1, w2, w3} {
		if _, ok := h.replies[w]; ok || len(h.appends) != 1 {
			t.Fatalf("replies %v, appends %d: want only the first addition's write", h.replies, len(h.appends))
		}
	}
	h.flush(nil)
	if h.code(w1) != 0 || h.code(w2) != 0 || h.code(w3) != 0 {
		t.Fatalf("codes %d %d %d", h.code(w1), h.code(w2), h.code(w3))
	}
	if len(h.written) != 3 || !h.tx.hasAll([]TopicPartition{tp("a", 0), tp("b", 0)}) { // init, a-0, then a-0 + b-0
		t.Fatalf("written %d records, parts %v", len(h.written), h.tx.parts)
	}

	// Several queued behind one write share the next: one record with all their partitions.
	w7, w8, w9 := h.w(), h.w(), h.w()
	h.tx.addPartitions(h.now, w7, pid, epoch, []TopicPartition{tp("f", 0)})
	h.tx.addPartitions(h.now, w8, pid, epoch, []TopicPartition{tp("g", 0)})
	h.tx.addPartitions(h.now, w9, pid, epoch, []TopicPartition{tp("h", 0), tp("a", 0)})
	h.collect()
	before := len(h.written)
	h.flush(nil)
	if h.code(w7) != 0 || h.code(w8) != 0 || h.code(w9) != 0 || len(h.written) != before+2 {
		t.Fatalf("codes %d %d %d, %d records written, want 2", h.code(w7), h.code(w8), h.code(w9), len(h.written)-before)
	}
	if m, _ := h.lastMeta(); len(m.parts) != 5 {
		t.Fatalf("the merged record holds %v", m.parts)
	}

	w5, w6 := h.w(), h.w()
	h.tx.addPartitions(h.now, w5, pid, epoch, []TopicPartition{tp("d", 0)})
	h.tx.addPartitions(h.now, w6, pid, epoch, []TopicPartition{tp("e", 0)})
	h.collect()
	h.flush(errors.New("disk on fire"))
	if h.code(w5) == 0 || h.code(w6) != h.code(w5) {
		t.Fatalf("after a failed write: %d %d", h.code(w5), h.code(w6))
	}
}
