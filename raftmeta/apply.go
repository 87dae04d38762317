package raftmeta

import (
	"fmt"
	"math"
	"slices"
	"strconv"
)

// apply is the state machine's transition function: the next State and the command's result,
// from the previous State, the command and its raft index only. It reads no clock, no
// randomness and no local configuration, and it never mutates prev, so every node computes the
// same States from the same log and readers of prev are undisturbed.
//
// A rejected command still produces a new State (prev with Index advanced): Index is "the last
// applied entry", and WaitForIndex relies on it moving for every command.
func apply(prev *State, index uint64, cmd Command) (*State, any) {
	next := prev.shallowCopy()
	next.Index = index
	var res any
	var err error
	switch c := cmd.(type) {
	case InitCluster:
		err = next.initCluster(c)
	case RegisterBroker:
		res, err = next.registerBroker(c, index)
	case SetBrokerFenced:
		err = next.setBrokerFenced(c)
	case CreateTopic:
		err = next.createTopic(c)
	case DeleteTopic:
		err = next.deleteTopic(c)
	case CreatePartitions:
		err = next.createPartitions(c)
	case AlterConfigs:
		err = next.alterConfigs(c)
	case ChangePartition:
		res, err = next.changePartition(c)
	case ChangePartitions:
		res, err = next.changePartitions(c)
	case AllocateProducerIDs:
		res, err = next.allocateProducerIDs(c)
	case ResetCluster:
		err = next.resetCluster(c)
		res = index
	case RestoreTopics:
		err = next.restoreTopics(c)
	case AlterScramCredentials:
		err = next.alterScramCredentials(c)
	case AlterACLs:
		err = next.alterACLs(c)
	default:
		// Unreachable: Command is sealed and DecodeCommand knows every op.
		panic(fmt.Sprintf("raftmeta: apply: unhandled command %T", cmd))
	}
	if err != nil {
		// Drop whatever the failed command touched: only Index moves.
		next = prev.shallowCopy()
		next.Index = index
		return next, err
	}
	return next, res
}

// The methods below run on next, a shallow copy of the previous State: they must replace (not
// write into) any map, topic or partition they change.

func (s *State) initCluster(c InitCluster) error {
	switch {
	case c.ClusterID == "":
		return fmt.Errorf("%w: empty cluster id", ErrInvalidCommand)
	case s.ClusterID == "":
		s.ClusterID = c.ClusterID
	case s.ClusterID != c.ClusterID:
		return fmt.Errorf("%w: metadata log belongs to cluster %q, not %q", ErrClusterIDMismatch, s.ClusterID, c.ClusterID)
	}
	return nil
}

func (s *State) registerBroker(c RegisterBroker, index uint64) (int64, error) {
	if c.Broker.ID < 0 {
		return 0, fmt.Errorf("%w: broker id %d", ErrInvalidCommand, c.Broker.ID)
	}
	b := c.Broker.clone()
	b.Epoch = int64(index)
	s.Brokers = cloneMap(s.Brokers)
	s.Brokers[b.ID] = b
	return b.Epoch, nil
}

func (s *State) setBrokerFenced(c SetBrokerFenced) error {
	old, ok := s.Brokers[c.ID]
	if !ok {
		return fmt.Errorf("%w: broker %d", ErrUnknownBroker, c.ID)
	}
	if old.Fenced == c.Fenced {
		return nil
	}
	b := old.clone()
	b.Fenced = c.Fenced
	s.Brokers = cloneMap(s.Brokers)
	s.Brokers[b.ID] = b
	return nil
}

func (s *State) createTopic(c CreateTopic) error {
	if c.Name == "" {
		return fmt.Errorf("%w: empty topic name", ErrInvalidCommand)
	}
	if c.ID == ([16]byte{}) {
		return fmt.Errorf("%w: topic %q has the zero topic id", ErrInvalidCommand, c.Name)
	}
	if _, ok := s.Topics[c.Name]; ok {
		return fmt.Errorf("%w: topic %q", ErrTopicExists, c.Name)
	}
	if other, ok := s.TopicIDs[c.ID]; ok {
		return fmt.Errorf("%w: topic id of %q is already used by %q", ErrTopicExists, c.Name, other)
	}
	if len(c.Partitions) == 0 {
		return fmt.Errorf("%w: topic %q has no partitions", ErrInvalidPartitions, c.Name)
	}
	t := &Topic{Name: c.Name, ID: c.ID, Internal: c.Internal, Partitions: make([]*Partition, 0, len(c.Partitions))}
	for i := range c.Partitions {
		p := c.Partitions[i].clone()
		if err := checkNewPartition(c.Name, p, int32(i)); err != nil {
			return err
		}
		t.Partitions = append(t.Partitions, p)
	}
	s.Topics = cloneMap(s.Topics)
	s.Topics[t.Name] = t
	s.TopicIDs = cloneMap(s.TopicIDs)
	s.TopicIDs[t.ID] = t.Name
	if len(c.Configs) > 0 {
		s.Configs = cloneMap(s.Configs)
		s.Configs[ConfigResource{Type: ConfigResourceTopic, Name: t.Name}] = cloneMap(c.Configs)
	}
	return nil
}

