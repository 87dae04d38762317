package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft"
	"github.com/minikraft/minikraft/wire"
)

// TestOffsetCommitWithTooFewReplicasIsRetriable: an offset commit that __consumer_offsets cannot
// take because it has fewer in-sync replicas than min.insync.replicas is
// COORDINATOR_NOT_AVAILABLE, as Kafka's GroupMetadataManager.storeOffsets answers
// NOT_ENOUGH_REPLICAS: a retriable error, where UNKNOWN_SERVER_ERROR made clients give up.
func TestOffsetCommitWithTooFewReplicasIsRetriable(t *testing.T) {
	c := minikraft.NewCluster(t, 1, minikraft.WithConfig("min.insync.replicas", "2"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := rawClient(t, c, 0)

	const group = "g"
	groupReady(ctx, t, cl, group, "commits")

	code := commitOffset(ctx, t, cl, group, "commits", "")
	if code != kerr.CoordinatorNotAvailable.Code {
		t.Errorf("OffsetCommit to __consumer_offsets with 1 of 2 in-sync replicas: %v, want COORDINATOR_NOT_AVAILABLE", kerr.ErrorForCode(code))
	}
}

// groupReady creates topic and waits until the node cl is connected to coordinates group.
func groupReady(ctx context.Context, t *testing.T, cl *wire.Client, group, topic string) {
	t.Helper()
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 9
	md.AllowAutoTopicCreation = true
	md.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr(topic)}}
	if r := request[*kmsg.MetadataResponse](ctx, t, cl, md); len(r.Topics) != 1 || r.Topics[0].ErrorCode != 0 {
		t.Fatalf("creating the topic: %+v", r.Topics)
	}
	for {
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.Version = 3
		fc.CoordinatorKey = group
		r := request[*kmsg.FindCoordinatorResponse](ctx, t, cl, fc)
		if r.ErrorCode == 0 {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("FindCoordinator: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// commitOffset commits offset 1 of topic/0 for group with generation -1 (as admin tools do) and
// returns the partition's error code, after the coordinator has loaded the group's partition.
func commitOffset(ctx context.Context, t *testing.T, cl *wire.Client, group, topic, metadata string) int16 {
	t.Helper()
	for {
		oc := kmsg.NewPtrOffsetCommitRequest()
		oc.Version = 8
		oc.Group, oc.Generation = group, -1
		oc.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: topic,
			Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1, LeaderEpoch: -1, Metadata: kmsg.StringPtr(metadata)}}}}
		r := request[*kmsg.OffsetCommitResponse](ctx, t, cl, oc)
		code := r.Topics[0].Partitions[0].ErrorCode
		if code != kerr.CoordinatorLoadInProgress.Code || ctx.Err() != nil {
			return code
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestOffsetMetadataMaxBytes: offset.metadata.max.bytes bounds the metadata of a commit; a longer
// one is OFFSET_METADATA_TOO_LARGE for its partition, as in Kafka.
func TestOffsetMetadataMaxBytes(t *testing.T) {
	c := minikraft.NewCluster(t, 1, minikraft.WithConfig("offset.metadata.max.bytes", "10"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := rawClient(t, c, 0)
	groupReady(ctx, t, cl, "g", "commits")
	if code := commitOffset(ctx, t, cl, "g", "commits", "0123456789"); code != 0 {
		t.Errorf("a commit with 10 bytes of metadata: %v", kerr.ErrorForCode(code))
	}
	if code := commitOffset(ctx, t, cl, "g", "commits", "0123456789x"); code != kerr.OffsetMetadataTooLarge.Code {
		t.Errorf("a commit with 11 bytes of metadata: %v, want OFFSET_METADATA_TOO_LARGE", kerr.ErrorForCode(code))
	}
}
