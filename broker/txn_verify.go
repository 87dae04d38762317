package broker

// Transaction verification on produce (KIP-890 part 1, Kafka 3.6+; on unless
// transaction.partition.verification.enable is false, as there), and the addition of a partition
// to the transaction by Produce v12 (KIP-890 part 2, transaction version 2).
//
// A transactional batch whose producer has no open transaction on the partition would open one.
// If the producer never added the partition to its transaction (a bug, or a late retry of a batch
// from a transaction that has since been aborted), nothing would ever end it: the partition's last
// stable offset would stay behind it for good, and every read_committed consumer with it. So,
// before such a batch is appended, the leader asks the transaction coordinator whether the
// partition is part of the producer's ongoing transaction: in-process when this node coordinates
// the transactional id, else with AddPartitionsToTxn v4 (VerifyOnly) to the coordinator's
// inter-broker listener, as Kafka's AddPartitionsToTxnManager does. A partition not in the
// transaction gets INVALID_TXN_STATE, fencing errors pass through, and a coordinator that cannot
// answer now (moving, loading, busy, unreachable) gets NOT_ENOUGH_REPLICAS, which the producer
// retries, as Kafka 3.7 maps them (KAFKA-15449).
//
// Produce v12 comes from a client of transaction version 2, which sends no AddPartitionsToTxn:
// the same round trip to the coordinator then adds the partitions (AddPartitionsToTxn v5 without
// VerifyOnly, or txn.Coordinator.AddFromLeader in-process) instead of verifying them, and a
// refusal is mapped as a verification's. TxnOffsetCommit v5 adds the group's __consumer_offsets
// partition the same way (28_txn_offset_commit.go).
//
// Difference from Kafka: Kafka also hands the append a verification guard, so that a marker
// written between the answer and the append (the coordinator aborting on a timeout) makes the
// append fail; here that window, between a coordinator round trip's answer and the append a few
// microseconds later in the same handler, is not closed.

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/txn"
	"github.com/minikraft/minikraft/log"
	"github.com/minikraft/minikraft/raftmeta"
)

// txnVerifyTimeout bounds the coordinator round trip of one produce request's verification.
const txnVerifyTimeout = 10 * time.Second

// txnToVerify returns the partitions of req whose first batch is transactional and whose producer
// has no open transaction there, with that producer's id and epoch (one producer per request).
// For Produce v12 (transaction version 2, which verifyTxn adds rather than verifies) that is
// regardless of transaction.partition.verification.enable, and an open transaction of an older
// epoch of the producer counts as none (Kafka 4.0's hasOngoingTransaction(producerId, epoch)):
// the batch belongs to the producer's next transaction, which the coordinator must know of
// before it is written (it answers CONCURRENT_TRANSACTIONS while the old one's markers are
// being written, and the producer retries).
func (b *Broker) txnToVerify(req *kmsg.ProduceRequest) (parts []txn.TopicPartition, pid int64, epoch int16) {
	add := req.Version >= produceAddsToTxn
	if req.TransactionID == nil || (!b.cfg.Broker.TransactionPartitionVerification && !add) {
		return nil, -1, -1
	}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			h, err := log.ParseBatchHeader(rp.Records)
			if err != nil || !h.IsTransactional() || h.IsControl() {
				continue // refused or appended plainly by produceOne
			}
			lp, _, err := b.replicas.Leader(rt.Topic, rp.Partition)
			if err != nil {
				continue
			}
			if add && lp.HasOngoingTxnAt(h.ProducerID, h.ProducerEpoch) || !add && lp.HasOngoingTxn(h.ProducerID) {
				continue
			}
			parts = append(parts, txn.TopicPartition{Topic: rt.Topic, Partition: rp.Partition})
			pid, epoch = h.ProducerID, h.ProducerEpoch
		}
	}
	return parts, pid, epoch
}

// produceAddsToTxn is the Produce version from which a transactional batch adds its partition to
// the transaction itself (KIP-890 part 2, Kafka's TransactionSupportedOperation addPartition).
const produceAddsToTxn = 12

