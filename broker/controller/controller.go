package controller

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/minikraft/minikraft/internal/uuid"
	"github.com/minikraft/minikraft/raftmeta"
)

// Errors the controller's validation returns; messages follow Kafka's.
var (
	ErrInvalidReplicationFactor = errors.New("controller: invalid replication factor")
	ErrInvalidPartitions        = errors.New("controller: invalid partition count")
	ErrInvalidReplicaAssignment = errors.New("controller: invalid replica assignment")
)

// Controller turns cluster decisions into metadata commands. It must run where Propose succeeds:
// on the Raft leader.
type Controller struct {
	meta *raftmeta.Node
	log  *slog.Logger

	mu       sync.Mutex // guards rnd, lastSeen, lastTick, stopping and progress
	rnd      *mrand.Rand
	lastSeen map[int32]time.Time // broker heartbeats; see liveness.go
	lastTick time.Time           // the previous Tick (see Tick: a gap resets lastSeen)
	// stopping holds the incarnation of each broker in controlled shutdown: its heartbeats no
	// longer unfence it (see ShutdownBroker).
	stopping map[int32][16]byte
	progress map[int32]metadataProgress // see quorum.go
	applied  appliedIndexes             // see liveness.go
}

// New returns a controller proposing through meta.
func New(meta *raftmeta.Node, logger *slog.Logger) *Controller {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var seed [32]byte
	rand.Read(seed[:])
	return &Controller{
		meta:     meta,
		log:      logger,
		rnd:      mrand.New(mrand.NewChaCha8(seed)),
		lastSeen: make(map[int32]time.Time),
		stopping: make(map[int32][16]byte),
		progress: make(map[int32]metadataProgress),
		applied:  appliedIndexes{index: make(map[int32]uint64), changed: make(chan struct{})},
	}
}

// TopicSpec is a topic to create. Partitions and ReplicationFactor are already resolved from
// broker defaults when the request said -1; Assignment, when set, gives each partition's
// replicas explicitly (and then Partitions and ReplicationFactor are ignored).
type TopicSpec struct {
	Name              string
	Partitions        int32
	ReplicationFactor int16
	Assignment        [][]int32
	Configs           map[string]string
	Internal          bool
}

