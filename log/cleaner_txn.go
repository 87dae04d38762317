package log

import (
	"cmp"
	"slices"
)

// What the cleaner does with transactions, as Kafka's
// CleanedTransactionMetadata: the batches of aborted transactions go
// (their keys were never mapped, see buildOffsetMap); a marker stays while
// any batch of its transaction may remain, and once a pass finds none it
// gets a delete horizon (now + delete.retention.ms, like a tombstone) and
// goes in the first pass after it. A cleaned segment's .txnindex keeps the
// aborted transactions whose batches this pass removed, whose markers it
// keeps. Nothing at or above the last stable offset is cleaned (planClean),
// so an open transaction is never touched.

// abortedMeta is an aborted transaction the pass has reached.
type abortedMeta struct {
	txn  AbortedTxn
	seen bool // a batch of it was read in this pass
}

// cleanTxns is the pass's transaction bookkeeping, over the batches in
// offset order.
type cleanTxns struct {
	aborted          []AbortedTxn // not yet reached, by first offset
	ongoingAborted   map[int64]*abortedMeta
	ongoingCommitted map[int64]bool
	index            []AbortedTxn // entries for the cleaned segment being written
}

func newCleanTxns(aborted []AbortedTxn) *cleanTxns {
	aborted = slices.Clone(aborted)
	slices.SortStableFunc(aborted, func(a, b AbortedTxn) int { return cmp.Compare(a.FirstOffset, b.FirstOffset) })
	return &cleanTxns{aborted: aborted, ongoingAborted: make(map[int64]*abortedMeta), ongoingCommitted: make(map[int64]bool)}
}

func (t *cleanTxns) consumeUpTo(offset int64) {
	for len(t.aborted) > 0 && t.aborted[0].FirstOffset <= offset {
		a := t.aborted[0]
		t.aborted = t.aborted[1:]
		if _, ok := t.ongoingAborted[a.ProducerID]; !ok {
			t.ongoingAborted[a.ProducerID] = &abortedMeta{txn: a}
		}
	}
}

// onBatch reports whether a data batch's records go: it belongs to an
// aborted transaction.
func (t *cleanTxns) onBatch(h BatchHeader) bool {
	t.consumeUpTo(h.LastOffset())
	if !h.IsTransactional() || h.ProducerID < 0 {
		return false
	}
	if m, ok := t.ongoingAborted[h.ProducerID]; ok {
		m.seen = true
		return true
	}
	t.ongoingCommitted[h.ProducerID] = true
	return false
}

// onControl reports whether a control batch may go (once its delete
// horizon has passed): no batch of its transaction was read in this pass.
// An ABORT marker whose batches were read is kept, and indexed in the
// cleaned segment.
func (t *cleanTxns) onControl(h BatchHeader, m Marker, isMarker bool) bool {
	t.consumeUpTo(h.LastOffset())
	if h.NumRecords == 0 {
		return true // an empty control batch was cleaned already
	}
	if !isMarker {
		return false
	}
	pid := h.ProducerID
	if !m.Commit {
		a, ok := t.ongoingAborted[pid]
		delete(t.ongoingAborted, pid)
		if ok && a.seen {
			t.index = append(t.index, a.txn)
			return false
		}
		return true
	}
	had := t.ongoingCommitted[pid]
	delete(t.ongoingCommitted, pid)
	return !had
}

// filterControl is the cleaner's filter for a control batch (Kafka's
// checkBatchRetention with the marker rules): kept as is, kept with a new
// delete horizon, emptied or dropped.
func (c *cleanRun) filterControl(dst []byte, h BatchHeader, b []byte, keepEmpty bool) ([]byte, error) {
	m, isMarker, err := parseMarker(c.l.codecs, h, b)
	if err != nil {
		return nil, err
	}
	canDiscard := c.txns.onControl(h, m, isMarker)
	horizon, hasHorizon := deleteHorizon(h)
	switch {
	case canDiscard && (h.NumRecords == 0 || hasHorizon && horizon <= c.plan.now):
		c.stats.RecordsRemoved += int64(h.NumRecords)
		if keepEmpty {
			return appendEmptyBatch(dst, h), nil
		}
		return dst, nil
	case canDiscard && !hasHorizon && h.Compression() == 0:
		// The transaction is gone from the log: the marker may go after
		// delete.retention.ms, long enough for a consumer that read its
		// batches to read it too.
		var kept []keptRecord
		err := forEachRecord(b[BatchHeaderSize:], h.NumRecords, func(body []byte, r recordFields) bool {
			kept = append(kept, keptRecord{body: body, r: r, ts: h.FirstTimestamp + r.tsDelta})
			return true
		})
		if err != nil {
			return nil, err
		}
		return buildBatch(dst, nil, h, kept, c.plan.now+c.plan.cfg.DeleteRetentionMs, true, 0, &c.scratch)
	}
	return append(dst, b...), nil
}
