package txn

import (
	"maps"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// state is one of Kafka's transaction states; the values are the ids Kafka writes in
// TxnMetadataValue.State.
type state int8

const (
	stateEmpty state = iota
	stateOngoing
	statePrepareCommit
	statePrepareAbort
	stateCompleteCommit
	stateCompleteAbort
	stateDead
	statePrepareEpochFence
)

var stateNames = [...]string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit",
	"CompleteAbort", "Dead", "PrepareEpochFence"}

func (s state) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return "Unknown"
	}
	return stateNames[s]
}

func stateFromName(name string) (state, bool) {
	for i, n := range stateNames {
		if n == name {
			return state(i), true
		}
	}
	return 0, false
}

// expirable is Kafka's isExpirationAllowed: an idle id in one of these states may be removed.
func (s state) expirable() bool {
	return s == stateEmpty || s == stateCompleteCommit || s == stateCompleteAbort
}

const (
	noProducerID int64 = -1
	noEpoch      int16 = -1
)

// epochExhausted is Kafka's TransactionMetadata.isEpochExhausted: a producer never gets the last
// epoch, so that the coordinator can always fence it by bumping once more.
func epochExhausted(e int16) bool { return e >= math.MaxInt16-1 }

// meta is what one __transaction_state record holds (Kafka's TxnTransitMetadata).
type meta struct {
	producerID     int64
	lastProducerID int64 // Kafka's previousProducerId: persisted by value v1 only, -1 after loading v0
	nextProducerID int64 // a transaction version 2 end that exhausted the epoch: the id after it (value v1)
	epoch          int16
	lastEpoch      int16 // never persisted (Kafka's lastProducerEpoch): -1 after a load
	tv             int16 // the client's transaction version of the last transition (value v1)
	timeoutMs      int32
	state          state
	parts          map[TopicPartition]struct{}
	startMs        int64 // -1: no transaction yet
	lastUpdateMs   int64
}

func (m meta) clone() meta {
	m.parts = maps.Clone(m.parts)
	if m.parts == nil {
		m.parts = map[TopicPartition]struct{}{}
	}
	return m
}

// waiter identifies a parked request; the runtime maps it to the caller. 0 means none.
type waiter uint64

// result is the answer to one request: an error code and, for InitProducerId and EndTxn, the
// producer id and epoch.
type result struct {
	code       int16
	producerID int64
	epoch      int16
}

func fail(code int16) result { return result{code: code, producerID: noProducerID, epoch: noEpoch} }

type reply struct {
	to  waiter
	res result
}

// appendReq asks the runtime to persist a record; it answers with txn.appendDone(seq, err).
type appendReq struct {
	seq uint64
	rec Record
}

// markerReq asks the runtime to write markers; it answers with txn.markersDone(seq, codes).
type markerReq struct {
	seq uint64
	m   Markers
}

// output is what a step of the machine asks the runtime to do.
type output struct {
	replies []reply
	appends []appendReq
	markers []markerReq
}

// kind is what a pending transition was started for: it decides what its completion does.
type kind int8

const (
	kindInit     kind = iota // InitProducerId: Empty with a bumped epoch or a new producer id
	kindAdd                  // AddPartitionsToTxn / AddOffsetsToTxn: Ongoing
	kindEnd                  // EndTxn from the client: PrepareCommit / PrepareAbort
	kindFence                // an abort with a bumped epoch (InitProducerId over an Ongoing txn, or a timeout)
	kindComplete             // markers written: CompleteCommit / CompleteAbort
	kindDead                 // expiration: a tombstone
)

// transit is Kafka's pendingState with its TxnTransitMetadata: a transition being written.
type transit struct {
	seq  uint64
	kind kind
	to   meta
	w    waiter
	also []waiter // additions merged into this one's write (kindAdd): answered as w is
}

// answer gives the transition's waiters, w and those merged into it, the same answer.
func (t *txn) answer(p *transit, r result) {
	t.respond(p.w, r)
	for _, w := range p.also {
		t.respond(w, r)
	}
}

