package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/minikraft/minikraft/broker/config"
	"github.com/minikraft/minikraft/broker/controller"
	"github.com/minikraft/minikraft/broker/group"
	"github.com/minikraft/minikraft/broker/partition"
	"github.com/minikraft/minikraft/log"
	"github.com/minikraft/minikraft/raftmeta"
)

// Kafka's internal topics: group metadata and committed offsets, and the transaction log.
const (
	offsetsTopic     = "__consumer_offsets"
	transactionTopic = "__transaction_state"
)

// groupConfig is the coordinator's configuration from the broker's properties.
func (b *Broker) groupConfig() group.Config {
	bc := &b.cfg.Broker
	return group.Config{
		NumPartitions:         bc.OffsetsTopicPartitions,
		InitialRebalanceDelay: bc.GroupInitialRebalanceDelay,
		MinSessionTimeout:     bc.GroupMinSessionTimeout,
		MaxSessionTimeout:     bc.GroupMaxSessionTimeout,
		MaxSize:               bc.GroupMaxSize,
		OffsetsRetention:      bc.OffsetsRetention,
		// How often expired offsets are removed, the longest metadata an offset commit may
		// carry (OFFSET_METADATA_TOO_LARGE beyond), and how long a commit waits for the ISR.
		OffsetsRetentionCheckInterval: bc.OffsetsRetentionCheckInterval,
		MaxMetadataBytes:              bc.OffsetMetadataMaxBytes,
		CommitTimeout:                 bc.OffsetsCommitTimeout,
		PartitionCount:                b.offsetsPartitionCount,
		TopicExists: func(topic string, p int32) bool {
			t := b.meta.State().Topics[topic]
			return t != nil && p >= 0 && int(p) < len(t.Partitions)
		},
		// FindCoordinator answers from the newest metadata; the coordinator learns of the same
		// election only once applyMetadata has promoted the replicas.
		Leads: func(p int32) bool {
			t := b.meta.State().Topics[offsetsTopic]
			return t != nil && p >= 0 && int(p) < len(t.Partitions) && t.Partitions[p].Leader == bc.NodeID
		},
		Logger: b.log.With("component", "group"),
	}
}

// ensureOffsetsTopic creates __consumer_offsets on first use, as Kafka does when the first
// FindCoordinator arrives.
func (b *Broker) ensureOffsetsTopic(ctx context.Context) (*raftmeta.Topic, error) {
	if t := b.meta.State().Topics[offsetsTopic]; t != nil {
		return t, nil
	}
	t, err := b.createInternalTopic(ctx, offsetsTopic)
	if err != nil && errorCode(err) != kerr.TopicAlreadyExists.Code {
		return nil, err
	}
	b.applyMetadata(b.meta.State())
	if t == nil {
		t = b.meta.State().Topics[offsetsTopic]
	}
	return t, nil
}

// createInternalTopic creates __consumer_offsets or __transaction_state with the settings Kafka's
// AutoTopicCreationManager.creatableTopic gives them, whoever asks first (a FindCoordinator, or a
// Metadata request allowed to create topics, as sarama-based lag monitors send before any group
// exists): offsets.topic.* or transaction.state.log.* for the partition count and replication
// factor, and the coordinators' topic configs (GroupCoordinator.offsetsTopicConfigs,
// TransactionStateManager.transactionTopicConfigs), never num.partitions and
// default.replication.factor. A one-partition __consumer_offsets would hold every group in
// partition 0; the coordinator routes by the topic's real partition count, so that would work,
// but it is not the topic Kafka makes.
//
// The replication factor is capped at the number of live brokers, and the transaction log's
// min.insync.replicas at that factor: Kafka would instead refuse to create the topic (and answer
// COORDINATOR_NOT_AVAILABLE for ever) on a cluster smaller than the factor, which is exactly the
// one-node developer setup minikraft's default serves.
func (b *Broker) createInternalTopic(ctx context.Context, name string) (*raftmeta.Topic, error) {
	live := 0
	for _, br := range b.meta.State().Brokers {
		if !br.Fenced {
			live++
		}
	}
	spec, ok := internalTopicSpec(&b.cfg.Broker, name, live)
	if !ok {
		return nil, fmt.Errorf("broker: %s is not an internal topic", name)
	}
	if spec.ReplicationFactor < 1 {
		return nil, fmt.Errorf("%w: no live broker to place %s on", kerr.CoordinatorNotAvailable, name)
	}
	return b.createTopic(ctx, spec, internalTopicPropagationMillis)
}

