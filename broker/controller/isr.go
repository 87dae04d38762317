package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/minikraft/minikraft/raftmeta"
)

// Errors of AlterPartition, Kafka's AlterPartition answers.
var (
	// ErrFencedLeader: the request comes from a leader or leader epoch that is no longer
	// current (FENCED_LEADER_EPOCH / NOT_LEADER_OR_FOLLOWER).
	ErrFencedLeader = errors.New("controller: stale leader")
	// ErrInvalidUpdateVersion: the partition changed since the leader last saw it.
	ErrInvalidUpdateVersion = errors.New("controller: partition epoch is stale")
	// ErrIneligibleReplica: the new ISR names a replica that may not be in it.
	ErrIneligibleReplica = errors.New("controller: ineligible replica")
)

// AlterPartition commits an ISR change a partition leader asks for (Kafka's AlterPartition,
// KIP-497). The leader must be the current one at the current leader epoch, its view of the
// partition (partition epoch) must be current, the leader must stay in the ISR, and every new
// member must be an unfenced replica: a fenced broker cannot rejoin until it is back.
func (c *Controller) AlterPartition(ctx context.Context, topic string, part, leader, leaderEpoch, partitionEpoch int32, isr []int32) error {
	st := c.meta.State()
	p := st.Partition(topic, part)
	if p == nil {
		return fmt.Errorf("%w: %s-%d", raftmeta.ErrUnknownTopic, topic, part)
	}
	if p.Leader != leader || p.LeaderEpoch != leaderEpoch {
		return fmt.Errorf("%w: %s-%d is led by %d at epoch %d, not %d at %d",
			ErrFencedLeader, topic, part, p.Leader, p.LeaderEpoch, leader, leaderEpoch)
	}
	if p.PartitionEpoch != partitionEpoch {
		return fmt.Errorf("%w: %s-%d is at partition epoch %d, not %d", ErrInvalidUpdateVersion, topic, part, p.PartitionEpoch, partitionEpoch)
	}
	if !slices.Contains(isr, leader) {
		return fmt.Errorf("%w: the leader %d must stay in the ISR of %s-%d", ErrIneligibleReplica, leader, topic, part)
	}
	for _, r := range isr {
		if !p.HasReplica(r) {
			return fmt.Errorf("%w: %d is not a replica of %s-%d", ErrIneligibleReplica, r, topic, part)
		}
		if p.InISR(r) {
			continue
		}
		if br := st.Brokers[r]; br == nil || br.Fenced {
			return fmt.Errorf("%w: broker %d is fenced", ErrIneligibleReplica, r)
		}
	}
	_, err := c.meta.Propose(ctx, raftmeta.ChangePartition{
		Topic: topic, Partition: part, ExpectedPartitionEpoch: partitionEpoch, ISR: slices.Clone(isr),
	})
	if errors.Is(err, raftmeta.ErrStalePartitionEpoch) {
		return fmt.Errorf("%w: %v", ErrInvalidUpdateVersion, err)
	}
	if err != nil {
		return err
	}
	c.log.Info("ISR changed", "topic", topic, "partition", part, "from", p.ISR, "to", isr)
	// A replica joining may be the last a reassignment waits for. The ISR change stands
	// whatever happens to the completion (the next ISR change retries it).
	if err := c.maybeCompleteReassignment(ctx, topic, part); err != nil {
		c.log.Warn("could not complete a reassignment", "topic", topic, "partition", part, "err", err)
	}
	return nil
}