// limits are the settings a machine needs.
type limits struct {
	expiration   time.Duration
	retryBackoff time.Duration
	endHold      time.Duration // how long EndTxn's answer waits for the markers at most (0: not at all)
	valueVersion int16         // of the TxnMetadataValue records written: 1 from transaction version 1
}

// endHold is limits.endHold's default (Config.EndTxnHold).
const endHold = 5 * time.Second

// maxQueuedAdds bounds the AddPartitionsToTxn requests one id queues behind a write (a client
// with a sink per broker sends one per broker at once).
const maxQueuedAdds = 64

// queuedAdd is an AddPartitionsToTxn (or AddOffsetsToTxn) of the current producer that arrived
// while another one's record was being written.
type queuedAdd struct {
	w          waiter
	producerID int64
	epoch      int16
	parts      []TopicPartition
	tv         int16
}

// heldEnd is an EndTxn answer waiting for its transaction's markers.
type heldEnd struct {
	w     waiter
	res   result
	until time.Time
}

// txn is the state machine of one transactional id (Kafka's TransactionMetadata plus the
// TransactionCoordinator logic that drives it). It does no IO and starts no goroutines: every
// method takes the current time, and what it wants done is collected in out (see take) and
// nextDeadline. At most one transition is written at a time (pending), and while a Prepare state
// waits for its markers every request but a retry answers CONCURRENT_TRANSACTIONS, so the
// records of one id are written in order without the runtime having to queue them.
type txn struct {
	id         string
	lim        *limits
	coordEpoch int32

	meta
	pending     *transit
	failedFence bool // Kafka's hasFailedEpochFence: the bumped epoch of a fence was not persisted

	// Markers of a Prepare state: in flight, or to send again at retryAt. markersAbandoned is set
	// when a leader answered that they are obsolete (Kafka stops sending them too).
	markerSeq        uint64
	markersOut       bool
	markersAbandoned bool
	retryAt          time.Time // zero: nothing to retry (markers or the Complete record)
	held             *heldEnd  // EndTxn's answer, until every marker is written
	queued           []queuedAdd

	seq     uint64
	removed bool // the tombstone is durable: the runtime forgets the id
	out     output
}

// newTxn is a transactional id seen for the first time (Kafka's handleInitProducerId creating its
// metadata): a new producer id, no epoch yet, Empty.
func newTxn(id string, lim *limits, coordEpoch int32, producerID int64, timeoutMs int32, now time.Time) *txn {
	return &txn{id: id, lim: lim, coordEpoch: coordEpoch, meta: meta{
		producerID: producerID, lastProducerID: noProducerID, nextProducerID: noProducerID, epoch: noEpoch, lastEpoch: noEpoch,
		timeoutMs: timeoutMs, state: stateEmpty, parts: map[TopicPartition]struct{}{},
		startMs: -1, lastUpdateMs: now.UnixMilli(),
	}}
}

// loadTxn is a transactional id replayed from its last record.
func loadTxn(id string, lim *limits, coordEpoch int32, m meta) *txn {
	return &txn{id: id, lim: lim, coordEpoch: coordEpoch, meta: m.clone()}
}

func (t *txn) take() output {
	out := t.out
	t.out = output{}
	return out
}

func (t *txn) respond(w waiter, r result) {
	if w != 0 {
		t.out.replies = append(t.out.replies, reply{w, r})
	}
}

// begin starts writing a transition (Kafka's prepareTransitionTo followed by
// appendTransactionToLog); appendDone completes it.
func (t *txn) begin(k kind, to meta, w waiter) {
	t.seq++
	t.retryAt = time.Time{}
	t.pending = &transit{seq: t.seq, kind: k, to: to, w: w}
	t.out.appends = append(t.out.appends, appendReq{seq: t.seq, rec: record(t.id, &to, t.lim.valueVersion)})
}

