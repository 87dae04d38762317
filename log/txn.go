package log

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
)

// Transactions, as far as the log knows them (Kafka's ProducerStateManager
// keeps the same in its ongoingTxns and unreplicatedTxns): a transactional
// batch from a producer with no open transaction opens one at its base
// offset; a transaction marker (a control batch whose record key is
// version 0, type 0 ABORT or 1 COMMIT) from that producer closes it. The
// log tracks this for every batch it stores, from a client or a leader, so
// a follower knows the same as its leader, and rebuilds it by scanning the
// log when it opens or is truncated. Whether a batch may be appended at all
// (producer epochs, coordinator epochs, a plain batch inside a
// transaction) is the partition's business, not the log's.

// Control record types (Kafka's ControlRecordType).
const (
	controlAbort  = 0
	controlCommit = 1
)

// Marker is a transaction marker: the one record of a COMMIT or ABORT
// control batch (Kafka's EndTransactionMarker).
type Marker struct {
	Commit           bool
	CoordinatorEpoch int32
}

// EncodeMarker builds an uncompressed control batch holding marker m for
// the producer, as Kafka's MemoryRecords.withEndTransactionMarker does:
// transactional and control attributes, no sequence, one record whose key
// is (version 0, type) and whose value is (version 0, coordinator epoch).
// The log assigns the offset on Append.
func EncodeMarker(producerID int64, producerEpoch int16, m Marker, ts int64) []byte {
	typ := byte(controlAbort)
	if m.Commit {
		typ = controlCommit
	}
	key := []byte{0, 0, 0, typ}
	value := binary.BigEndian.AppendUint32([]byte{0, 0}, uint32(m.CoordinatorEpoch))
	b := make([]byte, BatchHeaderSize, BatchHeaderSize+24)
	b = appendRecord(b, 0, key, value)
	putHeader(b, BatchHeader{
		PartitionLeaderEpoch: -1,
		Attributes:           attrTransactional | attrControl,
		FirstTimestamp:       ts,
		MaxTimestamp:         ts,
		ProducerID:           producerID,
		ProducerEpoch:        producerEpoch,
		BaseSequence:         -1,
		NumRecords:           1,
	})
	return b
}

// ParseMarker reads the marker of a whole, uncompressed control batch. ok
// is false for a control batch that is not a transaction marker (another
// control type, or an empty batch left by compaction).
func ParseMarker(batch []byte) (m Marker, ok bool, err error) {
	h, size, err := frameBatch(batch, 0)
	if err != nil {
		return Marker{}, false, err
	}
	return parseMarker(nil, h, batch[:size])
}

// parseMarker is ParseMarker for a framed batch, decompressing with c if
// needed (Kafka never compresses markers, but a control batch is a batch).
func parseMarker(c Codecs, h BatchHeader, batch []byte) (m Marker, ok bool, err error) {
	if !h.IsControl() || h.NumRecords <= 0 {
		return Marker{}, false, nil
	}
	var perr error
	err = withRecords(c, h, batch, func(recs []byte) error {
		return forEachRecord(recs, h.NumRecords, func(_ []byte, r recordFields) bool {
			// Kafka's ControlRecordType.parse and EndTransactionMarker.deserialize.
			if len(r.key) < 4 {
				perr = fmt.Errorf("%w: control record key of %d bytes", ErrCorruptBatch, len(r.key))
				return false
			}
			switch binary.BigEndian.Uint16(r.key[2:]) {
			case controlAbort, controlCommit:
			default:
				return false // not a transaction marker
			}
			if len(r.value) < 6 || int16(binary.BigEndian.Uint16(r.value)) < 0 {
				perr = fmt.Errorf("%w: transaction marker value of %d bytes", ErrCorruptBatch, len(r.value))
				return false
			}
			m = Marker{Commit: binary.BigEndian.Uint16(r.key[2:]) == controlCommit,
				CoordinatorEpoch: int32(binary.BigEndian.Uint32(r.value[2:]))}
			ok = true
			return false
		})
	})
	if err == nil {
		err = perr
	}
	if err != nil {
		return Marker{}, false, err
	}
	return m, ok, nil
}

// AbortedTxn is an entry of the aborted-transaction index (Kafka's
// AbortedTxn): the producer, the transaction's first and last offset (its
// ABORT marker's) and the last stable offset when it ended, which bounds a
// search of the index.
type AbortedTxn struct {
	ProducerID       int64
	FirstOffset      int64
	LastOffset       int64
	LastStableOffset int64
}

// completedTxn is a transaction whose marker is in the log but perhaps not
// yet replicated: the last stable offset stays at its first offset until
// the high watermark passes the marker.
type completedTxn struct {
	pid, first, last int64
}

