package txn

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/minikraft/minikraft/internal/coordhash"
)

// Record is one __transaction_state record: Key and Value encoded exactly as Kafka does
// (kmsg.TxnMetadataKey, kmsg.TxnMetadataValue; Value nil = tombstone).
type Record struct{ Key, Value []byte }

// Store persists records in __transaction_state partition `partition`.
//
// Append returns after the records are durable (acks=all, as Kafka's TransactionLog requires). An
// error should be, or wrap, a *kerr.Error (kerr.NotLeaderForPartition, kerr.NotEnoughReplicas,
// kerr.RequestTimedOut, ...): the coordinator maps it to the code the client sees as Kafka's
// TransactionStateManager.appendTransactionToLog does. context.DeadlineExceeded counts as
// REQUEST_TIMED_OUT, context.Canceled as NOT_COORDINATOR, anything else as UNKNOWN_SERVER_ERROR.
//
// Replay calls fn with every record from the log start offset to the high watermark, in offset
// order; an error from fn or ctx stops it.
type Store interface {
	Append(ctx context.Context, partition int32, recs []Record) error
	Replay(ctx context.Context, partition int32, fn func(Record) error) error
}

// AppendStarter is a Store that can append without waiting for the records to be durable: the
// coordinator then appends a request's record on the request's own goroutine (the connection's
// reader), and only when the records are not durable at once (replicas to wait for) does a
// goroutine wait. On one node, where the leader is the whole ISR, an AddPartitionsToTxn is so
// answered without a goroutine hand-off.
//
// StartAppend appends recs and returns a wait for their acknowledgement (errors as Append's), or
// nil when they are durable already; or the append's error. The wait's own ctx bounds it; ctx is
// the append's (the coordinator makes a deadline only for a wait, so that an append durable at
// once costs no timer).
type AppendStarter interface {
	StartAppend(ctx context.Context, partition int32, recs []Record) (wait func(ctx context.Context) error, err error)
}

// ReplayWaiter is a Store whose Replay may read records that are not committed yet: a new leader's
// log can end in records its predecessor appended but never had acknowledged (a Prepare record
// whose write timed out). The new leader's log is the truth from now on, but only once its
// followers have those records; if it loses the leadership before, the next leader (an in-sync
// follower that never fetched them) does not have them. A coordinator that acted on such a
// Prepare at once would send some of its markers, and the next one, finding the transaction
// Ongoing, would abort it when the producer's InitProducerId fences it: committed on some
// partitions, aborted on the others. So the coordinator acts on a replay only once it is
// committed, as Kafka's coordinator runtime serves only committed state.
//
// ReplayCommitted, called right after a Replay of partition, returns a wait that returns once
// every record the replay read is committed (an error when the leadership moved meanwhile, or ctx
// ended), or nil when they are committed already.
type ReplayWaiter interface {
	ReplayCommitted(partition int32) (wait func(ctx context.Context) error, err error)
}

// ProducerIDs allocates producer ids (Kafka's ProducerIdManager: blocks from the controller).
type ProducerIDs interface {
	NextProducerID(ctx context.Context) (int64, error)
}

// TopicPartition names one partition of a transaction.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func compareTP(a, b TopicPartition) int {
	if c := cmp.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return cmp.Compare(a.Partition, b.Partition)
}

// Markers asks for a transaction's end: a COMMIT (Commit) or ABORT control batch for producer
// (ProducerID, ProducerEpoch), stamped with the coordinator epoch, in each of Partitions (sorted).
type Markers struct {
	TransactionalID  string
	CoordinatorEpoch int32
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	Partitions       []TopicPartition
	// TransactionVersion is the version of the end the markers are for (2: a version 2 end,
	// whose markers carry the bumped epoch; 0 otherwise), WriteTxnMarkers v2's (KIP-1228): a
	// partition refuses a version 2 marker whose epoch is not above the producer's while a
	// transaction is open there, the late copy of an earlier transaction's marker.
	TransactionVersion int8
}