// internalTopicPropagationMillis is how long creating an internal topic waits for every live
// broker to apply it (the controller waits 9/10 of it at most, as for a CreateTopics timeout):
// FindCoordinator names the leader of one of its partitions at once, and a coordinator that had
// not yet applied the topic would answer the client's first JoinGroup or InitProducerId with
// NOT_COORDINATOR, after which clients back off (franz-go 250 ms, Kafka's clients 100 ms).
const internalTopicPropagationMillis = 5000

// internalTopicSpec is the topic Kafka creates for an internal topic name, with its replication
// factor capped at live brokers (see createInternalTopic); ok is false for other names.
func internalTopicSpec(bc *config.Broker, name string, live int) (spec controller.TopicSpec, ok bool) {
	var parts, rf int
	var configs map[string]string
	switch name {
	case offsetsTopic:
		parts, rf = bc.OffsetsTopicPartitions, min(bc.OffsetsTopicReplicationFactor, live)
		configs = map[string]string{
			"cleanup.policy":   "compact",
			"segment.bytes":    strconv.Itoa(bc.OffsetsTopicSegmentBytes),
			"compression.type": "producer",
		}
	case transactionTopic:
		parts, rf = bc.TransactionStateLogPartitions, min(bc.TransactionStateLogReplicationFactor, live)
		configs = map[string]string{
			"unclean.leader.election.enable": "false",
			"compression.type":               "uncompressed",
			"cleanup.policy":                 "compact",
			"min.insync.replicas":            strconv.Itoa(max(1, min(bc.TransactionStateLogMinISR, rf))),
			"segment.bytes":                  strconv.Itoa(bc.TransactionStateLogSegmentBytes),
		}
	default:
		return controller.TopicSpec{}, false
	}
	return controller.TopicSpec{
		Name:              name,
		Partitions:        int32(parts),
		ReplicationFactor: int16(rf),
		Configs:           configs,
		Internal:          true,
	}, true
}

// offsetsPartitionCount is the number of partitions __consumer_offsets has, or
// offsets.topic.num.partitions before it exists: the coordinator routes groups by it, as Kafka's
// GroupMetadataManager does by the existing topic's count.
func (b *Broker) offsetsPartitionCount() int {
	if t := b.meta.State().Topics[offsetsTopic]; t != nil && len(t.Partitions) > 0 {
		return len(t.Partitions)
	}
	return b.cfg.Broker.OffsetsTopicPartitions
}

// syncGroupCoordinator tells the coordinator which __consumer_offsets partitions this node now
// leads: it loads the groups of a partition it gained and drops those of one it lost.
func (b *Broker) syncGroupCoordinator(st *raftmeta.State) {
	t := st.Topics[offsetsTopic]
	self := b.cfg.Broker.NodeID
	lead := make(map[int32]bool)
	if t != nil {
		for _, p := range t.Partitions {
			if p.Leader == self {
				lead[p.ID] = true
			}
		}
	}
	for p := range b.ledOffsets {
		if !lead[p] {
			b.groups.Resigned(p)
			delete(b.ledOffsets, p)
		}
	}
	if t != nil {
		b.ledOffsetsID = t.ID
	}
	retry := false
	for p := range lead {
		if !b.ledOffsets[p] {
			if err := b.groups.Elected(b.ctx, p); err != nil {
				// Not loaded (the coordinator answers COORDINATOR_LOAD_IN_PROGRESS meanwhile):
				// try again soon rather than at the next metadata change, which may be long.
				retry = true
				continue
			}
			b.ledOffsets[p] = true
		}
	}
	if retry {
		b.retryGroupLoad()
	}
}

