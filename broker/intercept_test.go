package broker_test

// Handler tests that need a replication state a single node never shows: a leader whose
// followers do not keep up. wire.Mux.Intercept holds the followers' fetches on the leader, so
// the leader's log end offset runs ahead of its high watermark for as long as the test likes.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft"
	"github.com/minikraft/minikraft/broker"
	"github.com/minikraft/minikraft/log"
	"github.com/minikraft/minikraft/wire"
)

var errStalled = errors.New("test: follower fetch stalled")

// stallFollowers holds every follower Fetch that reaches b from now on, unanswered, until the
// returned release is called; then each held fetch fails, which closes its connection, and the
// followers reconnect and fetch normally. Consumer fetches are served as usual.
func stallFollowers(b *broker.Broker) (release func()) {
	released := make(chan struct{})
	remove := b.Mux().Intercept(1, 0, func(ctx context.Context, r *wire.Request, next wire.HandlerFunc) wire.Future {
		if r.Msg.(*kmsg.FetchRequest).ReplicaID < 0 {
			return next(ctx, r)
		}
		return func() (kmsg.Response, error) {
			select {
			case <-released:
			case <-ctx.Done():
			}
			return nil, errStalled
		}
	})
	var done bool
	return func() {
		if !done {
			done = true
			remove()
			close(released)
		}
	}
}

// produceOne sends one record to topic's partition 0 and returns that partition's answer.
func produceOne(ctx context.Context, t *testing.T, cl *wire.Client, topic string, acks int16, timeout time.Duration) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	raw := log.EncodeBatch([]log.KeyValue{{Value: []byte("v")}}, 1)

	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, acks, int32(timeout/time.Millisecond)
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = raw
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return request[*kmsg.ProduceResponse](ctx, t, cl, req).Topics[0].Partitions[0]
}

// latestOffset asks for topic's partition 0's latest offset (ListOffsets -1).
func latestOffset(ctx context.Context, t *testing.T, cl *wire.Client, topic string) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 4
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	sp := request[*kmsg.ListOffsetsResponse](ctx, t, cl, req).Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(sp.ErrorCode); err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	return sp.Offset
}

// consumerFetch fetches topic's partition 0 from offset as a consumer, without waiting.
func consumerFetch(ctx context.Context, t *testing.T, cl *wire.Client, topic string, offset int64) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.MaxWaitMillis, req.MaxBytes = 11, 0, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes = offset, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return request[*kmsg.FetchResponse](ctx, t, cl, req).Topics[0].Partitions[0]
}

// deleteRecords moves topic's partition 0's log start offset to offset (-1: the high watermark).
func deleteRecords(ctx context.Context, t *testing.T, cl *wire.Client, topic string, offset int64) kmsg.DeleteRecordsResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.Version, req.TimeoutMillis = 2, 5000
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Offset = offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return request[*kmsg.DeleteRecordsResponse](ctx, t, cl, req).Topics[0].Partitions[0]
}

// TestHandlersWhileFollowersStall: while its followers do not fetch, a leader's high watermark
// stays behind its log end. Produce with acks=all appends and then answers REQUEST_TIMED_OUT at
// the request's timeout; ListOffsets' latest offset and a consumer's Fetch show the high
// watermark, not the log end, and Fetch serves no record above it; DeleteRecords refuses an
// offset above the high watermark (OFFSET_OUT_OF_RANGE) and takes -1 as the high watermark. Once the followers fetch
// again, the high watermark catches up and acks=all succeeds.
func TestHandlersWhileFollowersStall(t *testing.T) {
	// A long lag time keeps the stalled follower in the ISR: the leader must wait for it.
	c := minikraft.NewCluster(t, 2, minikraft.WithConfig("replica.lag.time.max.ms", "60000"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	kcl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer kcl.Close()
	const topic = "stall"
	if _, err := kadm.NewClient(kcl).CreateTopic(ctx, 1, 2, nil, topic); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitForLeaders(ctx, topic); err != nil {
		t.Fatal(err)
	}
	leader := c.Node(0).Meta().State().Topics[topic].Partitions[0].Leader
	cl := rawClient(t, c, int(leader))
	// A first acks=all write, retried until the leader and its follower are both in place.
	for {
		sp := produceOne(ctx, t, cl, topic, -1, 5*time.Second)
		if sp.ErrorCode == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("first acks=all produce: %v", kerr.ErrorForCode(sp.ErrorCode))
		}
		time.Sleep(50 * time.Millisecond)
	}

	release := stallFollowers(c.Node(int(leader)))
	defer release()
	start := time.Now()
	sp := produceOne(ctx, t, cl, topic, -1, 300*time.Millisecond)
	if sp.ErrorCode != kerr.RequestTimedOut.Code {
		t.Fatalf("acks=all produce with a stalled follower: %v (base offset %d), want REQUEST_TIMED_OUT", kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("REQUEST_TIMED_OUT after %v, before the request's 300ms timeout", waited)
	}
	if sp := produceOne(ctx, t, cl, topic, 1, time.Second); sp.ErrorCode != 0 || sp.BaseOffset != 2 {
		t.Fatalf("acks=1 produce: %v at %d, want offset 2 (the timed-out record is in the log)", kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset)
	}
	// The log end is 3; only offset 0 is replicated.
	if got := latestOffset(ctx, t, cl, topic); got != 1 {
		t.Errorf("ListOffsets latest = %d, want the high watermark 1", got)
	}
	fp := consumerFetch(ctx, t, cl, topic, 1)
	if fp.ErrorCode != 0 || fp.HighWatermark != 1 || len(fp.RecordBatches) != 0 {
		t.Errorf("consumer fetch at 1: error %v, high watermark %d, %d record bytes; want none above the high watermark 1",
			kerr.ErrorForCode(fp.ErrorCode), fp.HighWatermark, len(fp.RecordBatches))
	}
	if dp := deleteRecords(ctx, t, cl, topic, 2); dp.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Errorf("DeleteRecords to 2, above the high watermark: %v, want OFFSET_OUT_OF_RANGE", kerr.ErrorForCode(dp.ErrorCode))
	}
	if dp := deleteRecords(ctx, t, cl, topic, -1); dp.ErrorCode != 0 || dp.LowWatermark != 1 {
		t.Errorf("DeleteRecords to the high watermark: %v, low watermark %d, want 1", kerr.ErrorForCode(dp.ErrorCode), dp.LowWatermark)
	}

	release()
	for latestOffset(ctx, t, cl, topic) != 3 {
		if ctx.Err() != nil {
			t.Fatal("the high watermark did not catch up once the follower fetched again")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if sp := produceOne(ctx, t, cl, topic, -1, 10*time.Second); sp.ErrorCode != 0 || sp.BaseOffset != 3 {
		t.Fatalf("acks=all produce after the stall: %v at %d, want offset 3", kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset)
	}
}
