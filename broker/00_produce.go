package broker

// Produce (key 0), versions 3–12.
//
// Versions below 3 carry the pre-0.11 message formats, which minikraft does not store (Kafka 4.0
// dropped them too). Each partition's payload must be RecordBatch v2; it is validated (CRC32C,
// lengths, record framing, message.max.bytes) and appended as sent, with offsets, leader epoch and,
// for LogAppendTime topics, the timestamp rewritten.
//
// A transactional batch (attribute bit 4) needs the request's TransactionalID
// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED without, as Kafka); the partition opens a transaction for
// its producer at its first offset, refuses a plain batch from a producer with an open one
// (INVALID_TXN_STATE), and WriteTxnMarkers (27_write_txn_markers.go) ends it. A transactional
// batch that would open a transaction is first verified with the transaction coordinator
// (KIP-890 part 1, txn_verify.go); from v12 (transaction version 2, KIP-890 part 2) the
// coordinator adds the partition to the transaction instead, as the client sends no
// AddPartitionsToTxn. v10 (KIP-951's leader hints, optional tagged fields, not filled) and v11
// (TRANSACTION_ABORTABLE) change nothing else; v13 (topic ids) is not served.
//
// With an authorizer, a transactional id needs WRITE on it (else every partition answers
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED) and each topic WRITE (TOPIC_AUTHORIZATION_FAILED), as
// Kafka's handleProduceRequest checks before anything else.
//
// acks=0 gets no response; acks=1 is answered after the local append; acks=-1 (all) is refused with
// NOT_ENOUGH_REPLICAS when the ISR is below min.insync.replicas, and otherwise answered when the
// high watermark passes the batch or TimeoutMillis runs out (REQUEST_TIMED_OUT). Appends happen
// while the request is handled, in connection order, so an idempotent producer's pipelined batches
// arrive in sequence; only the wait for replication runs in the response future.
//
// Request frames are recycled (wire.Mux.RecycleFrames): a large Produce request is read into the
// memory of an earlier one instead of a fresh buffer the size of the request, which the garbage
// collector would then have to clear and take back. That is sound because nothing on the produce
// path keeps a reference into a request's record bytes once its Future has returned: the log
// writes them to the segment file during Append and keeps nothing of them in memory (its index
// entries and the producer state are copies of header fields), errors and their messages hold no
// slices of them, and the Future touches only the response. Keep it that way: anything that would
// hold on to Records (an in-memory tail cache, a request hook) must copy them.

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/acl"
	"github.com/minikraft/minikraft/broker/partition"
	"github.com/minikraft/minikraft/broker/txn"
	"github.com/minikraft/minikraft/compress"
	"github.com/minikraft/minikraft/log"
	"github.com/minikraft/minikraft/wire"
)

func init() {
	register(0, 3, 12, (*Broker).handleProduce)
	recycleFrames(0) // see the doc comment above
}

// pendingAck is a partition response waiting for the ISR.
type pendingAck struct {
	p     *partition.Partition
	last  int64
	epoch int32 // the leader epoch the write was appended in
	resp  *kmsg.ProduceResponseTopicPartition
}