// resignReplacedOffsets drops the groups of every __consumer_offsets partition this node leads
// when st has a __consumer_offsets of another topic id (re-created empty by the fixture's Reset,
// raftmeta.ResetCluster) or none. It runs before the replica manager replaces the replicas, and
// a resigned partition's appends are cancelled (offsetsStore.Append checks after its lookup), so
// no commit of an old group lands in the new topic; syncGroupCoordinator then elects the new
// partitions, which load no group.
func (b *Broker) resignReplacedOffsets(st *raftmeta.State) {
	t := st.Topics[offsetsTopic]
	if t != nil && t.ID == b.ledOffsetsID {
		return
	}
	for p := range b.ledOffsets {
		b.groups.Resigned(p)
		delete(b.ledOffsets, p)
	}
}

// groupLoadRetry is how long a failed load of a __consumer_offsets partition waits before the
// next attempt.
const groupLoadRetry = 200 * time.Millisecond

// retryGroupLoad reconciles the metadata again after groupLoadRetry, so syncGroupCoordinator
// retries the partitions it leads but could not load. One retry is pending at a time.
func (b *Broker) retryGroupLoad() {
	if b.ctx.Err() != nil || !b.groupRetry.CompareAndSwap(false, true) {
		return
	}
	b.goBackground(func() {
		t := time.NewTimer(groupLoadRetry)
		defer t.Stop()
		select {
		case <-t.C:
		case <-b.ctx.Done():
			b.groupRetry.Store(false)
			return
		}
		b.groupRetry.Store(false)
		b.applyMetadata(b.meta.State())
	})
}

// offsetsStore implements group.Store with the local __consumer_offsets partitions.
type offsetsStore struct {
	b *Broker
	// txnMu makes choosing a transactional batch's sequence and appending it one step
	// (appendTxn). Lock order: taken before Partition.mu, with no other lock held.
	txnMu sync.Mutex
}

// Append writes recs as one batch (a transactional batch of txn, if not nil) and waits until the
// ISR has it, so a commit acknowledged to a client survives what an acks=all produce survives.
func (s *offsetsStore) Append(ctx context.Context, part int32, recs []group.Record, txn *group.Producer) (int64, error) {
	kvs := make([]log.KeyValue, len(recs))
	for i, r := range recs {
		kvs[i] = log.KeyValue{Key: r.Key, Value: r.Value}
	}
	if txn == nil {
		return s.b.appendInternal(ctx, offsetsTopic, part, kvs)
	}
	p, err := s.b.internalLeader(ctx, offsetsTopic, part)
	if err != nil {
		return -1, err
	}
	info, err := s.appendTxn(p, log.EncodeBatch(kvs, time.Now().UnixMilli()), txn)
	if err == nil {
		err = p.WaitForAck(ctx, info.LeaderEpoch, info.LastOffset)
	}
	if err != nil {
		return -1, storeError(ctx, err)
	}
	return info.BaseOffset, nil
}

// appendInternal writes a coordinator's records (groups' to __consumer_offsets, transactions' to
// __transaction_state) to a local leader as one uncompressed batch, waits until the ISR has it,
// and returns the batch's first offset.
func (b *Broker) appendInternal(ctx context.Context, topic string, part int32, kvs []log.KeyValue) (int64, error) {
	p, err := b.internalLeader(ctx, topic, part)
	if err != nil {
		return -1, err
	}
	batch := log.EncodeBatch(kvs, time.Now().UnixMilli())
	hdrs, err := log.ValidateBatches(batch, len(batch), nil)
	if err != nil {
		return -1, fmt.Errorf("broker: encoding %s records: %w", topic, err)
	}
	info, err := p.AppendAsLeader(batch, hdrs, -1)
	if err == nil {
		err = p.WaitForAck(ctx, info.LeaderEpoch, info.LastOffset)
	}
	if err != nil {
		return -1, storeError(ctx, err)
	}
	return info.BaseOffset, nil
}