// next returns the current metadata as the start of a transition. The last producer id and
// epoch change only with InitProducerId (Kafka's completeTransitionTo copies them only into an
// Empty state), which sets them itself.
func (t *txn) next(s state, now time.Time) meta {
	m := t.meta.clone()
	m.state = s
	m.lastUpdateMs = now.UnixMilli()
	return m
}

// producerIDEpoch is the optional (producer id, epoch) of InitProducerId v3+ (KIP-360).
type producerIDEpoch struct {
	id    int64
	epoch int16
}

// initProducerID is Kafka's prepareInitProducerIdTransit. fresh is a newly allocated producer id,
// or -1: when the epoch is exhausted and no fresh id was given, it changes nothing and returns
// true, and the runtime calls it again with one.
func (t *txn) initProducerID(now time.Time, w waiter, timeoutMs int32, expected *producerIDEpoch, fresh int64) (needID bool) {
	switch {
	case t.pending != nil:
		t.respond(w, fail(kerr.ConcurrentTransactions.Code))
		return false
	case expected != nil && !t.validProducerID(*expected):
		t.respond(w, fail(kerr.ProducerFenced.Code))
		return false
	}
	switch t.state {
	case statePrepareCommit, statePrepareAbort:
		t.respond(w, fail(kerr.ConcurrentTransactions.Code))
	case stateEmpty, stateCompleteCommit, stateCompleteAbort:
		var to meta
		if epochExhausted(t.epoch) && (expected == nil || expected.epoch == t.epoch) {
			if fresh < 0 {
				return true
			}
			// Kafka's prepareProducerIdRotation: a new producer id at epoch 0.
			to = t.next(stateEmpty, now)
			to.producerID, to.epoch, to.lastEpoch = fresh, 0, noEpoch
			if expected != nil {
				to.lastEpoch = t.epoch
			}
		} else {
			epoch, last, code := t.bumpedEpoch(expected)
			if code != 0 {
				t.respond(w, fail(code))
				return false
			}
			to = t.next(stateEmpty, now)
			to.epoch, to.lastEpoch = epoch, last
		}
		to.lastProducerID = t.producerID
		to.nextProducerID = noProducerID
		to.timeoutMs = timeoutMs
		to.parts = map[TopicPartition]struct{}{}
		to.startMs = -1
		t.begin(kindInit, to, w)
	case stateOngoing:
		// Abort the open transaction with a bumped epoch, fencing its producer, and let the
		// client retry: the retry bumps the epoch again (Kafka answers CONCURRENT_TRANSACTIONS
		// once the abort is prepared).
		t.fence(now, w)
	default: // Dead and PrepareEpochFence are never current states
		t.respond(w, fail(kerr.ConcurrentTransactions.Code))
	}
	return false
}

// validProducerID is Kafka's isValidProducerId for a KIP-360 InitProducerId: a new id (no epoch
// yet), the current producer id, or a retry of a rotation that the producer did not hear about.
func (t *txn) validProducerID(e producerIDEpoch) bool {
	return t.epoch == noEpoch || e.id == t.producerID || (e.id == t.lastProducerID && epochExhausted(e.epoch))
}

// bumpedEpoch is Kafka's prepareIncrementProducerEpoch: the next epoch and the last one.
func (t *txn) bumpedEpoch(expected *producerIDEpoch) (epoch, last int16, code int16) {
	bump := t.epoch + 1
	switch {
	case expected == nil:
		epoch, last = bump, noEpoch
	case t.epoch == noEpoch || expected.epoch == t.epoch:
		// The producer continues after an error and nobody else initialized since.
		epoch, last = bump, t.epoch
	case expected.epoch == t.lastEpoch:
		// A retry of a bump whose answer was lost: the same answer again.
		return t.epoch, t.lastEpoch, 0
	default:
		return 0, 0, kerr.ProducerFenced.Code
	}
	if epochExhausted(t.epoch) { // only reachable with an expected epoch that is not current
		return 0, 0, kerr.ProducerFenced.Code
	}
	return epoch, last, 0
}