func (b *Broker) handleProduce(ctx context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)

	resp.Topics = make([]kmsg.ProduceResponseTopic, 0, len(req.Topics))
	// The partitions that wait for acks=all. Usually every one settles at once (allAcked), so
	// the slice lives on the stack while it fits, and only a real wait copies the rest out.
	var pendingBuf [16]pendingAck
	pending := pendingBuf[:0]
	var refused map[txn.TopicPartition]int16 // by transaction verification (txn_verify.go)
	az := b.checkerFor(r)
	txnDenied := req.TransactionID != nil && !az.txnID(acl.OpWrite, *req.TransactionID)
	if parts, pid, epoch := b.txnToVerify(req); len(parts) > 0 && !txnDenied {
		refused = b.verifyTxn(ctx, *req.TransactionID, pid, epoch, parts, req.Version >= produceAddsToTxn)
	}
	for _, rt := range req.Topics {
		var denied int16
		switch {
		case txnDenied:
			denied = errTxnIDAuth.Code
		case !az.topic(acl.OpWrite, rt.Topic):
			denied = errTopicAuth.Code
		}
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		for i, rp := range rt.Partitions {
			sp := &st.Partitions[i]
			sp.Default()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			if denied != 0 {
				sp.ErrorCode = denied
				continue
			}
			if code, ok := refused[txn.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}]; ok {
				sp.ErrorCode = code
				continue
			}
			p, info, err := b.produceOne(req, rt.Topic, rp.Partition, rp.Records, sp)
			if err != nil {
				sp.ErrorCode = errorCode(err)
				if req.Version >= 8 {
					sp.ErrorMessage = errorMessage(err)
				}
				continue
			}
			if p != nil {
				pending = append(pending, pendingAck{p: p, last: info.LastOffset, epoch: info.LeaderEpoch, resp: sp})
			}
		}
		resp.Topics = append(resp.Topics, st)
	}

	if req.Acks == 0 {
		return wire.Done(nil, nil)
	}
	if allAcked(pending, req.Version) {
		return wire.Done(resp, nil) // nothing to wait for: no timer, no future
	}
	timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
	waits := slices.DeleteFunc(slices.Clone(pending), func(pa pendingAck) bool { return pa.p == nil })
	return func() (kmsg.Response, error) {
		wctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		for _, pa := range waits {
			if err := pa.p.WaitForAck(wctx, pa.epoch, pa.last); err != nil {
				pa.resp.ErrorCode = errorCode(err)
				if req.Version >= 8 {
					pa.resp.ErrorMessage = errorMessage(err)
				}
			}
		}
		return resp, nil
	}
}

// allAcked settles the partitions whose acks=all outcome is already known (the common
// single-replica case: the high watermark moved with the append), so that the response needs no
// wait and no timer when all are. It reports whether every one was settled.
func allAcked(pending []pendingAck, version int16) bool {
	all := true
	for i := range pending {
		pa := &pending[i]
		done, err := pa.p.Acked(pa.epoch, pa.last)
		if !done {
			all = false
			continue
		}
		if err != nil {
			pa.resp.ErrorCode = errorCode(err)
			if version >= 8 {
				pa.resp.ErrorMessage = errorMessage(err)
			}
		}
		pa.p = nil // settled
	}
	return all
}

// produceOne appends one partition's records. It returns the partition and the append to wait
// for when the response must wait for acks=all, and fills sp with the append's result.
func (b *Broker) produceOne(req *kmsg.ProduceRequest, topic string, part int32, records []byte, sp *kmsg.ProduceResponseTopicPartition) (*partition.Partition, partition.AppendInfo, error) {
	if req.Acks != 0 && req.Acks != 1 && req.Acks != -1 {
		return nil, partition.AppendInfo{}, kerr.InvalidRequiredAcks
	}
	lp, tc, err := b.replicas.Leader(topic, part)
	if err != nil {
		return nil, partition.AppendInfo{}, err
	}
	if isInternalTopic(topic) {
		// Kafka lets only its own coordinators write to internal topics; minikraft's group
		// coordinator appends to its partitions directly.
		return nil, partition.AppendInfo{}, kerr.InvalidTopicException
	}
	hdrs, err := log.ValidateBatches(records, tc.MaxMessageBytes, compress.Codecs{})
	if err != nil {
		return nil, partition.AppendInfo{}, err
	}
	if req.TransactionID == nil && slices.ContainsFunc(hdrs, log.BatchHeader.IsTransactional) {
		// Kafka's handleProduceRequest: transactional records need a transactional id the
		// client may write with.
		return nil, partition.AppendInfo{}, kerr.TransactionalIDAuthorizationFailed
	}
	info, err := lp.AppendAsLeader(records, hdrs, req.Acks)
	if err != nil {
		return nil, partition.AppendInfo{}, err
	}
	sp.BaseOffset = info.BaseOffset
	sp.LogAppendTime = info.LogAppendTime
	sp.LogStartOffset = info.LogStartOffset
	if req.Acks == -1 {
		return lp, info, nil
	}
	return nil, partition.AppendInfo{}, nil
}
