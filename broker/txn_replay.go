package broker

import (
	"context"

	"github.com/minikraft/minikraft/broker/partition"
)

// ReplayCommitted makes txnStore a txn.ReplayWaiter: right after a Replay (the coordinator is the
// only writer of __transaction_state, and it writes nothing to a partition it is loading), the
// replay read up to the log end, and its records are committed once the high watermark reaches
// it in the same leader epoch. A new leader's log may end in records its predecessor never had
// acknowledged; see txn.ReplayWaiter for the transaction that a coordinator acting on them at
// once left committed on some partitions and aborted on others.
func (s txnStore) ReplayCommitted(part int32) (func(context.Context) error, error) {
	p, _, err := s.b.replicas.Leader(transactionTopic, part)
	if err != nil {
		return nil, err
	}
	_, epoch := p.Leader()
	end := p.LogEndOffset()
	if p.HighWatermark() >= end {
		return nil, nil // one node, or the followers have it all already
	}
	return func(ctx context.Context) error { return waitCommitted(ctx, p, epoch, end) }, nil
}

// waitCommitted waits until p's high watermark reaches end while p leads at epoch: the records
// below end are on every in-sync replica. It fails with partition.ErrNotLeader once p stopped
// leading at epoch, and with ctx's error when ctx ends first.
func waitCommitted(ctx context.Context, p *partition.Partition, epoch int32, end int64) error {
	// Registered before the checks: a change between a check and the wait still wakes it.
	wake := make(chan struct{}, 1)
	cancel := p.Register(wake)
	defer cancel()
	for {
		if _, e := p.Leader(); e != epoch || !p.IsLeader() {
			return partition.ErrNotLeader
		}
		if p.HighWatermark() >= end {
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