// fence aborts the Ongoing transaction with a bumped epoch (Kafka's prepareFenceProducerEpoch
// followed by endTransaction(ABORT, isFromClient = false)): the markers carry the new epoch, so the
// partitions refuse the old producer's late writes. Like Kafka, the epoch is taken at once even
// though it is persisted only with the PrepareAbort record; if that write fails the next fence
// does not bump again (failedFence), so epochs are never skipped twice.
func (t *txn) fence(now time.Time, w waiter) {
	if t.epoch == math.MaxInt16 { // cannot happen: producers never get the last two epochs
		t.respond(w, fail(kerr.UnknownServerError.Code))
		return
	}
	if !t.failedFence {
		t.epoch++
	}
	t.lastEpoch = noEpoch
	to := t.next(statePrepareAbort, now)
	// The abort is the coordinator's, not the client's EndTxn: recording transaction version 0
	// makes the Complete state follow version 1's rules, so the fenced producer's EndTxn with
	// the epoch just below is PRODUCER_FENCED, not taken for a retry of a version 2 end (Kafka
	// bumps the epoch twice on such a fence for the same reason).
	to.tv, to.nextProducerID = 0, noProducerID
	t.begin(kindFence, to, w)
}

// addPartitions is Kafka's handleAddPartitionsToTransaction (for AddOffsetsToTxn too). One that
// arrives while another addition of the same producer is being written, or the Complete record of
// its previous transaction (EndTxn is answered before it: see markersDone), waits for it (Kafka
// answers CONCURRENT_TRANSACTIONS, and the client backs off 20 ms or more: franz-go sends one
// AddPartitionsToTxn per broker it produces to, at once).
func (t *txn) addPartitions(now time.Time, w waiter, producerID int64, epoch int16, parts []TopicPartition) {
	t.addPartitionsVersion(now, w, producerID, epoch, parts, 0)
}

// addPartitionsVersion is addPartitions for a client of transaction version tv: 0 for
// AddPartitionsToTxn v0-v3, 2 for a partition leader's add of a Produce v12 or TxnOffsetCommit v5
// (KIP-890 part 2), tvKeep for AddOffsetsToTxn. It is recorded with the transaction, as Kafka's
// prepareAddPartitions does. An addition queued behind the Complete record of a version 2 end
// that rotated the producer id carries the new id: it is queued when it matches the id and
// epoch that record sets.
func (t *txn) addPartitionsVersion(now time.Time, w waiter, producerID int64, epoch int16, parts []TopicPartition, tv int16) {
	if p := t.pending; p != nil && (p.kind == kindAdd || p.kind == kindComplete) &&
		producerID == p.to.producerID && epoch == p.to.epoch && len(t.queued) < maxQueuedAdds {
		t.queued = append(t.queued, queuedAdd{w: w, producerID: producerID, epoch: epoch, parts: parts, tv: tv})
		return
	}
	t.addPartitionsFor([]waiter{w}, producerID, epoch, parts, tv, now)
}

// addPartitionsFor runs one addition for several requests (ws, additions queued behind the same
// write: see runQueued), with the union of their partitions: one record, one answer for all.
func (t *txn) addPartitionsFor(ws []waiter, producerID int64, epoch int16, parts []TopicPartition, tv int16, now time.Time) {
	all := func(r result) {
		for _, w := range ws {
			t.respond(w, r)
		}
	}
	if code := t.check(producerID, epoch); code != 0 {
		all(fail(code))
		return
	}
	switch t.state {
	case statePrepareCommit, statePrepareAbort:
		all(fail(kerr.ConcurrentTransactions.Code))
		return
	case stateOngoing:
		if t.hasAll(parts) {
			all(result{})
			return
		}
	}
	to := t.next(stateOngoing, now)
	if t.state != stateOngoing {
		to.startMs = now.UnixMilli()
	}
	for _, tp := range parts {
		to.parts[tp] = struct{}{}
	}
	if tv != tvKeep {
		to.tv = tv
	}
	t.begin(kindAdd, to, ws[0])
	t.pending.also = ws[1:]
}