// internalLeader is the local leader replica a coordinator writes to, unless ctx already ended:
// resigned (or closing). ctx is checked after the lookup because a resignation comes before the
// replica is replaced (resignReplacedOffsets, the fixture's Reset), so a replica found after the
// replacement always meets a cancelled ctx here and no old write lands in the new topic.
func (b *Broker) internalLeader(ctx context.Context, topic string, part int32) (*partition.Partition, error) {
	p, _, err := b.replicas.Leader(topic, part)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, storeError(ctx, fmt.Errorf("%w: %w", partition.ErrTimeout, err))
	}
	return p, nil
}

// storeError gives the coordinator the *kerr.Error group.Store promises for an error of the
// local partition or log, so that it answers as Kafka's GroupMetadataManager does: a replica
// that lost its leadership or closed is NOT_LEADER_OR_FOLLOWER (the client hears
// NOT_COORDINATOR and looks the coordinator up again), too few in-sync replicas
// NOT_ENOUGH_REPLICAS (COORDINATOR_NOT_AVAILABLE), a storage error KAFKA_STORAGE_ERROR
// (NOT_COORDINATOR), a too large batch MESSAGE_TOO_LARGE. Unwrapped, each of these was
// UNKNOWN_SERVER_ERROR, on which clients give up. The wait for the ISR ends with
// partition.ErrTimeout whatever ended its ctx: a cancelled ctx (the partition was resigned, the
// broker is closing) is returned as such, which the coordinator answers NOT_COORDINATOR, and an
// expired one (offsets.commit.timeout.ms) is REQUEST_TIMED_OUT. Errors with no Kafka code are
// returned unchanged.
func storeError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, partition.ErrTimeout) && errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return err
	}
	code := errorCode(err)
	if code == kerr.UnknownServerError.Code {
		return err
	}
	return fmt.Errorf("%w: %w", kerr.ErrorForCode(code), err)
}

// Replay reads a partition from its start to its log end offset, as Kafka's
// GroupMetadataManager loads (FetchLogEnd): a new leader's high watermark lags the records the
// old leader had already acknowledged (a follower learns the high watermark one fetch later),
// and a leader never truncates its own log. The end is read again after each chunk, as Kafka's
// loader does, so a transaction marker written meanwhile is read too. Each record comes with its
// offset and its batch's producer id and transactional flag, and each transaction marker as a
// Control record, which the coordinator needs to rebuild transactional offset commits.
func (s *offsetsStore) Replay(ctx context.Context, part int32, fn func(group.Record) error) error {
	return s.b.replayInternal(ctx, offsetsTopic, part, fn)
}

// replayInternal reads a local leader of a coordinator's topic from its start to its log end
// offset (see offsetsStore.Replay), record by record.
func (b *Broker) replayInternal(ctx context.Context, topic string, part int32, fn func(group.Record) error) error {
	p, _, err := b.replicas.Leader(topic, part)
	if err != nil {
		return err
	}
	for off := p.LogStartOffset(); off < p.LogEndOffset(); {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Read as a replica: up to the log end offset, not the high watermark.
		rr, err := p.Read(off, 1<<20, b.cfg.Broker.NodeID, -1)
		if err != nil {
			return storeError(ctx, err)
		}
		if len(rr.Records) == 0 {
			break
		}
		next, err := replayBatches(rr.Records, off, fn)
		if err != nil {
			return err
		}
		if next <= off {
			return fmt.Errorf("broker: replaying %s-%d: no whole batch at offset %d", topic, part, off)
		}
		off = next
	}
	return nil
}