// txnState is the log's view of open transactions. Log.txnMu guards it.
type txnState struct {
	ongoing map[int64]int64 // producer id -> first offset of its open transaction
	unrepl  []completedTxn  // by marker offset; dropped once below the high watermark
	// seen: the log may hold a transactional batch (one was stored since the
	// last scan found none). A truncation of a log that never had one need not
	// rescan it.
	seen bool
}

// apply folds one stored batch into the state (Kafka's
// ProducerAppendInfo.append). It returns the aborted-index entry when the
// batch is an ABORT marker closing a transaction that has data; a marker
// without an open transaction (a retried marker, or one whose data went to
// retention) changes nothing, as in Kafka.
func (t *txnState) apply(h BatchHeader, m Marker, isMarker bool) (AbortedTxn, bool) {
	if h.ProducerID < 0 || !h.IsTransactional() {
		return AbortedTxn{}, false
	}
	t.seen = true
	if t.ongoing == nil {
		t.ongoing = make(map[int64]int64)
	}
	if !h.IsControl() {
		if _, open := t.ongoing[h.ProducerID]; !open {
			t.ongoing[h.ProducerID] = h.BaseOffset
		}
		return AbortedTxn{}, false
	}
	first, open := t.ongoing[h.ProducerID]
	if !isMarker || !open {
		return AbortedTxn{}, false
	}
	delete(t.ongoing, h.ProducerID)
	last := h.LastOffset()
	t.unrepl = append(t.unrepl, completedTxn{pid: h.ProducerID, first: first, last: last})
	if m.Commit {
		return AbortedTxn{}, false
	}
	// Kafka's lastStableOffset(completedTxn): the first offset of the
	// earliest other open transaction, else the offset after the marker.
	lso := last + 1
	for _, f := range t.ongoing {
		lso = min(lso, f)
	}
	return AbortedTxn{ProducerID: h.ProducerID, FirstOffset: first, LastOffset: last, LastStableOffset: lso}, true
}

// firstUnstable drops the completed transactions whose markers are below
// hw and returns the first offset of any transaction not yet stable, or hw.
func (t *txnState) firstUnstable(hw int64) int64 {
	i := 0
	for i < len(t.unrepl) && t.unrepl[i].last < hw {
		i++
	}
	if i > 0 {
		t.unrepl = slices.Delete(t.unrepl, 0, i)
	}
	lso := hw
	for _, f := range t.ongoing {
		lso = min(lso, f)
	}
	for _, c := range t.unrepl {
		lso = min(lso, c.first)
	}
	return lso
}

// LastStableOffset is Kafka's UnifiedLog.lastStableOffset given the high
// watermark: the first offset of the earliest transaction that is open, or
// whose marker is not yet below hw, if that is below hw; else hw. A
// read_committed consumer reads below it.
func (l *Log) LastStableOffset(hw int64) int64 {
	l.txnMu.Lock()
	defer l.txnMu.Unlock()
	return l.txns.firstUnstable(hw)
}

// OngoingTxn returns the first offset of the producer's open transaction.
func (l *Log) OngoingTxn(producerID int64) (first int64, ok bool) {
	l.txnMu.Lock()
	defer l.txnMu.Unlock()
	first, ok = l.txns.ongoing[producerID]
	return first, ok
}

// OngoingTxns returns every open transaction: producer id -> first offset.
func (l *Log) OngoingTxns() map[int64]int64 {
	l.txnMu.Lock()
	defer l.txnMu.Unlock()
	return maps.Clone(l.txns.ongoing)
}

// AbortedTxns returns the aborted transactions a read_committed fetch of
// [from, upper) must be told of: those ending at or after from and
// starting below upper (Kafka's collectAbortedTransactions), searching the
// segments' indexes from the one holding from until an entry's last stable
// offset reaches upper.
func (l *Log) AbortedTxns(from, upper int64) []AbortedTxn {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []AbortedTxn
	for si := l.segmentIndex(from); si < len(l.segments); si++ {
		for _, a := range l.segments[si].aborted {
			if a.LastOffset >= from && a.FirstOffset < upper {
				out = append(out, a)
			}
			if a.LastStableOffset >= upper {
				return out
			}
		}
	}
	return out
}

// txnUpdate is what an append changes of the transaction state, computed
// before the write and published with it, as a change to the state rather
// than a copy of it (a copy of the open transactions' map for every
// transactional batch was a tenth of a transaction's allocations): the
// transactions the batches opened and are still open after them, those
// they completed, in order (to add to the state's unrepl and drop from its
// open ones), and their aborted-index entries.
type txnUpdate struct {
	opened  []openTxn
	closed  []completedTxn
	aborted []AbortedTxn
	// Room for the common case, one producer's batch or marker per append.
	openedBuf [1]openTxn
	closedBuf [1]completedTxn
}