// MarkerWriter delivers markers to the partitions' leaders (Kafka's TransactionMarkerChannelManager:
// WriteTxnMarkers to each leader). WriteMarkers returns an error code per partition, as a
// WriteTxnMarkers response carries them; a partition missing from the answer counts as a
// retriable failure. The coordinator handles the codes as Kafka's
// TransactionMarkerRequestCompletionHandler does: 0, UNSUPPORTED_FOR_MESSAGE_FORMAT and
// UNSUPPORTED_VERSION are done; INVALID_PRODUCER_EPOCH and TRANSACTION_COORDINATOR_FENCED make it
// stop sending this transaction's markers; anything else is retried after Config.RetryBackoff,
// until it succeeds or the coordinator resigns (ctx is then canceled). A partition that no longer
// exists (its topic was deleted) should answer 0, as Kafka skips partitions without a leader.
type MarkerWriter interface {
	WriteMarkers(ctx context.Context, m Markers) map[TopicPartition]int16
}

// LocalMarkerWriter is a MarkerWriter that can tell when a write of m involves no other node: every
// partition is led here, alone in its ISR (one node), so WriteMarkers appends the markers and
// answers without waiting on anyone. The coordinator then writes them on the goroutine that
// asked for them (the EndTxn's connection reader, once its Prepare record is durable) instead of
// handing them to a new goroutine, as AppendStarter does for records. A wrong true (the ISR grew
// meanwhile) costs only that the caller's goroutine waits for the replicas.
type LocalMarkerWriter interface {
	MarkerWriter
	WritesAtOnce(m Markers) bool
}

// Config holds the coordinator's settings; the names in comments are Kafka's broker properties.
// Zero values of the fields marked "zero = default" take Kafka's defaults.
type Config struct {
	NumPartitions int           // transaction.state.log.num.partitions; zero = default 50
	MaxTimeout    time.Duration // transaction.max.timeout.ms; zero = default 15m
	IDExpiration  time.Duration // transactional.id.expiration.ms; zero = default 7d
	RetryBackoff  time.Duration // between marker (and completion) write attempts; zero = default 100ms
	// EndTxnHold is how long EndTxn's answer waits for the transaction's markers to be written
	// (the Complete record follows the answer) after its Prepare record is durable; zero =
	// default 5s, negative = answer at once, as Kafka.
	EndTxnHold        time.Duration
	OffsetsPartitions int // offsets.topic.num.partitions, for AddOffsetsToTxn before the topic exists; zero = 50

	// TransactionVersion is the cluster's finalized transaction.version feature level (0-2): from
	// 1 on, records are written as TxnMetadataValue v1 (Kafka's transactionLogValueVersion).
	// Whether a request follows version 2's rules depends on its own version (EndTxn v5, an
	// addition from a partition leader), as in Kafka; the broker advertises the level so that
	// clients choose them.
	TransactionVersion int16

	// PartitionCount is the number of partitions __transaction_state has now: transactional ids
	// are routed by PartitionFor(id, PartitionCount()), as Kafka routes them by the partition count
	// of the existing topic. Zero (the topic does not exist yet) or nil = NumPartitions.
	PartitionCount func() int

	// OffsetsPartitionCount is the number of partitions __consumer_offsets has now: AddOffsetsToTxn
	// adds partition PartitionFor(group, OffsetsPartitionCount()) of it. Zero or nil =
	// OffsetsPartitions.
	OffsetsPartitionCount func() int

	// TopicExists reports whether a topic partition exists; AddPartitionsToTxn answers
	// UNKNOWN_TOPIC_OR_PARTITION for the ones that do not, as Kafka's request handler does. nil
	// accepts every partition.
	TopicExists func(topic string, partition int32) bool

	// Leads reports whether the broker's metadata names it the leader of __transaction_state
	// partition p: until Elected is called for it, its transactional ids get
	// COORDINATOR_LOAD_IN_PROGRESS instead of NOT_COORDINATOR (see broker/group's Config.Leads).
	// nil = only Elected partitions are led.
	Leads func(partition int32) bool

	// Now is the clock; nil = time.Now.
	Now func() time.Time
	// AfterFunc arms a timer, like time.AfterFunc; stop cancels it. nil = time.AfterFunc. Tests
	// pass a fake clock's so that timers follow Now.
	AfterFunc func(d time.Duration, f func()) (stop func() bool)

	Logger *slog.Logger // nil discards
}

