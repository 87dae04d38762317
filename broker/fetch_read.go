package broker

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/fetchsession"
	"github.com/minikraft/minikraft/broker/partition"
	"github.com/minikraft/minikraft/log"
)

// The reads of a Fetch (01_fetch.go): one pass over the partitions, repeated while the fetch
// waits. The records stay in the log's files (log.Records) until the response is written or
// released.

// partRead is one partition's answer as last read: the response partition, and its records apart
// (nil when none) so that the writer can send them from the file.
type partRead struct {
	sp  kmsg.FetchResponseTopicPartition
	rec *log.Records
	p   *partition.Partition // the replica read, nil when none was; counts what is sent (fetchResponse)
}

func (r *partRead) release() {
	r.rec.Release()
	r.rec = nil
}

// readState sums up one pass.
type readState struct {
	bytes  int                    // record bytes read
	urgent bool                   // a partition has an error or a diverging epoch
	waitOn []*partition.Partition // the partitions read (first pass only), to wait on
}

// answerNow is ReplicaManager.fetchMessages' test: the fetch does not wait, names no partition,
// has enough bytes, or has something the client must hear at once.
func (st readState) answerNow(req *kmsg.FetchRequest, n int) bool {
	return req.MaxWaitMillis <= 0 || n == 0 || st.bytes >= int(req.MinBytes) || st.urgent
}

// readPartitions reads every partition once, without waiting, into reads (releasing what an
// earlier pass left there). first marks the request's first pass, the one that records a
// follower's progress.
func (b *Broker) readPartitions(req *kmsg.FetchRequest, parts []fetchsession.PartitionRequest, reads []partRead, first bool, denied map[string]bool) readState {
	maxBytes := int(req.MaxBytes)
	if maxBytes <= 0 {
		maxBytes = 50 << 20 // fetch.max.bytes default
	}
	var st readState
	for i, pr := range parts {
		r := &reads[i]
		r.release()
		r.p = nil
		r.sp = newFetchPartition(pr.Partition)
		name, known := pr.Topic, true
		if req.Version >= 13 {
			name, known = b.topicNameByID(pr.TopicID)
		}
		if !known {
			r.sp.ErrorCode = kerr.UnknownTopicID.Code
			st.urgent = true
			continue
		}
		if denied[name] {
			r.sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			st.urgent = true
			continue
		}
		p, _, err := b.replicas.Leader(name, pr.Partition)
		if err != nil {
			r.sp.ErrorCode = errorCode(err)
			st.urgent = true
			continue
		}
		r.p = p
		if first {
			st.waitOn = append(st.waitOn, p)
		}
		limit := min(int(pr.MaxBytes), maxBytes-st.bytes)
		if st.bytes == 0 {
			// KIP-74: the first partition with data returns one batch even past the limits.
			limit = max(limit, 1)
		}
		b.readPartition(req.ReplicaID, req.IsolationLevel, p, pr, limit, first, r)
		st.bytes += r.rec.Len()
		st.urgent = st.urgent || r.sp.ErrorCode != 0 || r.sp.DivergingEpoch.Epoch >= 0
	}
	return st
}

