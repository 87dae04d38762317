package broker

// TxnOffsetCommit (key 28), versions 0–5.
//
// A transactional producer's offset commit for a group (KIP-98; v3 carries the consumer's
// generation, member id and group.instance.id, KIP-447, validated as OffsetCommit validates them,
// except that a v0-v2 request without them is accepted whatever the group's state). The offsets
// are written to __consumer_offsets as a transactional batch of the producer and answered once
// in the ISR; they stay pending, invisible to OffsetFetch (UNSTABLE_OFFSET_COMMIT with
// RequireStable), until the transaction's marker reaches the group's partition
// (group.Coordinator.CompleteTxn): committed they become the group's offsets, aborted they are
// dropped. See broker/group/txn.go.
//
// v4 only lets the broker answer TRANSACTION_ABORTABLE. v5 comes from a client of transaction
// version 2 (KIP-890 part 2), which sends no AddOffsetsToTxn: before the group takes the commit,
// the group's coordinator adds its __consumer_offsets partition to the transaction, as Kafka's
// group coordinator does through AddPartitionsToTxnManager (txn_verify.go). A refusal answers
// every partition: fencing codes as the transaction coordinator gives them, a coordinator that
// cannot answer now COORDINATOR_NOT_AVAILABLE (Kafka's normalizeException of the retriable
// NOT_ENOUGH_REPLICAS the verification maps them to), which the client retries. v6 (topic ids)
// is not served.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/acl"
	"github.com/minikraft/minikraft/broker/group"
	"github.com/minikraft/minikraft/broker/txn"
	"github.com/minikraft/minikraft/wire"
)

func init() { register(28, 0, 5, (*Broker).handleTxnOffsetCommit) }

// txnOffsetCommitAddsToTxn is the TxnOffsetCommit version that adds the group's partition to the
// transaction itself.
const txnOffsetCommitAddsToTxn = 5

func (b *Broker) handleTxnOffsetCommit(ctx context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.TxnOffsetCommitRequest)
	if req.Version >= txnOffsetCommitAddsToTxn && req.TransactionalID != "" && len(req.Topics) > 0 {
		// Only a request the group would take: a denied one is answered by groupAPI's checks,
		// and one sent to a node that is not the group's coordinator gets NOT_COORDINATOR there.
		az := b.checkerFor(r)
		if tp, ok := b.ledOffsetsPartition(req.Group); ok && az.txnID(acl.OpWrite, req.TransactionalID) && az.group(acl.OpRead, req.Group) {
			codes := b.verifyTxn(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, []txn.TopicPartition{tp}, true)
			if code, refused := codes[tp]; refused {
				if code == kerr.NotEnoughReplicas.Code {
					code = kerr.CoordinatorNotAvailable.Code
				}
				resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
				resp.Topics = txnCommitErrors(req.Topics, code)
				return wire.Done(resp, nil)
			}
		}
	}
	return groupAPI(b, ctx, r)
}

// ledOffsetsPartition returns the group's __consumer_offsets partition if this node leads it.
func (b *Broker) ledOffsetsPartition(groupID string) (txn.TopicPartition, bool) {
	t := b.meta.State().Topics[offsetsTopic]
	if t == nil || len(t.Partitions) == 0 {
		return txn.TopicPartition{}, false
	}
	p := group.PartitionFor(groupID, len(t.Partitions))
	return txn.TopicPartition{Topic: offsetsTopic, Partition: p}, t.Partitions[p].Leader == b.cfg.Broker.NodeID
}