// check validates a request's producer id and epoch against the current ones, and refuses a
// request while a transition is being written.
func (t *txn) check(producerID int64, epoch int16) int16 {
	switch {
	case producerID != t.producerID:
		return kerr.InvalidProducerIDMapping.Code
	case epoch != t.epoch:
		return kerr.ProducerFenced.Code
	case t.pending != nil:
		return kerr.ConcurrentTransactions.Code
	}
	return 0
}

func (t *txn) hasAll(parts []TopicPartition) bool {
	for _, tp := range parts {
		if _, ok := t.parts[tp]; !ok {
			return false
		}
	}
	return true
}

// verify is Kafka's handleVerifyPartitionsInTransaction (AddPartitionsToTxn v4 VerifyOnly, KIP-890
// part 1): whether each partition is in the ongoing transaction, so that a partition leader
// refuses a transactional write the coordinator does not know about. It changes nothing: the
// pending state is not checked, partitions count once their addition is durable.
func (t *txn) verify(producerID int64, epoch int16, parts []TopicPartition) map[TopicPartition]int16 {
	codes := make(map[TopicPartition]int16, len(parts))
	var all int16
	switch {
	case producerID != t.producerID:
		all = kerr.InvalidProducerIDMapping.Code
	case epoch != t.epoch:
		all = kerr.ProducerFenced.Code
	case t.state == statePrepareCommit || t.state == statePrepareAbort:
		all = kerr.ConcurrentTransactions.Code
	}
	for _, tp := range parts {
		code := all
		if _, ok := t.parts[tp]; code == 0 && !ok {
			code = kerr.InvalidTxnState.Code // Kafka 3.6-3.7; 3.8+ answers TRANSACTION_ABORTABLE
		}
		codes[tp] = code
	}
	return codes
}

// endTxn is EndTxn v0-v4 (transaction version 0/1: the epoch must be the current one and stays).
func (t *txn) endTxn(now time.Time, w waiter, producerID int64, epoch int16, commit bool) {
	t.endTxnVersion(now, w, producerID, epoch, commit, false, noProducerID)
}

// appendDone completes (err == nil) or abandons the pending transition, as Kafka's
// appendTransactionToLog callback and what its callers do next.
func (t *txn) appendDone(now time.Time, seq uint64, err error) {
	p := t.pending
	if p == nil || p.seq != seq {
		return
	}
	t.pending = nil
	if err != nil {
		code := appendErrorCode(err)
		switch p.kind {
		case kindComplete:
			// The markers are written: the Complete record must follow, whatever the error
			// (Kafka retries COORDINATOR_NOT_AVAILABLE; a resignation drops the id anyway).
			t.retryAt = now.Add(t.lim.retryBackoff)
		case kindFence:
			t.failedFence = true
			t.retryAt = now.Add(t.lim.retryBackoff) // a timeout abort tries again then
			t.respond(p.w, fail(code))
		case kindDead:
			t.retryAt = now.Add(10 * t.lim.retryBackoff)
		default:
			t.answer(p, fail(code))
		}
		if p.kind == kindComplete {
			// Queued behind the previous transaction's Complete record, which is retried: the
			// client retries these too, as after Kafka's CONCURRENT_TRANSACTIONS.
			code = kerr.ConcurrentTransactions.Code
		}
		for _, q := range t.queued { // queued behind a failed addition: they would fail alike
			t.respond(q.w, fail(code))
		}
		t.queued = nil
		return
	}
	t.meta = p.to
	switch p.kind {
	case kindInit:
		t.respond(p.w, result{producerID: t.producerID, epoch: t.epoch})
	case kindAdd:
		t.answer(p, result{})
	case kindEnd:
		// The outcome is decided once the Prepare record is durable (a new coordinator would
		// send the markers from it), and Kafka answers then. Here the answer waits for the
		// markers too, up to endHold: the client's next transaction would otherwise meet
		// CONCURRENT_TRANSACTIONS on its first AddPartitionsToTxn while the markers are written,
		// and back off (franz-go and Kafka's producer 20 ms, others longer); and once it is
		// answered, read_committed consumers see the transaction on every partition.
		res := t.endResult()
		if t.lim.endHold > 0 {
			t.held = &heldEnd{w: p.w, res: res, until: now.Add(t.lim.endHold)}
		} else {
			t.respond(p.w, res)
		}
		t.sendMarkers(now)
	case kindFence:
		t.respond(p.w, fail(kerr.ConcurrentTransactions.Code))
		t.sendMarkers(now)
	case kindComplete:
		t.failedFence = false
		t.releaseEnd()
	case kindDead:
		t.removed = true
	}
	t.runQueued(now)
}

