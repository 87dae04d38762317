package group

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/minikraft/minikraft/internal/coordhash"
	"github.com/minikraft/minikraft/internal/uuid"
)

// Record is one __consumer_offsets record: Key and Value encoded exactly as Kafka does
// (kmsg.OffsetCommitKey/Value, kmsg.GroupMetadataKey/Value; Value nil = tombstone).
//
// Replay also says where the record is and what batch it came in, which the coordinator needs to
// rebuild transactional offset commits (Kafka's loading of pendingOffsetsByProducer); Append
// ignores these fields.
type Record struct {
	Key, Value []byte

	Offset        int64 // the record's offset in the log
	ProducerID    int64 // the batch's producer id (-1: none)
	Transactional bool  // the batch is transactional: an offset commit pending its producer's marker
	// Control: the record is a transaction marker (a control batch's record): Key is the control
	// record key (version int16, type int16: 0 abort, 1 commit), Value is ignored.
	Control bool
}

// Producer is a transactional producer, whose offset commits (TxnOffsetCommit) are written as a
// transactional batch of its own.
type Producer struct {
	ID    int64
	Epoch int16
}

// Store persists records in __consumer_offsets partition `partition`.
//
// Append writes recs as one batch and returns the offset of its first record after the records
// are durable (acks=all). With txn nil the batch is a plain one; otherwise it is a transactional
// batch of that producer (producer id and epoch set, transactional attribute set), so that the
// partition's producer state knows the open transaction as Kafka's does, and refuses a fenced
// epoch (INVALID_PRODUCER_EPOCH). An error should be, or wrap, a *kerr.Error
// (kerr.NotLeaderForPartition, kerr.NotEnoughReplicas, kerr.RequestTimedOut, ...): the
// coordinator maps it to the code the client sees exactly as Kafka does (a not-leader error
// becomes NOT_COORDINATOR, a timeout REBALANCE_IN_PROGRESS for a SyncGroup, ...).
// context.DeadlineExceeded counts as REQUEST_TIMED_OUT, context.Canceled as NOT_COORDINATOR,
// anything else as UNKNOWN_SERVER_ERROR.
//
// Replay calls fn with every record from the log start offset to the log end offset, in offset
// order, transaction markers included (Record.Control); an error from fn or ctx stops it.
type Store interface {
	Append(ctx context.Context, partition int32, recs []Record, txn *Producer) (offset int64, err error)
	Replay(ctx context.Context, partition int32, fn func(Record) error) error
}

// Config holds the coordinator's settings; the names in comments are Kafka's broker properties.
// Start from DefaultConfig. NewCoordinator replaces zero values of the fields marked "zero =
// default" by Kafka's defaults.
type Config struct {
	NumPartitions                 int           // offsets.topic.num.partitions; zero = default 50
	InitialRebalanceDelay         time.Duration // group.initial.rebalance.delay.ms; zero = no delay (DefaultConfig: 3s)
	MinSessionTimeout             time.Duration // group.min.session.timeout.ms; zero = default 6s
	MaxSessionTimeout             time.Duration // group.max.session.timeout.ms; zero = default 30m
	MaxSize                       int           // group.max.size; zero = default (unbounded, Int.MaxValue)
	OffsetsRetention              time.Duration // offsets.retention.minutes; zero = default 7d
	OffsetsRetentionCheckInterval time.Duration // offsets.retention.check.interval.ms; zero = default 10m
	MaxMetadataBytes              int           // offset.metadata.max.bytes; zero = default 4096
	CommitTimeout                 time.Duration // offsets.commit.timeout.ms: bound on one Store.Append; zero = default 5s

	// PartitionCount is the number of partitions __consumer_offsets has now: groups are routed by
	// PartitionFor(group, PartitionCount()), as Kafka's GroupMetadataManager routes them by the
	// partition count of the existing topic (groupMetadataTopicPartitionCount), which
	// offsets.topic.num.partitions only decides when the topic is created. Zero (the topic does
	// not exist yet) or nil = NumPartitions.
	PartitionCount func() int

	// TopicExists reports whether a topic partition exists; OffsetCommit and OffsetDelete answer
	// UNKNOWN_TOPIC_OR_PARTITION for the ones that do not, as Kafka's request handlers do. nil
	// accepts every partition.
	TopicExists func(topic string, partition int32) bool

	// Leads reports whether the broker's metadata names it the leader of __consumer_offsets
	// partition p. The metadata moves before the broker gets to call Elected (it first opens and
	// promotes its replicas), and FindCoordinator already sends clients here from that metadata:
	// in between, a request for a group of p is COORDINATOR_LOAD_IN_PROGRESS, as Kafka answers
	// from the moment it learns of the election, not NOT_COORDINATOR, which would contradict the
	// FindCoordinator answer of the same broker. nil = only Elected partitions are led.
	Leads func(partition int32) bool

	// Now is the clock; nil = time.Now.
	Now func() time.Time
	// AfterFunc arms a timer, like time.AfterFunc; stop cancels it. nil = time.AfterFunc. Tests
	// pass a fake clock's so that timers follow Now.
	AfterFunc func(d time.Duration, f func()) (stop func() bool)

	Logger *slog.Logger // nil discards

	// newUUID generates the random part of member ids; nil = a random UUID v4 (tests pin it).
	newUUID func() string
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		NumPartitions:                 50,
		InitialRebalanceDelay:         3 * time.Second,
		MinSessionTimeout:             6 * time.Second,
		MaxSessionTimeout:             30 * time.Minute,
		MaxSize:                       math.MaxInt32,
		OffsetsRetention:              7 * 24 * time.Hour,
		OffsetsRetentionCheckInterval: 10 * time.Minute,
		MaxMetadataBytes:              4096,
		CommitTimeout:                 5 * time.Second,
	}
}