// Kafka's defaults.
const (
	DefaultNumPartitions = 50
	DefaultMaxTimeout    = 15 * time.Minute
	DefaultIDExpiration  = 7 * 24 * time.Hour
	DefaultRetryBackoff  = 100 * time.Millisecond
	DefaultEndTxnHold    = endHold

	// MaxTransactionVersion is the highest transaction.version this coordinator serves (KIP-890
	// part 2: an epoch bump on every EndTxn, partitions added by Produce and TxnOffsetCommit).
	MaxTransactionVersion = 2
)

// ErrInvalidConfig is wrapped by Validate's errors.
var ErrInvalidConfig = errors.New("txn: invalid config")

// Validate reports the first out-of-range setting. Zero values are valid (they mean the default).
func (c *Config) Validate() error {
	switch {
	case c.NumPartitions < 0 || c.NumPartitions > math.MaxInt32:
		return fmt.Errorf("%w: NumPartitions %d", ErrInvalidConfig, c.NumPartitions)
	case c.OffsetsPartitions < 0 || c.OffsetsPartitions > math.MaxInt32:
		return fmt.Errorf("%w: OffsetsPartitions %d", ErrInvalidConfig, c.OffsetsPartitions)
	case c.MaxTimeout < 0 || c.MaxTimeout > math.MaxInt32*time.Millisecond:
		return fmt.Errorf("%w: MaxTimeout %v", ErrInvalidConfig, c.MaxTimeout)
	case c.TransactionVersion < 0 || c.TransactionVersion > MaxTransactionVersion:
		return fmt.Errorf("%w: TransactionVersion %d", ErrInvalidConfig, c.TransactionVersion)
	case c.IDExpiration < 0 || c.RetryBackoff < 0:
		return fmt.Errorf("%w: negative IDExpiration or RetryBackoff", ErrInvalidConfig)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.NumPartitions == 0 {
		c.NumPartitions = DefaultNumPartitions
	}
	if c.OffsetsPartitions == 0 {
		c.OffsetsPartitions = 50
	}
	if c.MaxTimeout == 0 {
		c.MaxTimeout = DefaultMaxTimeout
	}
	if c.IDExpiration == 0 {
		c.IDExpiration = DefaultIDExpiration
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = DefaultRetryBackoff
	}
	if c.EndTxnHold == 0 {
		c.EndTxnHold = DefaultEndTxnHold
	} else if c.EndTxnHold < 0 {
		c.EndTxnHold = 0
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
	return c
}

func (c *Config) partitionCount() int {
	if c.PartitionCount != nil {
		if n := c.PartitionCount(); n > 0 {
			return n
		}
	}
	return c.NumPartitions
}

func (c *Config) offsetsPartitionCount() int {
	if c.OffsetsPartitionCount != nil {
		if n := c.OffsetsPartitionCount(); n > 0 {
			return n
		}
	}
	return c.OffsetsPartitions
}

// PartitionFor returns the __transaction_state partition of a transactional id
// (coordhash.Partition: Kafka's Utils.abs(id.hashCode) % numPartitions, as for groups).
func PartitionFor(id string, numPartitions int) int32 {
	return coordhash.Partition(id, numPartitions)
}

// sortedParts returns the set's partitions in order.
func sortedParts(set map[TopicPartition]struct{}) []TopicPartition {
	out := make([]TopicPartition, 0, len(set))
	for tp := range set {
		out = append(out, tp)
	}
	slices.SortFunc(out, compareTP)
	return out
}
