package raftmeta

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
)

// The test fixture's two whole-cluster commands (issue 21): ResetCluster empties the cluster in
// one entry, RestoreTopics puts a snapshot's topics back in one entry. Both replace the topic
// maps at once, so every broker's replica manager sees the whole change in one State and
// reconciles it in one pass, instead of one DeleteTopic or CreateTopic entry per topic.

// ResetCluster empties the cluster (the fixture's Cluster.Reset): every topic that is not
// internal is deleted, every dynamic config (of topics and brokers) is removed, and each
// internal topic is re-created empty under the id NewIDs gives it, with the same partitions,
// replicas, leaders and ISRs and its leader and partition epochs bumped. The new id makes every
// broker delete the replicas' data and open empty ones (broker/replica's Apply treats a topic
// whose id changed as deleted and re-created), and the bumped leader epoch fences a follower or
// leader still on the old replica (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH), so no record of
// the old topic reaches the new one. An internal topic without an id in NewIDs is deleted (the
// broker creates it again on first use); a name in NewIDs that is no internal topic is ignored.
// Brokers, the cluster id and NextProducerID are kept: producer ids are never handed out twice.
//
// Every other part of the State that a test can create must be cleared here as well, when it
// exists (ACLs, SCRAM credentials, quotas, delegation tokens): this is the one place a new kind
// of metadata has to be added to make Reset complete. Result: the entry's raft index (uint64).
type ResetCluster struct {
	NewIDs map[string][16]byte
}

// RestoreTopics replaces every topic, every dynamic config and the ACLs with the ones given (the fixture's
// FromSnapshot: a cluster started on a snapshot's partition data takes the snapshot's metadata,
// topic ids, leader epochs and all, so that the replicas' data on disk is recognised as theirs).
// Each topic is checked as CreateTopic checks it, each config resource as AlterConfigs does.
// NextProducerID is raised to the given one if it is larger, so the producer ids recorded in
// the restored logs are not handed out again. Brokers and the cluster id are kept. Result: nil.
type RestoreTopics struct {
	Topics         []*Topic
	Configs        []ConfigEntry
	NextProducerID int64
	ACLs           []ACL `json:",omitempty"` // replace the State's ACLs
}

// ConfigEntry is the dynamic configs of one resource.
type ConfigEntry struct {
	Resource ConfigResource    `json:"resource"`
	Configs  map[string]string `json:"configs"` // encoding/json writes map keys sorted
}

func (s *State) resetCluster(c ResetCluster) error {
	topics := make(map[string]*Topic)
	ids := make(map[[16]byte]string)
	configs := make(map[ConfigResource]map[string]string)
	// Sorted, so that a rejected command names the same topic on every node.
	for _, name := range slices.Sorted(maps.Keys(s.Topics)) {
		old := s.Topics[name]
		id, ok := c.NewIDs[name]
		if !old.Internal || !ok {
			continue
		}
		switch _, taken := ids[id]; {
		case id == [16]byte{}:
			return fmt.Errorf("%w: topic %q has the zero topic id", ErrInvalidCommand, name)
		case taken || s.TopicIDs[id] != "":
			// A fresh id: a replica of the old topic must never pass for one of the new.
			return fmt.Errorf("%w: the new id of %q is already used", ErrTopicExists, name)
		}
		t := &Topic{Name: name, ID: id, Internal: true, Partitions: make([]*Partition, len(old.Partitions))}
		for i, op := range old.Partitions {
			if op.LeaderEpoch == math.MaxInt32 || op.PartitionEpoch == math.MaxInt32 {
				return fmt.Errorf("%w: %s-%d: epoch exhausted", ErrInvalidPartitions, name, op.ID)
			}
			p := op.clone()
			p.LeaderEpoch++
			p.PartitionEpoch++
			t.Partitions[i] = p
		}
		topics[name] = t
		ids[id] = name
		res := ConfigResource{Type: ConfigResourceTopic, Name: name}
		if m := s.Configs[res]; m != nil {
			configs[res] = m // immutable: shared with the previous State
		}
	}
	s.Topics, s.TopicIDs, s.Configs = topics, ids, configs
	// Users made by one test do not log in in the next.
	s.ScramCredentials = map[ScramKey]ScramCredential{}
	// Nor do one test's ACLs hold in the next.
	s.ACLs = nil
	return nil
}

func (s *State) restoreTopics(c RestoreTopics) error {
	s.Topics = map[string]*Topic{}
	s.TopicIDs = map[[16]byte]string{}
	s.Configs = map[ConfigResource]map[string]string{}
	for _, t := range c.Topics {
		if t == nil || slices.Contains(t.Partitions, nil) {
			return fmt.Errorf("%w: null topic or partition", ErrInvalidCommand)
		}
		ct := CreateTopic{Name: t.Name, ID: t.ID, Internal: t.Internal, Partitions: make([]Partition, len(t.Partitions))}
		for i, p := range t.Partitions {
			ct.Partitions[i] = *p
		}
		if err := s.createTopic(ct); err != nil {
			return err
		}
	}
	for _, e := range c.Configs {
		if len(e.Configs) == 0 {
			continue
		}
		if err := s.alterConfigs(AlterConfigs{Resource: e.Resource, Set: e.Configs, Replace: true}); err != nil {
			return err
		}
	}
	if c.NextProducerID > s.NextProducerID {
		s.NextProducerID = c.NextProducerID
	}
	return s.setACLs(c.ACLs)
}

// RestoreCommand is the RestoreTopics that gives a cluster the topics, configs, producer id
// counter and ACLs of s.
func (s *State) RestoreCommand() RestoreTopics {
	c := RestoreTopics{NextProducerID: s.NextProducerID, ACLs: s.ACLs}
	for _, name := range slices.Sorted(maps.Keys(s.Topics)) {
		c.Topics = append(c.Topics, s.Topics[name])
	}
	for r, m := range s.Configs {
		c.Configs = append(c.Configs, ConfigEntry{Resource: r, Configs: m})
	}
	return c
}

// WriteState writes s as the JSON document of a Raft snapshot (see the package doc), for tools
// that keep a cluster's metadata outside Raft (the fixture's Cluster.Snapshot).
func WriteState(w io.Writer, s *State) error { return writeState(w, s) }

// ReadState reads a State that WriteState (or a Raft snapshot) wrote.
func ReadState(r io.Reader) (*State, error) { return readState(r) }
