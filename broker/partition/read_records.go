package partition

import "github.com/minikraft/minikraft/log"

// RecordsResult is ReadResult with the records left in the log's segment files where it can (see
// log.Records): a Fetch response writes them to the socket with sendfile. The caller must Release
// Records once written or dropped.
type RecordsResult struct {
	Records          *log.Records
	HighWatermark    int64
	LogStartOffset   int64
	LastStableOffset int64
	// AbortedTxns (read_committed only) are the aborted transactions overlapping the records.
	AbortedTxns []log.AbortedTxn
}

// ReadRecords is Read without copying the records into memory: same checks, same bounds (the
// high watermark for consumers, the log end for followers), same errors.
func (p *Partition) ReadRecords(offset int64, maxBytes int, replicaID, currentLeaderEpoch int32) (RecordsResult, error) {
	return p.ReadRecordsIsolated(offset, maxBytes, replicaID, currentLeaderEpoch, ReadUncommitted)
}

// ReadRecordsIsolated is ReadRecords at an isolation level (ReadIsolated without the copy): a
// read_committed consumer reads below the last stable offset and gets the aborted transactions
// that overlap [offset, last stable offset) (Kafka's collectAbortedTransactions, bounded by the
// read's limit rather than the last batch read: a few more entries, never fewer).
func (p *Partition) ReadRecordsIsolated(offset int64, maxBytes int, replicaID, currentLeaderEpoch int32, isolation int8) (RecordsResult, error) {
	b, err := p.readBounds(replicaID, currentLeaderEpoch, isolation)
	if err != nil {
		return RecordsResult{}, err
	}
	recs, err := p.log.ReadRecords(offset, maxBytes, b.limit)
	res := RecordsResult{HighWatermark: b.hw, LogStartOffset: p.log.StartOffset(), LastStableOffset: b.lso}
	if err != nil {
		return res, err
	}
	res.Records = recs
	if isolation == ReadCommitted && replicaID < 0 && recs.Len() > 0 {
		res.AbortedTxns = p.log.AbortedTxns(offset, b.limit)
	}
	return res, nil
}

// bounds is what a read is bounded by.
type bounds struct {
	hw, lso int64
	limit   int64 // the offset the read stops below
}

// readBounds checks that this replica leads at the client's epoch and returns the high watermark,
// the last stable offset and the offset a read by replicaID stops below: for consumers (replicaID
// < 0) the high watermark, or the last stable offset for read_committed; for followers, which
// must copy what is not yet committed, the log end offset.
func (p *Partition) readBounds(replicaID, currentLeaderEpoch int32, isolation int8) (bounds, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return bounds{}, ErrClosed
	}
	if err := p.checkEpochLocked(currentLeaderEpoch); err != nil {
		return bounds{}, err
	}
	if p.leader != p.cfg.NodeID {
		return bounds{}, ErrNotLeader
	}
	b := bounds{hw: p.hw, lso: p.log.LastStableOffset(p.hw)}
	switch {
	case replicaID >= 0:
		b.limit = p.log.EndOffset()
	case isolation == ReadCommitted:
		b.limit = b.lso
	default:
		b.limit = b.hw
	}
	return b, nil
}
