package broker

import (
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/minikraft/minikraft/broker/config"
	"github.com/minikraft/minikraft/broker/partition"
)

// localPartition is a partition this node holds a replica of.
type localPartition struct {
	*partition.Partition
	// applied is the partition epoch of the last metadata this replica was reconciled with; the
	// controller bumps it on every leader, ISR or replica change.
	applied int32
}

// localTopic is the node's view of one topic it holds replicas of.
type localTopic struct {
	id    [16]byte
	cfg   config.Topic
	parts map[int32]*localPartition
}

// replicas is the registry of local partitions. Lookups take a read lock; only metadata
// reconciliation writes.
type replicas struct {
	mu     sync.RWMutex
	topics map[string]*localTopic
}

func (r *replicas) init() { r.topics = make(map[string]*localTopic) }

func (r *replicas) get(topic string, p int32) (*localPartition, config.Topic, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t := r.topics[topic]
	if t == nil {
		return nil, config.Topic{}, false
	}
	lp := t.parts[p]
	return lp, t.cfg, lp != nil
}

// all returns every local partition, for DescribeLogDirs and shutdown.
func (r *replicas) all() map[string]map[int32]*localPartition {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[string]map[int32]*localPartition, len(r.topics))
	for name, t := range r.topics {
		m := make(map[int32]*localPartition, len(t.parts))
		for id, lp := range t.parts {
			m[id] = lp
		}
		out[name] = m
	}
	return out
}

func (r *replicas) closeAll() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for name, t := range r.topics {
		for id, lp := range t.parts {
			if err := lp.Close(); err != nil {
				errs = append(errs, fmt.Errorf("closing %s-%d: %w", name, id, err))
			}
		}
	}
	r.topics = make(map[string]*localTopic)
	return errors.Join(errs...)
}

// leaderPartition returns the local leader replica of topic/partition with its topic config, or
// the Kafka error a client should see: UNKNOWN_TOPIC_OR_PARTITION when the metadata has no such
// partition, NOT_LEADER_OR_FOLLOWER when this node does not lead it.
func (b *Broker) leaderPartition(topic string, p int32) (*partition.Partition, config.Topic, error) {
	lp, tc, err := b.localPartition(topic, p)
	if err == nil && !lp.IsLeader() {
		err = kerr.NotLeaderForPartition
	}
	if err != nil {
		return nil, tc, err
	}
	return lp, tc, nil
}

// localPartition is leaderPartition for any local replica, leader or follower.
func (b *Broker) localPartition(topic string, p int32) (*partition.Partition, config.Topic, error) {
	lp, tc, ok := b.parts.get(topic, p)
	if !ok {
		st := b.meta.State()
		t := st.Topics[topic]
		if t == nil || p < 0 || int(p) >= len(t.Partitions) {
			return nil, tc, kerr.UnknownTopicOrPartition
		}
		return nil, tc, kerr.NotLeaderForPartition
	}
	return lp.Partition, tc, nil
}