func (s *State) deleteTopic(c DeleteTopic) error {
	t, ok := s.Topics[c.Name]
	if !ok {
		return fmt.Errorf("%w: topic %q", ErrUnknownTopic, c.Name)
	}
	s.Topics = cloneMap(s.Topics)
	delete(s.Topics, t.Name)
	s.TopicIDs = cloneMap(s.TopicIDs)
	delete(s.TopicIDs, t.ID)
	res := ConfigResource{Type: ConfigResourceTopic, Name: t.Name}
	if _, ok := s.Configs[res]; ok {
		s.Configs = cloneMap(s.Configs)
		delete(s.Configs, res)
	}
	return nil
}

func (s *State) createPartitions(c CreatePartitions) error {
	old, ok := s.Topics[c.Topic]
	if !ok {
		return fmt.Errorf("%w: topic %q", ErrUnknownTopic, c.Topic)
	}
	if len(c.Add) == 0 {
		return fmt.Errorf("%w: topic %q: no partitions to add", ErrInvalidPartitions, c.Topic)
	}
	t := *old
	t.Partitions = slices.Grow(slices.Clone(old.Partitions), len(c.Add))
	for i := range c.Add {
		p := c.Add[i].clone()
		if err := checkNewPartition(c.Topic, p, int32(len(old.Partitions)+i)); err != nil {
			return err
		}
		t.Partitions = append(t.Partitions, p)
	}
	s.Topics = cloneMap(s.Topics)
	s.Topics[t.Name] = &t
	return nil
}

func (s *State) alterConfigs(c AlterConfigs) error {
	r := c.Resource
	switch r.Type {
	case ConfigResourceTopic:
		if _, ok := s.Topics[r.Name]; !ok {
			return fmt.Errorf("%w: topic %q", ErrUnknownTopic, r.Name)
		}
	case ConfigResourceBroker:
		if r.Name != "" {
			if id, err := strconv.ParseInt(r.Name, 10, 32); err != nil || id < 0 {
				return fmt.Errorf("%w: broker resource name %q is not a broker id", ErrInvalidConfigResource, r.Name)
			}
		}
	default:
		return fmt.Errorf("%w: resource type %d", ErrInvalidConfigResource, r.Type)
	}
	var m map[string]string
	if c.Replace {
		m = make(map[string]string, len(c.Set))
	} else {
		m = cloneMap(s.Configs[r])
		for _, k := range c.Delete {
			delete(m, k)
		}
	}
	for k, v := range c.Set {
		m[k] = v
	}
	s.Configs = cloneMap(s.Configs)
	if len(m) == 0 {
		delete(s.Configs, r) // no empty entries: a State restored from a snapshot has none either
	} else {
		s.Configs[r] = m
	}
	return nil
}

func (s *State) changePartition(c ChangePartition) (*Partition, error) {
	old, ok := s.Topics[c.Topic]
	if !ok {
		return nil, fmt.Errorf("%w: topic %q", ErrUnknownTopic, c.Topic)
	}
	p, err := changedPartition(c, old.Partition(c.Partition))
	if err != nil {
		return nil, err
	}
	t := *old
	t.Partitions = slices.Clone(old.Partitions)
	t.Partitions[p.ID] = p
	s.Topics = cloneMap(s.Topics)
	s.Topics[t.Name] = &t
	return p, nil
}

