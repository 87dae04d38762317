package controller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/minikraft/minikraft/raftmeta"
)

// Partition reassignment (KIP-455), as KRaft's ReplicationControlManager runs it. A reassignment
// of a partition to target replicas starts by making the replicas the target followed by the
// current replicas leaving (RemovingReplicas), with the new ones in AddingReplicas: brokers see
// themselves among the replicas and start following, the leader adds each to the ISR once it
// has caught up, and when every adding replica is in the ISR the reassignment completes: the
// replicas become the target, the leaving ones drop out of the ISR (and delete their copies),
// and a leader outside the target hands over to the first in-sync target replica. Cancelling
// returns to the replicas before the reassignment, unless none of them is in sync any more
// (that would take an unclean election: refused). A new target for a partition already being
// reassigned is reckoned from all its current replicas, as KRaft does, so a replica that holds
// the data is never dropped before a target replica has it.

// ErrNoReassignmentInProgress is a cancellation of a partition that is not being reassigned.
var ErrNoReassignmentInProgress = errors.New("controller: no reassignment in progress")

// AlterReassignment starts (target non-nil) or cancels (target nil) the reassignment of
// topic/part. A change of the partition racing with it (an ISR change) makes it start over on
// the new state rather than fail.
func (c *Controller) AlterReassignment(ctx context.Context, topic string, part int32, target []int32) error {
	for attempt := 0; ; attempt++ {
		err := c.alterReassignment(ctx, topic, part, target)
		if !errors.Is(err, ErrInvalidUpdateVersion) || attempt == 9 || ctx.Err() != nil {
			return err
		}
	}
}

func (c *Controller) alterReassignment(ctx context.Context, topic string, part int32, target []int32) error {
	st := c.meta.State()
	p := st.Partition(topic, part)
	if p == nil {
		return fmt.Errorf("%w: %s-%d", raftmeta.ErrUnknownTopic, topic, part)
	}
	if target == nil {
		if !p.Reassigning() {
			return fmt.Errorf("%w: %s-%d", ErrNoReassignmentInProgress, topic, part)
		}
		// Back to the replicas before the reassignment.
		orig := slices.DeleteFunc(slices.Clone(p.Replicas), func(id int32) bool { return slices.Contains(p.AddingReplicas, id) })
		return c.setReplicas(ctx, p, topic, orig, nil, nil)
	}
	if len(target) == 0 {
		return fmt.Errorf("%w: The manual partition assignment includes an empty replica list.", ErrInvalidReplicaAssignment)
	}
	for i, id := range target {
		if slices.Contains(target[:i], id) {
			return fmt.Errorf("%w: The manual partition assignment includes the broker %d more than once.", ErrInvalidReplicaAssignment, id)
		}
		if st.Brokers[id] == nil {
			return fmt.Errorf("%w: The manual partition assignment includes broker %d, but no such broker is registered.", ErrInvalidReplicaAssignment, id)
		}
	}
	if !p.Reassigning() && slices.Equal(target, p.Replicas) {
		return nil // nothing to move (Kafka writes nothing either)
	}
	var adding, removing []int32
	for _, id := range target {
		if !slices.Contains(p.Replicas, id) {
			adding = append(adding, id)
		}
	}
	for _, id := range p.Replicas {
		if !slices.Contains(target, id) {
			removing = append(removing, id)
		}
	}
	if err := c.setReplicas(ctx, p, topic, slices.Concat(target, removing), adding, removing); err != nil {
		return err
	}
	// Started; if it cannot complete now, the ISR change that lets it (or Tick) will.
	if err := c.maybeCompleteReassignment(ctx, topic, part); err != nil {
		c.log.Warn("could not complete a reassignment yet", "topic", topic, "partition", part, "err", err)
	}
	return nil
}

// setReplicas makes replicas (with the reassignment state adding/removing) p's replicas: the
// ISR keeps its members that remain replicas, and a leader that is no longer a replica hands
// over to the first in-sync, unfenced one.
func (c *Controller) setReplicas(ctx context.Context, p *raftmeta.Partition, topic string, replicas, adding, removing []int32) error {
	st := c.meta.State()
	isr := slices.DeleteFunc(slices.Clone(p.ISR), func(id int32) bool { return !slices.Contains(replicas, id) })
	if len(isr) == 0 && len(p.ISR) > 0 {
		return fmt.Errorf("%w: Unable to change the replicas of %s:%d to %v because it would require an unclean leader election.",
			ErrInvalidReplicaAssignment, topic, p.ID, replicas)
	}
	change := raftmeta.ChangePartition{
		Topic: topic, Partition: p.ID, ExpectedPartitionEpoch: p.PartitionEpoch,
		Replicas: replicas, ISR: isr, SetReassignment: true, AddingReplicas: adding, RemovingReplicas: removing,
	}
	if !slices.Contains(replicas, p.Leader) {
		leader := raftmeta.NoLeader
		for _, id := range replicas {
			if br := st.Brokers[id]; br != nil && !br.Fenced && slices.Contains(isr, id) {
				leader = id
				break
			}
		}
		change.Leader = &leader
	}
	if _, err := c.meta.Propose(ctx, change); err != nil {
		if errors.Is(err, raftmeta.ErrStalePartitionEpoch) {
			return fmt.Errorf("%w: %v", ErrInvalidUpdateVersion, err)
		}
		return err
	}
	c.log.Info("partition replicas changed", "topic", topic, "partition", p.ID, "from", p.Replicas, "to", replicas,
		"adding", adding, "removing", removing)
	return nil
}

// maybeCompleteReassignment completes topic/part's reassignment once every adding replica is in
// the ISR and an in-sync target replica remains; otherwise it waits for the next ISR change.
func (c *Controller) maybeCompleteReassignment(ctx context.Context, topic string, part int32) error {
	p := c.meta.State().Partition(topic, part)
	if p == nil || !p.Reassigning() {
		return nil
	}
	for _, id := range p.AddingReplicas {
		if !slices.Contains(p.ISR, id) {
			return nil
		}
	}
	target := slices.DeleteFunc(slices.Clone(p.Replicas), func(id int32) bool { return slices.Contains(p.RemovingReplicas, id) })
	if !slices.ContainsFunc(p.ISR, func(id int32) bool { return slices.Contains(target, id) }) {
		return nil
	}
	return c.setReplicas(ctx, p, topic, target, nil, nil)
}

// Reassignments lists the partitions being reassigned, by topic and partition; only the Raft
// leader answers (raftmeta.ErrNotLeader elsewhere, which sends the request on to the leader).
func (c *Controller) Reassignments() ([]Reassignment, error) {
	if !c.meta.IsLeader() {
		return nil, raftmeta.ErrNotLeader
	}
	return ListReassignments(c.meta.State()), nil
}

// Reassignment is one partition's reassignment in progress.
type Reassignment struct {
	Topic                    string
	Partition                int32
	Replicas, Adding, Remove []int32
}

// ListReassignments lists the reassignments in progress in st, by topic and partition (sorted,
// as ListPartitionReassignments groups them by topic).
func ListReassignments(st *raftmeta.State) []Reassignment {
	var out []Reassignment
	for name, t := range st.Topics {
		for _, p := range t.Partitions {
			if p.Reassigning() {
				out = append(out, Reassignment{Topic: name, Partition: p.ID, Replicas: p.Replicas, Adding: p.AddingReplicas, Remove: p.RemovingReplicas})
			}
		}
	}
	slices.SortFunc(out, func(a, b Reassignment) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out
}
