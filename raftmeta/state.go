package raftmeta

import (
	"slices"
	"strconv"
)

// State is the whole cluster metadata at one point of the log.
//
// A *State is immutable once published: never mutate one obtained from Node.State() or
// FSM.State(). The FSM copies on write (it clones the maps, topics and partitions a command
// changes and shares the rest), so a reader can hold a State for as long as it likes without
// locks and see a consistent cluster. The maps are never nil.
type State struct {
	ClusterID      string
	Index          uint64                               // raft index of the last applied command
	Brokers        map[int32]*Broker                    // by broker id
	Topics         map[string]*Topic                    // by name
	TopicIDs       map[[16]byte]string                  // topic id → name
	Configs        map[ConfigResource]map[string]string // dynamic configs of topics and brokers
	NextProducerID int64                                // first producer id not yet handed out
	// ScramCredentials are the users' SCRAM credentials (scram.go), by user and mechanism.
	ScramCredentials map[ScramKey]ScramCredential
	// ACLs are the authorizer's access control bindings (acls.go), sorted by compareACL. Every
	// change makes a new slice, so a reader may key a cache on it (nil: none).
	ACLs []ACL
}

// Config resource types, as Kafka numbers them (DescribeConfigs' ResourceType). These are the
// module's one spelling of them: the broker's config APIs use them too. Only topic and broker
// resources hold configs; BrokerLogger is named so that the APIs can refuse it.
const (
	ConfigResourceTopic        int8 = 2
	ConfigResourceBroker       int8 = 4
	ConfigResourceBrokerLogger int8 = 8
)

// ConfigResource names what a set of dynamic configs belongs to.
type ConfigResource struct {
	Type int8   // ConfigResourceTopic or ConfigResourceBroker
	Name string // topic name; broker id in decimal, or "" for the cluster-wide broker default
}

// BrokerConfigResource names the dynamic configs of broker id (its per-broker overrides).
func BrokerConfigResource(id int32) ConfigResource {
	return ConfigResource{Type: ConfigResourceBroker, Name: strconv.Itoa(int(id))}
}

// Broker is a registered broker.
type Broker struct {
	ID          int32
	Incarnation [16]byte // random per process start, so a restarted broker is told from a stale one
	Listeners   []Endpoint
	Rack        string
	Fenced      bool
	Epoch       int64 // raft index of the registration (Kafka's broker epoch)
}

// Endpoint is one advertised listener of a broker.
type Endpoint struct {
	Name             string // listener name, e.g. "PLAINTEXT"
	Host             string
	Port             int32
	SecurityProtocol string
}

// Topic is a topic and its partitions' replica state.
type Topic struct {
	Name       string
	ID         [16]byte
	Partitions []*Partition // index = partition id
	Internal   bool
}

// Partition is the replica state of one partition, as the controller decided it.
type Partition struct {
	ID              int32
	Replicas        []int32
	ISR             []int32
	Leader          int32 // -1: no leader
	LeaderEpoch     int32
	PartitionEpoch  int32 // bumps on every change (Kafka's partition epoch / ZK version)
	OfflineReplicas []int32
	// A reassignment in progress (KIP-455): Replicas holds the target replicas first, then
	// the ones leaving; AddingReplicas are joining (not yet all in the ISR), RemovingReplicas
	// leave when they have.
	AddingReplicas   []int32 `json:",omitempty"`
	RemovingReplicas []int32 `json:",omitempty"`
}

// Reassigning reports whether a reassignment of the partition is in progress.
func (p *Partition) Reassigning() bool {
	return len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
}

// NoLeader is Partition.Leader when the partition has no leader.
const NoLeader int32 = -1

func emptyState() *State {
	return &State{
		Brokers:  map[int32]*Broker{},
		Topics:   map[string]*Topic{},
		TopicIDs: map[[16]byte]string{},
		Configs:  map[ConfigResource]map[string]string{},

		ScramCredentials: map[ScramKey]ScramCredential{},
	}
}

// Topic returns the topic with this name, or nil.
func (s *State) Topic(name string) *Topic { return s.Topics[name] }

// TopicByID returns the topic with this id, or nil.
func (s *State) TopicByID(id [16]byte) *Topic {
	name, ok := s.TopicIDs[id]
	if !ok {
		return nil
	}
	return s.Topics[name]
}

// Broker returns the registered broker with this id, or nil.
func (s *State) Broker(id int32) *Broker { return s.Brokers[id] }

// Partition returns one partition of a topic, or nil if either does not exist.
func (s *State) Partition(topic string, id int32) *Partition {
	return s.Topics[topic].Partition(id)
}

// Config returns the dynamic configs set on a resource (nil if none). The map is part of the
// immutable state: read it, never write it.
func (s *State) Config(r ConfigResource) map[string]string { return s.Configs[r] }

// Partition returns the partition with this id, or nil. It is safe on a nil *Topic.
func (t *Topic) Partition(id int32) *Partition {
	if t == nil || id < 0 || int(id) >= len(t.Partitions) {
		return nil
	}
	return t.Partitions[id]
}

// HasReplica reports whether broker id is one of the partition's replicas.
func (p *Partition) HasReplica(id int32) bool { return slices.Contains(p.Replicas, id) }

// InISR reports whether broker id is in the partition's ISR.
func (p *Partition) InISR(id int32) bool { return slices.Contains(p.ISR, id) }

// Copy-on-write helpers. A command clones exactly what it changes: the State struct, the maps it
// writes to, and the Topic and Partition it edits; everything else is shared with the previous
// State.

func (s *State) shallowCopy() *State {
	c := *s
	return &c
}

func (p *Partition) clone() *Partition {
	c := *p
	c.Replicas = slices.Clone(p.Replicas)
	c.ISR = slices.Clone(p.ISR)
	c.OfflineReplicas = slices.Clone(p.OfflineReplicas)
	c.AddingReplicas = slices.Clone(p.AddingReplicas)
	c.RemovingReplicas = slices.Clone(p.RemovingReplicas)
	return &c
}

func (b *Broker) clone() *Broker {
	c := *b
	c.Listeners = slices.Clone(b.Listeners)
	return &c
}

// cloneMap copies a map (nil stays nil only when m is nil; callers of the state maps always
// have a non-nil one).
func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	c := make(map[K]V, len(m)+1)
	for k, v := range m {
		c[k] = v
	}
	return c
}