// changedPartition is cur (nil: no such partition) with the change c applied, a new value: cur
// is not modified.
func changedPartition(c ChangePartition, cur *Partition) (*Partition, error) {
	if cur == nil {
		return nil, fmt.Errorf("%w: %s-%d", ErrUnknownPartition, c.Topic, c.Partition)
	}
	if c.ExpectedPartitionEpoch >= 0 && c.ExpectedPartitionEpoch != cur.PartitionEpoch {
		return nil, fmt.Errorf("%w: %s-%d is at partition epoch %d, the change expected %d",
			ErrStalePartitionEpoch, c.Topic, c.Partition, cur.PartitionEpoch, c.ExpectedPartitionEpoch)
	}
	p := cur.clone()
	if c.Replicas != nil {
		p.Replicas = slices.Clone(c.Replicas)
		// An offline replica that is no longer a replica is no longer offline.
		p.OfflineReplicas = slices.DeleteFunc(p.OfflineReplicas, func(id int32) bool { return !p.HasReplica(id) })
		if len(p.OfflineReplicas) == 0 {
			p.OfflineReplicas = nil
		}
	}
	if c.ISR != nil {
		p.ISR = slices.Clone(c.ISR)
	}
	if c.SetReassignment {
		p.AddingReplicas, p.RemovingReplicas = slices.Clone(c.AddingReplicas), slices.Clone(c.RemovingReplicas)
	}
	if c.Leader != nil {
		p.Leader = *c.Leader
	}
	if c.BumpLeaderEpoch || p.Leader != cur.Leader {
		if p.LeaderEpoch == math.MaxInt32 {
			return nil, fmt.Errorf("%w: %s-%d: leader epoch exhausted", ErrInvalidPartitions, c.Topic, c.Partition)
		}
		p.LeaderEpoch++
	}
	if p.PartitionEpoch == math.MaxInt32 {
		return nil, fmt.Errorf("%w: %s-%d: partition epoch exhausted", ErrInvalidPartitions, c.Topic, c.Partition)
	}
	p.PartitionEpoch++
	if err := checkPartition(c.Topic, p); err != nil {
		return nil, err
	}
	return p, nil
}

func (s *State) allocateProducerIDs(c AllocateProducerIDs) (int64, error) {
	if c.Count <= 0 {
		return 0, fmt.Errorf("%w: producer id count %d", ErrInvalidCommand, c.Count)
	}
	first := s.NextProducerID
	if first > math.MaxInt64-c.Count {
		return 0, fmt.Errorf("%w: producer ids exhausted", ErrInvalidCommand)
	}
	s.NextProducerID = first + c.Count
	return first, nil
}

// checkNewPartition checks a partition that a create adds: its id is its position, and its
// epochs are not negative.
func checkNewPartition(topic string, p *Partition, wantID int32) error {
	if p.ID != wantID {
		return fmt.Errorf("%w: %s: partition at position %d has id %d", ErrInvalidPartitions, topic, wantID, p.ID)
	}
	if p.LeaderEpoch < 0 || p.PartitionEpoch < 0 {
		return fmt.Errorf("%w: %s-%d: negative epoch", ErrInvalidPartitions, topic, p.ID)
	}
	return checkPartition(topic, p)
}

// checkPartition checks the replica invariants every partition keeps: at least one replica, no
// broker twice, ISR and offline replicas within the replicas, and a leader (if any) in the ISR
// (Kafka elects from the ISR; an unclean election makes the ISR just the new leader).
func checkPartition(topic string, p *Partition) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s-%d: %s", ErrInvalidPartitions, topic, p.ID, fmt.Sprintf(format, args...))
	}
	if len(p.Replicas) == 0 {
		return bad("no replicas")
	}
	if hasDuplicate(p.Replicas) {
		return bad("replicas %v name a broker twice", p.Replicas)
	}
	for _, id := range p.Replicas {
		if id < 0 {
			return bad("replica id %d", id)
		}
	}
	if hasDuplicate(p.ISR) {
		return bad("ISR %v names a broker twice", p.ISR)
	}
	for _, id := range p.ISR {
		if !p.HasReplica(id) {
			return bad("ISR member %d is not a replica %v", id, p.Replicas)
		}
	}
	for _, id := range p.OfflineReplicas {
		if !p.HasReplica(id) {
			return bad("offline replica %d is not a replica %v", id, p.Replicas)
		}
	}
	if p.Leader != NoLeader && !p.InISR(p.Leader) {
		return bad("leader %d is not in the ISR %v", p.Leader, p.ISR)
	}
	for _, id := range slices.Concat(p.AddingReplicas, p.RemovingReplicas) {
		if !p.HasReplica(id) {
			return bad("reassigned replica %d is not a replica %v", id, p.Replicas)
		}
	}
	if hasDuplicate(slices.Concat(p.AddingReplicas, p.RemovingReplicas)) {
		return bad("adding %v and removing %v overlap", p.AddingReplicas, p.RemovingReplicas)
	}
	return nil
}

func hasDuplicate(ids []int32) bool {
	for i, id := range ids {
		if slices.Contains(ids[i+1:], id) {
			return true
		}
	}
	return false
}