// ErrInvalidConfig is wrapped by Validate's errors.
var ErrInvalidConfig = errors.New("group: invalid config")

// Validate reports the first out-of-range setting. Zero values are valid (they mean the default).
func (c *Config) Validate() error {
	switch {
	case c.NumPartitions < 0 || c.NumPartitions > math.MaxInt32:
		return fmt.Errorf("%w: NumPartitions %d", ErrInvalidConfig, c.NumPartitions)
	case c.InitialRebalanceDelay < 0:
		return fmt.Errorf("%w: InitialRebalanceDelay %v < 0", ErrInvalidConfig, c.InitialRebalanceDelay)
	case c.MinSessionTimeout < 0 || c.MaxSessionTimeout < 0:
		return fmt.Errorf("%w: negative session timeout bound", ErrInvalidConfig)
	case c.MaxSessionTimeout != 0 && c.MinSessionTimeout > c.MaxSessionTimeout:
		return fmt.Errorf("%w: MinSessionTimeout %v > MaxSessionTimeout %v", ErrInvalidConfig, c.MinSessionTimeout, c.MaxSessionTimeout)
	case c.MaxSize < 0:
		return fmt.Errorf("%w: MaxSize %d < 0", ErrInvalidConfig, c.MaxSize)
	case c.OffsetsRetention < 0 || c.OffsetsRetentionCheckInterval < 0 || c.CommitTimeout < 0:
		return fmt.Errorf("%w: negative retention, check interval or commit timeout", ErrInvalidConfig)
	case c.MaxMetadataBytes < 0:
		return fmt.Errorf("%w: MaxMetadataBytes %d < 0", ErrInvalidConfig, c.MaxMetadataBytes)
	}
	return nil
}

// withDefaults fills the zero values that have a default.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.NumPartitions == 0 {
		c.NumPartitions = d.NumPartitions
	}
	if c.MinSessionTimeout == 0 {
		c.MinSessionTimeout = d.MinSessionTimeout
	}
	if c.MaxSessionTimeout == 0 {
		c.MaxSessionTimeout = d.MaxSessionTimeout
	}
	if c.MaxSize == 0 {
		c.MaxSize = d.MaxSize
	}
	if c.OffsetsRetention == 0 {
		c.OffsetsRetention = d.OffsetsRetention
	}
	if c.OffsetsRetentionCheckInterval == 0 {
		c.OffsetsRetentionCheckInterval = d.OffsetsRetentionCheckInterval
	}
	if c.MaxMetadataBytes == 0 {
		c.MaxMetadataBytes = d.MaxMetadataBytes
	}
	if c.CommitTimeout == 0 {
		c.CommitTimeout = d.CommitTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.AfterFunc == nil {
		c.AfterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.newUUID == nil {
		c.newUUID = func() string { return uuid.String(uuid.New()) }
	}
	return c
}

// partitionCount is the number of __consumer_offsets partitions groups are spread over now.
func (c *Config) partitionCount() int {
	if c.PartitionCount != nil {
		if n := c.PartitionCount(); n > 0 {
			return n
		}
	}
	return c.NumPartitions
}

// PartitionFor returns the __consumer_offsets partition of a group (coordhash.Partition: Kafka's
// Utils.abs(groupId.hashCode) % numPartitions).
func PartitionFor(groupID string, numPartitions int) int32 {
	return coordhash.Partition(groupID, numPartitions)
}

// utf16Len is Java's String.length(), which Kafka compares with offset.metadata.max.bytes.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

type clientKey struct{}

type clientInfo struct{ id, host string }

// WithClient returns a context carrying the client id and address of the connection a request
// came from. JoinGroup builds member ids from the client id (client-id + "-" + UUID) and records
// both for DescribeGroups; Kafka shows the host as "/" + IP address.
func WithClient(ctx context.Context, clientID, clientHost string) context.Context {
	return context.WithValue(ctx, clientKey{}, clientInfo{clientID, clientHost})
}

func clientFrom(ctx context.Context) clientInfo {
	ci, _ := ctx.Value(clientKey{}).(clientInfo)
	return ci
}
