package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/minikraft/minikraft/broker/config"
	"github.com/minikraft/minikraft/broker/partition"
	"github.com/minikraft/minikraft/log"
)

// TestStoreErrorIsAKafkaError: every error the __consumer_offsets partition can fail an append
// with reaches the group coordinator as the Kafka error group.Store promises, so that the
// coordinator can map it as Kafka's GroupMetadataManager does (NOT_COORDINATOR,
// COORDINATOR_NOT_AVAILABLE, ...) instead of answering UNKNOWN_SERVER_ERROR; a cancelled wait
// stays a cancellation (NOT_COORDINATOR in the coordinator) and an error with no Kafka code stays
// as it is.
func TestStoreErrorIsAKafkaError(t *testing.T) {
	live := context.Background()
	cancelled, cancel := context.WithCancel(live)
	cancel()
	expired, cancel2 := context.WithTimeout(live, 0)
	defer cancel2()
	<-expired.Done()
	other := errors.New("something else")

	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want *kerr.Error // nil: no Kafka error
		is   error       // also errors.Is this
	}{
		{"not leader", live, partition.ErrNotLeader, kerr.NotLeaderForPartition, partition.ErrNotLeader},
		{"partition closed", live, partition.ErrClosed, kerr.NotLeaderForPartition, partition.ErrClosed},
		{"log closed", live, log.ErrClosed, kerr.NotLeaderForPartition, log.ErrClosed},
		{"not enough replicas", live, partition.ErrNotEnoughReplicas, kerr.NotEnoughReplicas, nil},
		{"not enough replicas after append", live, partition.ErrNotEnoughReplicasAfterAppend, kerr.NotEnoughReplicasAfterAppend, nil},
		{"replication timeout", expired, partition.ErrTimeout, kerr.RequestTimedOut, nil},
		{"storage", live, fmt.Errorf("%w: disk full", log.ErrStorage), kerr.KafkaStorageError, log.ErrStorage},
		{"batch too large", live, log.ErrBatchTooLarge, kerr.MessageTooLarge, nil},
		{"kafka error", live, kerr.NotLeaderForPartition, kerr.NotLeaderForPartition, nil},
		{"wrapped kafka error", live, fmt.Errorf("x: %w", kerr.UnknownTopicOrPartition), kerr.UnknownTopicOrPartition, nil},
		{"resigned during the wait", cancelled, partition.ErrTimeout, nil, context.Canceled},
		{"no kafka code", live, other, nil, other},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := storeError(tc.ctx, tc.err)
			var ke *kerr.Error
			switch {
			case tc.want == nil && errors.As(got, &ke):
				t.Errorf("storeError(%v) = %v, a Kafka error (%s); want none", tc.err, got, ke.Message)
			case tc.want != nil && !errors.As(got, &ke):
				t.Errorf("storeError(%v) = %v, not a Kafka error; want %s", tc.err, got, tc.want.Message)
			case tc.want != nil && ke != tc.want:
				t.Errorf("storeError(%v) is %s, want %s", tc.err, ke.Message, tc.want.Message)
			}
			if tc.is != nil && !errors.Is(got, tc.is) {
				t.Errorf("storeError(%v) = %v, which is not %v", tc.err, got, tc.is)
			}
		})
	}
	if err := storeError(live, nil); err != nil {
		t.Errorf("storeError(nil) = %v", err)
	}
}

// TestGroupConfigFromBrokerProperties: the group coordinator runs with the offsets.* settings the
// node was given, not its own defaults: offsets.commit.timeout.ms bounds a commit's wait for the
// ISR, offsets.retention.check.interval.ms is how often expired offsets go, and
// offset.metadata.max.bytes is the longest commit metadata (OFFSET_METADATA_TOO_LARGE beyond).
func TestGroupConfigFromBrokerProperties(t *testing.T) {
	bc, _, err := config.FromProperties(map[string]string{
		"offsets.commit.timeout.ms":           "1234",
		"offsets.retention.check.interval.ms": "5678",
		"offset.metadata.max.bytes":           "99",
		"offsets.topic.num.partitions":        "7",
		"offsets.retention.minutes":           "3",
	})
	if err != nil {
		t.Fatal(err)
	}
	b := &Broker{cfg: Config{Broker: bc}, log: slog.New(slog.DiscardHandler)}
	gc := b.groupConfig()
	if gc.CommitTimeout != 1234*time.Millisecond || gc.OffsetsRetentionCheckInterval != 5678*time.Millisecond ||
		gc.MaxMetadataBytes != 99 || gc.NumPartitions != 7 || gc.OffsetsRetention != 3*time.Minute {
		t.Errorf("group config: commit timeout %v, retention check %v, metadata max %d, partitions %d, retention %v",
			gc.CommitTimeout, gc.OffsetsRetentionCheckInterval, gc.MaxMetadataBytes, gc.NumPartitions, gc.OffsetsRetention)
	}
}