// verifyTxn asks the coordinator of txnID about parts (to add them, with add, else whether they
// are in the transaction) and returns the produce error code for each partition that may not be
// written (absent: verified or added).
func (b *Broker) verifyTxn(ctx context.Context, txnID string, pid int64, epoch int16, parts []txn.TopicPartition, add bool) map[txn.TopicPartition]int16 {
	codes := b.askTxnCoordinator(ctx, txnID, pid, epoch, parts, add)
	out := make(map[txn.TopicPartition]int16, len(parts))
	for _, tp := range parts {
		code, ok := codes[tp]
		if !ok {
			code = kerr.NotEnoughReplicas.Code
		}
		switch code {
		case 0:
			continue
		case kerr.NotCoordinator.Code, kerr.CoordinatorNotAvailable.Code, kerr.CoordinatorLoadInProgress.Code,
			kerr.ConcurrentTransactions.Code, kerr.RequestTimedOut.Code, kerr.NetworkException.Code:
			code = kerr.NotEnoughReplicas.Code // retriable for the producer (Kafka 3.7's mapping)
		}
		out[tp] = code
	}
	return out
}

// askTxnCoordinator gets the coordinator's per-partition answers: in-process when this node
// leads txnID's __transaction_state partition, else over the network (AddPartitionsToTxn v4 with
// VerifyOnly, or v5 without it to add, as Kafka's AddPartitionsToTxnManager sends them).
// Partitions missing from the result got no answer.
func (b *Broker) askTxnCoordinator(ctx context.Context, txnID string, pid int64, epoch int16, parts []txn.TopicPartition, add bool) map[txn.TopicPartition]int16 {
	st := b.meta.State()
	tt := st.Topics[transactionTopic]
	if tt == nil || len(tt.Partitions) == 0 {
		return nil
	}
	leader := tt.Partitions[txn.PartitionFor(txnID, len(tt.Partitions))].Leader
	if leader == b.cfg.Broker.NodeID {
		if add {
			return b.txns.c.AddFromLeader(ctx, txnVerifyTimeout, txnID, pid, epoch, parts)
		}
		return b.txns.c.Verify(txnID, pid, epoch, parts)
	}
	addr := b.txns.interBrokerAddr(st.Brokers[leader])
	if addr == "" {
		return nil
	}
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 4
	if add {
		req.Version = 5
	}
	tr := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tr.TransactionalID, tr.ProducerID, tr.ProducerEpoch, tr.VerifyOnly = txnID, pid, epoch, !add
	for _, tp := range parts {
		if n := len(tr.Topics); n == 0 || tr.Topics[n-1].Topic != tp.Topic {
			rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
			rt.Topic = tp.Topic
			tr.Topics = append(tr.Topics, rt)
		}
		rt := &tr.Topics[len(tr.Topics)-1]
		rt.Partitions = append(rt.Partitions, tp.Partition)
	}
	req.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{tr}
	rctx, cancel := context.WithTimeout(ctx, txnVerifyTimeout)
	defer cancel()
	resp, err := b.txns.roundTrip(rctx, addr, req)
	if err != nil {
		b.log.Debug("txn: verification round trip failed", "coordinator", leader, "err", err)
		return nil
	}
	r := resp.(*kmsg.AddPartitionsToTxnResponse)
	codes := map[txn.TopicPartition]int16{}
	if r.ErrorCode != 0 {
		for _, tp := range parts {
			codes[tp] = r.ErrorCode
		}
		return codes
	}
	for _, rt := range r.Transactions {
		if rt.TransactionalID != txnID {
			continue
		}
		for _, t := range rt.Topics {
			for _, p := range t.Partitions {
				codes[txn.TopicPartition{Topic: t.Topic, Partition: p.Partition}] = p.ErrorCode
			}
		}
	}
	return codes
}

// interBrokerAddr is the broker's inter-broker listener address, "" when unknown.
func (t *txnCoordinator) interBrokerAddr(br *raftmeta.Broker) string {
	if br == nil || br.Fenced {
		return ""
	}
	for _, ep := range br.Listeners {
		if ep.Name == t.b.cfg.Broker.InterBrokerListenerName {
			return net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port)))
		}
	}
	return ""
}
