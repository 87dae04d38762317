package raftmeta

import (
	"fmt"
	"slices"
)

// ChangePartitions applies many ChangePartition in one log entry, in order, each to the State the
// ones before it left; a change that is rejected (a stale partition epoch, say) is skipped and
// the others apply. The controller uses it where one decision touches every partition of a broker
// (fencing it, electing leaders when it comes back): with 10,000 partitions that is one Raft
// commit and one new State for the brokers to apply instead of 10,000 of each.
// Result: []error, one per change in order, nil for those applied.
type ChangePartitions struct {
	Changes []ChangePartition
}

// MaxChangesPerEntry bounds a ChangePartitions, so that an entry stays around 100 KB of JSON:
// a proposer with more changes proposes several.
const MaxChangesPerEntry = 1000

func (ChangePartitions) op() byte { return opChangePartitions }

// changePartitions applies c to s (a shallow copy of the previous State, see apply). The topics
// map and each topic it changes are copied once for the whole batch, not once per change.
func (s *State) changePartitions(c ChangePartitions) ([]error, error) {
	if len(c.Changes) == 0 || len(c.Changes) > MaxChangesPerEntry {
		return nil, fmt.Errorf("%w: %d partition changes in one entry (1 to %d)", ErrInvalidCommand, len(c.Changes), MaxChangesPerEntry)
	}
	errs := make([]error, len(c.Changes))
	owned := make(map[string]*Topic) // topics this batch already copied (and may write into)
	topicsCopied := false
	for i, ch := range c.Changes {
		t := owned[ch.Topic]
		var cur *Partition
		if t != nil {
			cur = t.Partition(ch.Partition)
		} else if old, ok := s.Topics[ch.Topic]; ok {
			cur = old.Partition(ch.Partition)
		} else {
			errs[i] = fmt.Errorf("%w: topic %q", ErrUnknownTopic, ch.Topic)
			continue
		}
		p, err := changedPartition(ch, cur)
		if err != nil {
			errs[i] = err
			continue
		}
		if t == nil {
			if !topicsCopied {
				s.Topics = cloneMap(s.Topics)
				topicsCopied = true
			}
			cp := *s.Topics[ch.Topic]
			cp.Partitions = slices.Clone(cp.Partitions)
			t = &cp
			owned[ch.Topic] = t
			s.Topics[ch.Topic] = t
		}
		t.Partitions[p.ID] = p
	}
	return errs, nil
}
