package txn

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
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
	// AddPartitionsToTxn v5's handling (startAddOne) without building its request and response:
	// a Produce v12 of a transaction's first batches asks this once per transaction.
	uniq := make([]TopicPartition, 0, len(parts))
	var seen map[TopicPartition]bool // for many partitions; a few are compared in turn
	if len(parts) > 16 {
		seen = make(map[TopicPartition]bool, len(parts))
	}
	for _, tp := range parts {
		if seen != nil && !seen[tp] || seen == nil && !slices.Contains(uniq, tp) {
			uniq = append(uniq, tp)
			if seen != nil {
				seen[tp] = true
			}
		}
	}
	codes := make(map[TopicPartition]int16, len(uniq))
	code := func(TopicPartition) int16 { return kerr.InvalidRequest.Code }
	if refused := c.refused(5, uniq); refused != nil {
		code = refused
	} else if transactionalID != "" {
		ch := c.call(transactionalID, func(tx *txn, now time.Time, w waiter) {
			tx.addPartitionsVersion(now, w, producerID, epoch, uniq, 2)
		})
		r := waitWithin(ctx, within, ch)
		code = func(TopicPartition) int16 { return r.code }
	}
	for _, tp := range uniq {
		codes[tp] = code(tp)
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