// readPartition is Kafka's Partition.fetchRecords for one partition led here: the leader-epoch
// check, for a follower the divergence check, then the read, and only after a successful read
// (update set) the follower's progress.
//
// A consumer reading with isolation level 1 (read_committed) reads below the last stable offset
// and is told the aborted transactions in that range (an empty list when none, never null, as
// Kafka answers read_committed); every answer carries the partition's last stable offset.
func (b *Broker) readPartition(replicaID int32, isolation int8, p *partition.Partition, pr fetchsession.PartitionRequest, limit int, update bool, r *partRead) {
	follower := replicaID >= 0
	if follower {
		isolation = partition.ReadUncommitted
	}
	if follower && pr.LastFetchedEpoch >= 0 {
		epoch, end, err := divergingEpoch(p, pr)
		if err != nil || epoch >= 0 {
			r.sp.ErrorCode = errorCode(err)
			r.sp.DivergingEpoch.Epoch, r.sp.DivergingEpoch.EndOffset = epoch, end
			r.sp.HighWatermark, r.sp.LogStartOffset = p.HighWatermark(), p.LogStartOffset()
			r.sp.LastStableOffset = p.LastStableOffset()
			return
		}
	}
	var err error
	if limit <= 0 {
		// The response is full: no records, but the same checks as a read of none.
		err = checkReadable(p, pr)
		r.sp.HighWatermark, r.sp.LogStartOffset = p.HighWatermark(), p.LogStartOffset()
		r.sp.LastStableOffset = p.LastStableOffset()
	} else {
		var rr partition.RecordsResult
		rr, err = p.ReadRecordsIsolated(pr.FetchOffset, limit, replicaID, pr.CurrentLeaderEpoch, isolation)
		if err == nil || errors.Is(err, log.ErrOffsetOutOfRange) {
			// The follower restarts from the leader's log start when it fell below it.
			r.sp.HighWatermark, r.sp.LastStableOffset, r.sp.LogStartOffset = rr.HighWatermark, rr.LastStableOffset, rr.LogStartOffset
		}
		if err == nil && isolation == partition.ReadCommitted {
			r.sp.AbortedTransactions = make([]kmsg.FetchResponseTopicPartitionAbortedTransaction, 0, len(rr.AbortedTxns))
			for _, a := range rr.AbortedTxns {
				at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
				at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
				r.sp.AbortedTransactions = append(r.sp.AbortedTransactions, at)
			}
		}
		if rr.Records.Len() > 0 {
			r.rec = rr.Records
		} else {
			rr.Records.Release()
		}
	}
	if err != nil {
		r.sp.ErrorCode = errorCode(err)
		return
	}
	if isolation == partition.ReadCommitted && r.sp.AbortedTransactions == nil {
		r.sp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{} // read_committed: never null
	}
	if follower && update {
		p.UpdateFollower(replicaID, pr.FetchOffset)
	}
}

// checkReadable is what a read checks before it reads: the leader epoch, leadership and the
// offset's place in the log.
func checkReadable(p *partition.Partition, pr fetchsession.PartitionRequest) error {
	if err := checkLeader(p, pr.CurrentLeaderEpoch); err != nil {
		return err
	}
	if pr.FetchOffset < p.LogStartOffset() || pr.FetchOffset > p.LogEndOffset() {
		return log.ErrOffsetOutOfRange
	}
	return nil
}

// divergingEpoch is the check Kafka's Partition.readRecords makes when a follower sends its last
// fetched epoch: the leader looks up where that epoch ends in its own log (lastOffsetForLeaderEpoch).
// An unknown epoch, or a fetch offset below the log start, is OFFSET_OUT_OF_RANGE; an epoch that
// ends here before the fetch offset (or is only known as an earlier one) is a divergence, returned
// as (epoch, end); epoch is -1 when the follower's log agrees with ours.
func divergingEpoch(p *partition.Partition, pr fetchsession.PartitionRequest) (epoch int32, end int64, err error) {
	if err := checkLeader(p, pr.CurrentLeaderEpoch); err != nil {
		return -1, -1, err
	}
	_, leaderEpoch := p.Leader()
	epoch, end = p.Log().EndOffsetForEpoch(pr.LastFetchedEpoch)
	// The epoch cache changes only when leadership does: if it has not moved while we looked,
	// the answer is the current leader's.
	if _, e := p.Leader(); e != leaderEpoch || !p.IsLeader() {
		return -1, -1, partition.ErrNotLeader
	}
	switch {
	case epoch < 0 || end < 0, pr.FetchOffset < p.LogStartOffset():
		return -1, -1, log.ErrOffsetOutOfRange
	case epoch < pr.LastFetchedEpoch || end < pr.FetchOffset:
		return epoch, end, nil
	}
	return -1, -1, nil
}

// checkLeader checks that this replica leads at the client's epoch (-1: any).
func checkLeader(p *partition.Partition, currentLeaderEpoch int32) error {
	if err := p.CheckLeaderEpoch(currentLeaderEpoch); err != nil {
		return err
	}
	if !p.IsLeader() {
		return partition.ErrNotLeader
	}
	return nil
}

func newFetchPartition(id int32) kmsg.FetchResponseTopicPartition {
	sp := kmsg.NewFetchResponseTopicPartition()
	sp.Partition = id
	sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
	sp.PreferredReadReplica = -1
	// Kafka sends empty records, never null: librdkafka rejects a null set (size -1).
	sp.RecordBatches = []byte{}
	return sp
}