// usableBrokers are the registered, unfenced brokers that new replicas may be placed on.
func usableBrokers(st *raftmeta.State) []int32 {
	var ids []int32
	for id, br := range st.Brokers {
		if !br.Fenced {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// racksOf maps each broker to its rack ("" when it has none).
func racksOf(st *raftmeta.State, brokers []int32) map[int32]string {
	m := make(map[int32]string, len(brokers))
	for _, id := range brokers {
		m[id] = st.Brokers[id].Rack
	}
	return m
}

// CreateTopic validates spec, places its replicas and, unless validateOnly, commits it. It returns
// the topic as committed (or as it would be).
func (c *Controller) CreateTopic(ctx context.Context, spec TopicSpec, validateOnly bool) (*raftmeta.Topic, error) {
	st := c.meta.State()
	if st.Topics[spec.Name] != nil {
		return nil, fmt.Errorf("%w: Topic '%s' already exists.", raftmeta.ErrTopicExists, spec.Name)
	}
	assignment := spec.Assignment
	if len(assignment) == 0 {
		if spec.Partitions <= 0 {
			return nil, fmt.Errorf("%w: Number of partitions was set to an invalid non-positive value.", ErrInvalidPartitions)
		}
		if spec.ReplicationFactor <= 0 {
			return nil, fmt.Errorf("%w: Replication factor must be larger than 0.", ErrInvalidReplicationFactor)
		}
		brokers := usableBrokers(st)
		if int(spec.ReplicationFactor) > len(brokers) {
			return nil, fmt.Errorf("%w: Unable to replicate the partition %d time(s): The target replication factor of %d cannot be reached because only %d broker(s) are registered.",
				ErrInvalidReplicationFactor, spec.ReplicationFactor, spec.ReplicationFactor, len(brokers))
		}
		c.mu.Lock()
		var err error
		assignment, err = AssignRackAware(racksOf(st, brokers), int(spec.Partitions), int(spec.ReplicationFactor), 0, c.rnd)
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
	} else if err := validateAssignment(st, assignment, -1); err != nil {
		return nil, err
	}
	t := &raftmeta.Topic{Name: spec.Name, ID: uuid.New(), Internal: spec.Internal}
	parts := make([]raftmeta.Partition, len(assignment))
	for i, replicas := range assignment {
		var err error
		if parts[i], err = newPartition(st, int32(i), replicas, len(spec.Assignment) > 0); err != nil {
			return nil, err
		}
		t.Partitions = append(t.Partitions, &parts[i])
	}
	if validateOnly {
		return t, nil
	}
	_, err := c.meta.Propose(ctx, raftmeta.CreateTopic{
		Name: spec.Name, ID: t.ID, Partitions: parts, Configs: spec.Configs, Internal: spec.Internal,
	})
	if err != nil {
		return nil, err
	}
	return c.meta.State().Topics[spec.Name], nil
}

// newPartition is a fresh partition: a new partition has no data, so every live replica is
// trivially caught up; fenced replicas stay out of the ISR and the first live one leads, as
// KRaft's ReplicationControlManager.createTopic does. With no live replica it is refused as Kafka
// refuses it: a manual assignment (the client named the brokers) is INVALID_REPLICA_ASSIGNMENT,
// one minikraft placed is INVALID_REPLICATION_FACTOR, like the placer's own refusal.
func newPartition(st *raftmeta.State, id int32, replicas []int32, manual bool) (raftmeta.Partition, error) {
	var isr []int32
	for _, r := range replicas {
		if br := st.Brokers[r]; br != nil && !br.Fenced {
			isr = append(isr, r)
		}
	}
	switch {
	case len(isr) == 0 && manual:
		return raftmeta.Partition{}, fmt.Errorf("%w: All brokers specified in the manual partition assignment for partition %d are fenced or in controlled shutdown.",
			ErrInvalidReplicaAssignment, id)
	case len(isr) == 0:
		return raftmeta.Partition{}, fmt.Errorf("%w: Unable to replicate the partition %d time(s): All brokers are currently fenced or in controlled shutdown.",
			ErrInvalidReplicationFactor, len(replicas))
	}
	return raftmeta.Partition{
		ID:       id,
		Replicas: slices.Clone(replicas),
		ISR:      isr,
		Leader:   isr[0],
	}, nil
}

// validateAssignment checks an explicit assignment: every partition has replicas, all of one
// count (rf, or the first partition's when rf < 0), no broker twice, every broker registered.
func validateAssignment(st *raftmeta.State, assignment [][]int32, rf int) error {
	for i, replicas := range assignment {
		if len(replicas) == 0 {
			return fmt.Errorf("%w: partition %d has no replicas", ErrInvalidReplicaAssignment, i)
		}
		if rf < 0 {
			rf = len(replicas)
		}
		if len(replicas) != rf {
			return fmt.Errorf("%w: All partitions should have the same number of replicas", ErrInvalidReplicaAssignment)
		}
		seen := make(map[int32]bool, len(replicas))
		for _, r := range replicas {
			if seen[r] {
				return fmt.Errorf("%w: Duplicate brokers not allowed in replica assignment: %v for partition id %d", ErrInvalidReplicaAssignment, replicas, i)
			}
			seen[r] = true
			if st.Brokers[r] == nil {
				return fmt.Errorf("%w: The manual partition assignment includes broker %d, but no such broker is registered.", ErrInvalidReplicaAssignment, r)
			}
		}
	}
	return nil
}

// DeleteTopic removes a topic from the metadata.
func (c *Controller) DeleteTopic(ctx context.Context, name string) error {
	if c.meta.State().Topics[name] == nil {
		return fmt.Errorf("%w: This server does not host this topic-partition.", raftmeta.ErrUnknownTopic)
	}
	_, err := c.meta.Propose(ctx, raftmeta.DeleteTopic{Name: name})
	return err
}

// CreatePartitions grows topic to total partitions, placing the new ones like Assign (or as
// assignment says for them).
func (c *Controller) CreatePartitions(ctx context.Context, topic string, total int32, assignment [][]int32, validateOnly bool) error {
	st := c.meta.State()
	t := st.Topics[topic]
	if t == nil {
		return fmt.Errorf("%w: This server does not host this topic-partition.", raftmeta.ErrUnknownTopic)
	}
	cur := int32(len(t.Partitions))
	if total < cur {
		return fmt.Errorf("%w: Topic currently has %d partitions, which is higher than the requested %d.", ErrInvalidPartitions, cur, total)
	}
	if total == cur {
		return fmt.Errorf("%w: Topic already has %d partitions.", ErrInvalidPartitions, cur)
	}
	rf := len(t.Partitions[0].Replicas)
	add := int(total - cur)
	manual := len(assignment) > 0
	if manual {
		if len(assignment) != add {
			return fmt.Errorf("%w: Attempted to add %d additional partitions, but only %d assignment(s) were specified.", ErrInvalidReplicaAssignment, add, len(assignment))
		}
		if err := validateAssignment(st, assignment, rf); err != nil {
			return err
		}
	} else {
		brokers := usableBrokers(st)
		if rf > len(brokers) {
			return fmt.Errorf("%w: Unable to replicate the partition %d time(s): The target replication factor of %d cannot be reached because only %d broker(s) are registered.",
				ErrInvalidReplicationFactor, rf, rf, len(brokers))
		}
		c.mu.Lock()
		var err error
		assignment, err = AssignRackAware(racksOf(st, brokers), add, rf, int(cur), c.rnd)
		c.mu.Unlock()
		if err != nil {
			return err
		}
	}
	// Checked before validateOnly returns: Kafka refuses a partition without a live replica in
	// a validate-only request too.
	parts := make([]raftmeta.Partition, add)
	for i, replicas := range assignment {
		var err error
		if parts[i], err = newPartition(st, cur+int32(i), replicas, manual); err != nil {
			return err
		}
	}
	if validateOnly {
		return nil
	}
	_, err := c.meta.Propose(ctx, raftmeta.CreatePartitions{Topic: topic, Add: parts})
	return err
}

// AlterConfigs commits a config change of a topic or broker resource. Values must already be
// validated.
func (c *Controller) AlterConfigs(ctx context.Context, cmd raftmeta.AlterConfigs) error {
	_, err := c.meta.Propose(ctx, cmd)
	return err
}

// AlterScramCredentials commits SCRAM credential changes the broker has validated.
func (c *Controller) AlterScramCredentials(ctx context.Context, cmd raftmeta.AlterScramCredentials) error {
	_, err := c.meta.Propose(ctx, cmd)
	return err
}

// AlterACLs commits ACL additions and removals the broker has validated and resolved.
func (c *Controller) AlterACLs(ctx context.Context, cmd raftmeta.AlterACLs) error {
	_, err := c.meta.Propose(ctx, cmd)
	return err
}

// AllocateProducerIDs reserves count producer ids and returns the first.
func (c *Controller) AllocateProducerIDs(ctx context.Context, count int64) (int64, error) {
	res, err := c.meta.Propose(ctx, raftmeta.AllocateProducerIDs{Count: count})
	if err != nil {
		return 0, err
	}
	first, ok := res.(int64)
	if !ok {
		return 0, fmt.Errorf("controller: producer id allocation returned %T", res)
	}
	return first, nil
}
