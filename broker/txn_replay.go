package broker

import (
	"context"

	"github.com/minikraft/minikraft/broker/group"
	"github.com/minikraft/minikraft/broker/partition"
)

// replayCommitted replays a __transaction_state partition this node leads (see replayPartition)
// and returns only once what it replayed is committed: below the high watermark, in the leader
// epoch it was replayed in. Until then the coordinator keeps the partition loading.
//
// A new leader's log may end in records the old one wrote but never got acknowledged: a Prepare
// record whose append timed out, so the client was told nothing. The new leader's log is the
// truth from now on, but only once its followers have those records: if it loses the leadership
// before, the next leader (an in-sync follower that never fetched them) has the transaction
// Ongoing. A coordinator that had acted on the Prepare at once would have sent some of its
// markers (COMMIT), and the next coordinator would abort the rest when the producer's
// InitProducerId fences it: one transaction committed on some partitions and aborted on others.
// Waiting for the high watermark makes the loaded state one every later leader has (Kafka's
// coordinator runtime likewise acts only on what is committed).
func replayCommitted(ctx context.Context, p *partition.Partition, topic string, part, nodeID int32, fn func(group.Record) error) error {
	_, epoch := p.Leader()
	end, err := replayPartition(ctx, p, topic, part, nodeID, fn)
	if err != nil {
		return err
	}
	return waitCommitted(ctx, p, epoch, end)
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