// openTxn is a transaction an append opened: its producer and first offset.
type openTxn struct{ pid, first int64 }

// lookup returns the first offset of pid's open transaction after the
// batches folded into u so far, on top of the state t.
func (u *txnUpdate) lookup(t *txnState, pid int64) (int64, bool) {
	for _, o := range u.opened {
		if o.pid == pid {
			return o.first, true
		}
	}
	for _, c := range u.closed {
		if c.pid == pid {
			return 0, false // closed here and not opened again (it would be in opened)
		}
	}
	first, ok := t.ongoing[pid]
	return first, ok
}

// apply folds one stored batch into u on top of the state t, as
// txnState.apply folds it into the state itself.
func (u *txnUpdate) apply(t *txnState, h BatchHeader, m Marker, isMarker bool) {
	if h.ProducerID < 0 || !h.IsTransactional() {
		return
	}
	first, open := u.lookup(t, h.ProducerID)
	if !h.IsControl() {
		if !open {
			u.opened = append(u.opened, openTxn{h.ProducerID, h.BaseOffset})
		}
		return
	}
	if !isMarker || !open {
		return
	}
	u.opened = slices.DeleteFunc(u.opened, func(o openTxn) bool { return o.pid == h.ProducerID })
	last := h.LastOffset()
	u.closed = append(u.closed, completedTxn{pid: h.ProducerID, first: first, last: last})
	if m.Commit {
		return
	}
	// Kafka's lastStableOffset(completedTxn): the first offset of the
	// earliest other open transaction, else the offset after the marker.
	lso := last + 1
	for pid, f := range t.ongoing {
		// One closed here is not open, or open again with its first offset in opened.
		if f < lso && !slices.ContainsFunc(u.closed, func(c completedTxn) bool { return c.pid == pid }) {
			lso = f
		}
	}
	for _, o := range u.opened {
		lso = min(lso, o.first)
	}
	u.aborted = append(u.aborted, AbortedTxn{ProducerID: h.ProducerID, FirstOffset: first, LastOffset: last, LastStableOffset: lso})
}

// publish applies u to the state. The caller holds txnMu.
func (t *txnState) publish(u *txnUpdate) {
	if t.ongoing == nil && len(u.opened) > 0 {
		t.ongoing = make(map[int64]int64)
	}
	// The closed first: a producer may close one transaction and open
	// its next in the same append.
	for _, c := range u.closed {
		delete(t.ongoing, c.pid)
	}
	for _, o := range u.opened {
		t.ongoing[o.pid] = o.first
	}
	t.unrepl = append(t.unrepl, u.closed...)
	t.seen = true
}

// txnChanges computes what appending the framed, offset-assigned batches b
// changes of the transaction state, or nil when b holds no transactional
// batch (the common case costs one attribute test per batch). The caller
// holds wmu, so the state cannot change meanwhile; txnMu is held while it
// is read, since a reader trims its completed transactions.
func (l *Log) txnChanges(b []byte) (*txnUpdate, error) {
	var u *txnUpdate
	defer func() {
		if u != nil {
			l.txnMu.Unlock()
		}
	}()
	for p := 0; p < len(b); {
		h := decodeHeader(b[p:])
		batch := b[p : p+h.Size()]
		p += h.Size()
		if !h.IsTransactional() || h.ProducerID < 0 {
			continue
		}
		var m Marker
		var isMarker bool
		if h.IsControl() {
			var err error
			if m, isMarker, err = parseMarker(l.codecs, h, batch); err != nil {
				return nil, err
			}
		}
		if u == nil {
			u = &txnUpdate{}
			u.opened, u.closed = u.openedBuf[:0], u.closedBuf[:0]
			l.txnMu.Lock()
		}
		u.apply(&l.txns, h, m, isMarker)
	}
	return u, nil
}

// rebuildTxns recomputes the transaction state by scanning the whole log,
// as Kafka reloads its producer state without a snapshot, and publishes it.
// It returns the aborted transactions found, in offset order. The caller
// holds wmu (or is Open).
func (l *Log) rebuildTxns() ([]AbortedTxn, error) {
	var t txnState
	var aborted []AbortedTxn
	err := l.scanMarkers(0, func(h BatchHeader, m Marker, isMarker bool) error {
		if a, ok := t.apply(h, m, isMarker); ok {
			aborted = append(aborted, a)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("log: rebuild the transaction state: %w", err)
	}
	l.txnMu.Lock()
	l.txns = t
	l.txnMu.Unlock()
	return aborted, nil
}
