package txn

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AddFromLeader adds parts to the producer's transaction for a partition leader on this node, as
// AddPartitionsToTxn v5 without VerifyOnly does over the network (KIP-890 part 2: a Produce v12
// or TxnOffsetCommit v5 of a client of transaction version 2 adds its partitions itself; Kafka's
// AddPartitionsToTxnManager sends the addition on the leader's behalf). It blocks until the
// addition is durable or refused, or ctx ends, and returns the code of each partition: 0 once in
// the transaction, else the reason (INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED,
// CONCURRENT_TRANSACTIONS, NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS,
// UNKNOWN_TOPIC_OR_PARTITION, ...). A wait for a write ends after within too, if not 0 (a
// deadline on ctx would cost a timer even when the addition is written at once).
func (c *Coordinator) AddFromLeader(ctx context.Context, within time.Duration, transactionalID string, producerID int64, epoch int16, parts []TopicPartition) map[TopicPartition]int16 {
	t := kmsg.NewAddPartitionsToTxnRequestTransaction()
	t.TransactionalID, t.ProducerID, t.ProducerEpoch = transactionalID, producerID, epoch
	for _, tp := range parts {
		if n := len(t.Topics); n == 0 || t.Topics[n-1].Topic != tp.Topic {
			rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
			rt.Topic = tp.Topic
			t.Topics = append(t.Topics, rt)
		}
		rt := &t.Topics[len(t.Topics)-1]
		rt.Partitions = append(rt.Partitions, tp.Partition)
	}
	r := c.startAddOne(ctx, within, 5, t)()
	codes := make(map[TopicPartition]int16, len(parts))
	for _, rt := range r.Topics {
		for _, p := range rt.Partitions {
			codes[TopicPartition{rt.Topic, p.Partition}] = p.ErrorCode
		}
	}
	for _, tp := range parts {
		if _, ok := codes[tp]; !ok {
			codes[tp] = kerr.UnknownServerError.Code
		}
	}
	return codes
}

// needsFreshID reports whether an EndTxn v5 of the producer may need a new producer id (its
// epoch is exhausted: see txn.needsFreshID).
func (c *Coordinator) needsFreshID(transactionalID string, producerID int64, epoch int16) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, _, code := c.routeLocked(transactionalID)
	return code == 0 && e != nil && e.t.needsFreshID(producerID, epoch)
}
