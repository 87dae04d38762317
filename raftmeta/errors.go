package raftmeta

import (
	"errors"
	"fmt"
)

// Errors returned by Propose (and, for the command errors, by the FSM as Apply results). They are
// wrapped with %w and a message naming the object, so test them with errors.Is.
var (
	// ErrTopicExists: CreateTopic of a name (or topic id) that is already in use.
	ErrTopicExists = errors.New("raftmeta: topic already exists")
	// ErrUnknownTopic: a command names a topic that does not exist.
	ErrUnknownTopic = errors.New("raftmeta: unknown topic")
	// ErrUnknownPartition: ChangePartition names a partition the topic does not have.
	ErrUnknownPartition = errors.New("raftmeta: unknown partition")
	// ErrUnknownBroker: SetBrokerFenced of a broker that never registered.
	ErrUnknownBroker = errors.New("raftmeta: unknown broker")
	// ErrStalePartitionEpoch: ChangePartition's ExpectedPartitionEpoch is not the partition's
	// current epoch: the proposer decided on an old view (Kafka's INVALID_UPDATE_VERSION /
	// FENCED_LEADER_EPOCH case for AlterPartition).
	ErrStalePartitionEpoch = errors.New("raftmeta: stale partition epoch")
	// ErrInvalidPartitions: a partition assignment or change that breaks the invariants
	// (ids in order, replicas non-empty and distinct, ISR within replicas, leader in the ISR).
	ErrInvalidPartitions = errors.New("raftmeta: invalid partitions")
	// ErrInvalidConfigResource: AlterConfigs on a resource type other than topic (2) or broker
	// (4), or a broker resource whose name is neither "" nor a decimal broker id.
	ErrInvalidConfigResource = errors.New("raftmeta: invalid config resource")
	// ErrInvalidCommand: a command that is malformed in itself (an empty name, a zero topic id,
	// a negative count) or that cannot be encoded.
	ErrInvalidCommand = errors.New("raftmeta: invalid command")
	// ErrUnknownCommand: DecodeCommand met an op byte this version does not know. (The FSM
	// panics instead: see the package doc.)
	ErrUnknownCommand = errors.New("raftmeta: unknown command")
	// ErrClusterIDMismatch: the metadata log belongs to another cluster than Config.ClusterID.
	ErrClusterIDMismatch = errors.New("raftmeta: cluster id mismatch")

	// ErrNotLeader: Propose on a node that is not the Raft leader. The caller forwards the
	// command to the leader (Leader()) and retries there.
	ErrNotLeader = errors.New("raftmeta: not the leader")
	// ErrLeadershipLost: the node lost leadership while the command was in flight. The command
	// may or may not be committed by the next leader; it wraps ErrNotLeader because the caller's
	// answer is the same as Kafka's NOT_CONTROLLER (retry on the new leader; a retried create
	// may then see ErrTopicExists).
	ErrLeadershipLost = fmt.Errorf("%w: leadership lost with the command in flight, which may still be applied", ErrNotLeader)
	// ErrTimeout: the context's deadline passed before the command was applied (it may still be).
	ErrTimeout = errors.New("raftmeta: timed out")
	// ErrClosed: the node is closed.
	ErrClosed = errors.New("raftmeta: node closed")
)
