package raftmeta

import (
	"encoding/json"
	"fmt"
)

// Command is a change to the metadata, proposed through Raft and applied by the FSM on every
// node. The set is closed (the interface is sealed): the commands below are all there is.
//
// A command carries every decision already made (topic ids, replica assignments, leaders, ISRs),
// so that applying it is a pure function of the previous State, the command and the log index.
// See the package doc.
type Command interface {
	op() byte
}

// Op bytes: the first byte of an encoded command. They are the log format: never renumber or
// reuse one.
const (
	opInitCluster           byte = 1
	opRegisterBroker        byte = 2
	opSetBrokerFenced       byte = 3
	opCreateTopic           byte = 4
	opDeleteTopic           byte = 5
	opCreatePartitions      byte = 6
	opAlterConfigs          byte = 7
	opChangePartition       byte = 8
	opAllocateProducerIDs   byte = 9
	opResetCluster          byte = 10
	opRestoreTopics         byte = 11
	opAlterScramCredentials byte = 12
	opAlterACLs             byte = 13
	opChangePartitions      byte = 14
)

// InitCluster stamps the cluster id into a fresh metadata log. The first leader proposes it
// when its State has no cluster id yet. Applying it to a State that already has the same id is a
// no-op; a different id is rejected with ErrClusterIDMismatch. Result: nil.
type InitCluster struct {
	ClusterID string
}

// RegisterBroker adds or replaces a broker's registration (upsert). The FSM sets Broker.Epoch
// to the raft index of this entry, so a re-registration always gets a larger epoch.
// Result: the new broker epoch (int64).
type RegisterBroker struct {
	Broker Broker
}

// SetBrokerFenced fences or unfences a registered broker. Result: nil.
type SetBrokerFenced struct {
	ID     int32
	Fenced bool
}

// CreateTopic creates a topic with its full assignment: Partitions[i].ID must be i, and every
// partition must satisfy the replica invariants (see ErrInvalidPartitions). Non-empty Configs
// become the topic's dynamic configs. Result: nil.
type CreateTopic struct {
	Name       string
	ID         [16]byte
	Partitions []Partition
	Configs    map[string]string
	Internal   bool
}

// DeleteTopic removes a topic and its dynamic configs. Result: nil.
type DeleteTopic struct {
	Name string
}

// CreatePartitions appends partitions to a topic; their ids continue from the current count.
// Result: nil.
type CreatePartitions struct {
	Topic string
	Add   []Partition
}

// AlterConfigs changes the dynamic configs of a topic or broker resource. With Replace (the
// legacy AlterConfigs API) the resource's configs become exactly Set; otherwise Set is merged in
// and the keys in Delete are removed (IncrementalAlterConfigs). Values are not validated here:
// the broker validates them before proposing. Result: nil.
type AlterConfigs struct {
	Resource ConfigResource
	Set      map[string]string
	Delete   []string
	Replace  bool
}

// ChangePartition changes a partition's leader, ISR or replicas. Nil fields are left unchanged.
// With ExpectedPartitionEpoch >= 0, the change applies only if the partition's epoch is still
// that one (else ErrStalePartitionEpoch); -1 skips the check. Every applied change bumps the
// partition epoch; the leader epoch bumps when BumpLeaderEpoch is set or the leader changes
// (a new leader without a new epoch could not be told from the old one). SetReassignment sets
// AddingReplicas and RemovingReplicas (both nil: none in progress).
// Result: the new *Partition (part of the immutable state).
type ChangePartition struct {
	Topic                  string
	Partition              int32
	ExpectedPartitionEpoch int32
	Leader                 *int32
	ISR                    []int32
	Replicas               []int32
	BumpLeaderEpoch        bool
	SetReassignment        bool    `json:",omitempty"`
	AddingReplicas         []int32 `json:",omitempty"`
	RemovingReplicas       []int32 `json:",omitempty"`
}

// AllocateProducerIDs reserves Count producer ids. Result: the first id of the block (int64).
type AllocateProducerIDs struct {
	Count int64
}

func (InitCluster) op() byte         { return opInitCluster }
func (RegisterBroker) op() byte      { return opRegisterBroker }
func (SetBrokerFenced) op() byte     { return opSetBrokerFenced }
func (CreateTopic) op() byte         { return opCreateTopic }
func (DeleteTopic) op() byte         { return opDeleteTopic }
func (CreatePartitions) op() byte    { return opCreatePartitions }
func (AlterConfigs) op() byte        { return opAlterConfigs }
func (ChangePartition) op() byte     { return opChangePartition }
func (AllocateProducerIDs) op() byte { return opAllocateProducerIDs }
func (ResetCluster) op() byte        { return opResetCluster }
func (RestoreTopics) op() byte       { return opRestoreTopics }

// EncodeCommand returns the log form of cmd: its op byte, then its JSON body. The broker uses it
// to forward a proposal to the leader, which decodes it with DecodeCommand and proposes it.
func EncodeCommand(cmd Command) ([]byte, error) {
	if cmd == nil {
		return nil, fmt.Errorf("%w: nil command", ErrInvalidCommand)
	}
	body, err := json.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("%w: encoding %T: %w", ErrInvalidCommand, cmd, err)
	}
	b := make([]byte, 0, 1+len(body))
	b = append(b, cmd.op())
	return append(b, body...), nil
}

// DecodeCommand is the inverse of EncodeCommand. An op this version does not know is
// ErrUnknownCommand. Unknown JSON fields are ignored, so a newer proposer may add a field whose
// zero value means the old behaviour.
func DecodeCommand(b []byte) (Command, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty entry", ErrInvalidCommand)
	}
	op, body := b[0], b[1:]
	switch op {
	case opInitCluster:
		return decodeAs[InitCluster](op, body)
	case opRegisterBroker:
		return decodeAs[RegisterBroker](op, body)
	case opSetBrokerFenced:
		return decodeAs[SetBrokerFenced](op, body)
	case opCreateTopic:
		return decodeAs[CreateTopic](op, body)
	case opDeleteTopic:
		return decodeAs[DeleteTopic](op, body)
	case opCreatePartitions:
		return decodeAs[CreatePartitions](op, body)
	case opAlterConfigs:
		return decodeAs[AlterConfigs](op, body)
	case opChangePartition:
		return decodeAs[ChangePartition](op, body)
	case opAllocateProducerIDs:
		return decodeAs[AllocateProducerIDs](op, body)
	case opResetCluster:
		return decodeAs[ResetCluster](op, body)
	case opRestoreTopics:
		return decodeAs[RestoreTopics](op, body)
	case opAlterScramCredentials:
		return decodeAs[AlterScramCredentials](op, body)
	case opAlterACLs:
		return decodeAs[AlterACLs](op, body)
	case opChangePartitions:
		return decodeAs[ChangePartitions](op, body)
	}
	return nil, fmt.Errorf("%w: op %d", ErrUnknownCommand, op)
}

func decodeAs[T Command](op byte, body []byte) (Command, error) {
	var c T
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, fmt.Errorf("%w: op %d: %w", ErrInvalidCommand, op, err)
	}
	return c, nil
}