// runQueued handles the additions queued behind a write: the first one together with every other
// of the same producer, in one write of the union of their partitions (franz-go sends one
// AddPartitionsToTxn per partition leader at once: on three brokers, one write instead of two
// behind the first). What is left (another producer id or epoch, which cannot be queued today)
// runs once that write is done.
func (t *txn) runQueued(now time.Time) {
	for len(t.queued) > 0 && t.pending == nil {
		q := t.queued[0]
		ws := []waiter{q.w}
		parts := q.parts
		tv := q.tv
		rest := t.queued[:0:0]
		for _, o := range t.queued[1:] {
			if o.producerID == q.producerID && o.epoch == q.epoch {
				ws = append(ws, o.w)
				parts = append(parts[:len(parts):len(parts)], o.parts...)
				tv = max(tv, o.tv)
			} else {
				rest = append(rest, o)
			}
		}
		t.queued = rest
		t.addPartitionsFor(ws, q.producerID, q.epoch, parts, tv, now)
	}
}

// releaseEnd answers a held EndTxn: its transaction is decided (and complete, or the hold ran
// out).
func (t *txn) releaseEnd() {
	if t.held != nil {
		t.respond(t.held.w, t.held.res)
		t.held = nil
	}
}

// sendMarkers asks for the Prepare state's markers to the partitions still without them, or
// writes the Complete record when none is left.
func (t *txn) sendMarkers(now time.Time) {
	t.retryAt = time.Time{}
	if len(t.parts) == 0 {
		s := stateCompleteAbort
		if t.state == statePrepareCommit {
			s = stateCompleteCommit
		}
		to := t.next(s, now)
		to.parts = map[TopicPartition]struct{}{}
		completeRotation(&to)
		t.begin(kindComplete, to, 0)
		return
	}
	t.seq++
	t.markerSeq, t.markersOut = t.seq, true
	t.out.markers = append(t.out.markers, markerReq{seq: t.seq, m: Markers{
		TransactionalID: t.id, CoordinatorEpoch: t.coordEpoch, ProducerID: t.producerID,
		ProducerEpoch: t.epoch, Commit: t.state == statePrepareCommit, Partitions: sortedParts(t.parts),
		TransactionVersion: markerVersion(t.tv),
	}})
}

