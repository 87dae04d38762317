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
}

// ReadRecords is Read without copying the records into memory: same checks, same bounds (the
// high watermark for consumers, the log end for followers), same errors.
func (p *Partition) ReadRecords(offset int64, maxBytes int, replicaID, currentLeaderEpoch int32) (RecordsResult, error) {
	hw, limit, err := p.readBounds(replicaID, currentLeaderEpoch)
	if err != nil {
		return RecordsResult{}, err
	}
	recs, err := p.log.ReadRecords(offset, maxBytes, limit)
	res := RecordsResult{HighWatermark: hw, LogStartOffset: p.log.StartOffset(), LastStableOffset: hw}
	if err != nil {
		return res, err
	}
	res.Records = recs
	return res, nil
}

// readBounds checks that this replica leads at the client's epoch and returns the high watermark
// and the offset a read by replicaID stops below: the high watermark for consumers (replicaID
// < 0), the log end offset for followers, which must copy what is not yet committed.
func (p *Partition) readBounds(replicaID, currentLeaderEpoch int32) (hw, limit int64, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, 0, ErrClosed
	}
	if err := p.checkEpochLocked(currentLeaderEpoch); err != nil {
		return 0, 0, err
	}
	if p.leader != p.cfg.NodeID {
		return 0, 0, ErrNotLeader
	}
	hw, limit = p.hw, p.hw
	if replicaID >= 0 {
		limit = p.log.EndOffset()
	}
	return hw, limit, nil
}
