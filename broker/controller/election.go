package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/minikraft/minikraft/raftmeta"
)

// Errors of leader elections, Kafka's ElectLeaders answers.
var (
	ErrElectionNotNeeded           = errors.New("controller: leader election not needed")
	ErrPreferredLeaderNotAvailable = errors.New("controller: the preferred leader is not available")
	ErrEligibleLeadersNotAvailable = errors.New("controller: no eligible leader is available")
)

// Election types of the ElectLeaders API.
const (
	ElectPreferred int8 = 0
	ElectUnclean   int8 = 1
)

// ElectLeader runs one election of the given type for topic/partition (KIP-460):
//   - preferred: the first replica of the assignment becomes leader if it is in the ISR and
//     unfenced; already leading is ELECTION_NOT_NEEDED;
//   - unclean: only for a partition with no leader, any live replica becomes leader with an ISR
//     of itself, accepting the loss of what only the ISR had.
func (c *Controller) ElectLeader(ctx context.Context, typ int8, topic string, part int32) error {
	st := c.meta.State()
	p := st.Partition(topic, part)
	if p == nil {
		return fmt.Errorf("%w: %s-%d", raftmeta.ErrUnknownTopic, topic, part)
	}
	live := func(r int32) bool { br := st.Brokers[r]; return br != nil && !br.Fenced }
	change := raftmeta.ChangePartition{Topic: topic, Partition: part, ExpectedPartitionEpoch: p.PartitionEpoch}
	switch typ {
	case ElectPreferred:
		pref := p.Replicas[0]
		if p.Leader == pref {
			return ErrElectionNotNeeded
		}
		if !p.InISR(pref) || !live(pref) {
			return fmt.Errorf("%w: replica %d of %s-%d is not a live in-sync replica", ErrPreferredLeaderNotAvailable, pref, topic, part)
		}
		change.Leader = &pref
	case ElectUnclean:
		if p.Leader >= 0 {
			return ErrElectionNotNeeded
		}
		i := slices.IndexFunc(p.Replicas, live)
		if i < 0 {
			return fmt.Errorf("%w: no replica of %s-%d is alive", ErrEligibleLeadersNotAvailable, topic, part)
		}
		leader := p.Replicas[i]
		change.Leader, change.ISR = &leader, []int32{leader}
	default:
		return fmt.Errorf("%w: election type %d", raftmeta.ErrInvalidCommand, typ)
	}
	if _, err := c.meta.Propose(ctx, change); err != nil {
		return err
	}
	c.log.Info("leader elected", "type", typ, "topic", topic, "partition", part, "leader", *change.Leader)
	return nil
}

// RebalanceLeaders moves leadership back to preferred replicas when a broker leads too few of
// the partitions it is preferred for (auto.leader.rebalance.enable): as Kafka does, a broker
// whose share of "preferred but not leading" partitions exceeds imbalancePct gets preferred
// elections for all of them.
func (c *Controller) RebalanceLeaders(ctx context.Context, imbalancePct int) error {
	st := c.meta.State()
	type tp struct {
		topic string
		part  int32
	}
	preferred := map[int32][]tp{}
	notLeading := map[int32][]tp{}
	for _, t := range sortedTopics(st) {
		for _, p := range t.Partitions {
			if len(p.Replicas) == 0 {
				continue
			}
			pref := p.Replicas[0]
			preferred[pref] = append(preferred[pref], tp{t.Name, p.ID})
			if p.Leader != pref {
				notLeading[pref] = append(notLeading[pref], tp{t.Name, p.ID})
			}
		}
	}
	var errs []error
	for broker, list := range notLeading {
		if len(list)*100 <= imbalancePct*len(preferred[broker]) {
			continue
		}
		for _, x := range list {
			err := c.ElectLeader(ctx, ElectPreferred, x.topic, x.part)
			if err != nil && !errors.Is(err, ErrElectionNotNeeded) && !errors.Is(err, ErrPreferredLeaderNotAvailable) && !errors.Is(err, raftmeta.ErrStalePartitionEpoch) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