// markersDone takes a marker write's per-partition answers (Kafka's
// TransactionMarkerRequestCompletionHandler): written partitions leave the transaction, the
// others are retried after the backoff, and the Complete record follows the last one.
func (t *txn) markersDone(now time.Time, seq uint64, codes map[TopicPartition]int16) {
	if !t.markersOut || seq != t.markerSeq {
		return
	}
	t.markersOut = false
	for _, tp := range sortedParts(t.parts) {
		code, ok := codes[tp]
		switch {
		case !ok:
		case code == 0 || code == kerr.UnsupportedForMessageFormat.Code || code == kerr.UnsupportedVersion.Code:
			delete(t.parts, tp)
		case code == kerr.InvalidProducerEpoch.Code || code == kerr.TransactionCoordinatorFenced.Code:
			// The producer or coordinator epoch moved on: these markers are obsolete.
			t.markersAbandoned = true
			return
		}
	}
	if len(t.parts) == 0 {
		// Every partition has its marker (on its in-sync replicas): the transaction is visible
		// to read_committed consumers everywhere, and a new coordinator would only write the
		// markers again. A held EndTxn is answered now, and the Complete record is written
		// after it: the client's next AddPartitionsToTxn waits for that write (queued), so the
		// record is off the commit's path but still before the next transaction.
		t.releaseEnd()
		t.sendMarkers(now)
		return
	}
	t.retryAt = now.Add(t.lim.retryBackoff)
}

// onLoaded finishes what a previous coordinator left half done: a Prepare state gets its markers
// again and then its Complete record (Kafka's loadTransactionsForTxnTopicPartition).
func (t *txn) onLoaded(now time.Time) {
	if t.state == statePrepareCommit || t.state == statePrepareAbort {
		t.sendMarkers(now)
	}
}

// unload answers the request waiting for a transition with NOT_COORDINATOR: the partition was
// resigned, its transactional ids are now another coordinator's.
func (t *txn) unload() {
	t.releaseEnd() // its Prepare record is durable: the new coordinator completes it
	for _, q := range t.queued {
		t.respond(q.w, fail(kerr.NotCoordinator.Code))
	}
	t.queued = nil
	if t.pending != nil {
		t.answer(t.pending, fail(kerr.NotCoordinator.Code))
		t.pending = nil
	}
	t.markersOut = false
	t.retryAt = time.Time{}
}

// advance runs what is due at now: the abort of a transaction open longer than its timeout
// (Kafka's abortTimedOutTransactions), a marker or Complete retry, and the expiration of an idle
// transactional id (Kafka's removeExpiredTransactionalIds). After a failed write, nothing is
// retried before retryAt.
func (t *txn) advance(now time.Time) {
	if t.held != nil && !now.Before(t.held.until) {
		t.releaseEnd()
	}
	if at, ok := t.nextDeadline(); !ok || now.Before(at) {
		return
	}
	switch {
	case t.state == stateOngoing:
		t.fence(now, 0)
	case t.state == statePrepareCommit || t.state == statePrepareAbort:
		t.sendMarkers(now)
	case t.state.expirable():
		to := t.next(stateDead, now)
		to.lastUpdateMs = t.lastUpdateMs
		t.seq++
		t.retryAt = time.Time{}
		t.pending = &transit{seq: t.seq, kind: kindDead, to: to}
		t.out.appends = append(t.out.appends, appendReq{seq: t.seq, rec: tombstone(t.id)})
	}
}

// nextDeadline is when advance has something to do next.
func (t *txn) nextDeadline() (time.Time, bool) {
	at, ok := t.nextTransition()
	if t.held != nil && (!ok || t.held.until.Before(at)) {
		return t.held.until, true
	}
	return at, ok
}

// nextTransition is when advance has a transition to start or retry next.
func (t *txn) nextTransition() (time.Time, bool) {
	if t.pending != nil || t.removed {
		return time.Time{}, false
	}
	var at time.Time
	switch {
	case t.state == stateOngoing:
		at = time.UnixMilli(t.startMs + int64(t.timeoutMs) + 1) // Kafka: start + timeout < now
	case t.state == statePrepareCommit || t.state == statePrepareAbort:
		if t.markersOut || t.markersAbandoned || t.retryAt.IsZero() {
			return time.Time{}, false
		}
	case t.state.expirable():
		at = time.UnixMilli(t.lastUpdateMs).Add(t.lim.expiration)
	default:
		return time.Time{}, false
	}
	if t.retryAt.After(at) {
		at = t.retryAt
	}
	return at, true
}
