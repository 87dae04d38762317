package minikraft_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft"
)

// TestThrottleFollower: a follower limited to 4 KB/s while a producer writes far faster falls
// out of the ISR (every node's Metadata shows it), and rejoins once the limit is lifted.
func TestThrottleFollower(t *testing.T) {
	c := minikraft.NewCluster(t, 3)
	_, followers := controlsTopic(t, c, "slow", nil)
	slow := followers[0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c.ThrottleFollower(slow, 4096)
	meta := newClientT(t, kgo.SeedBrokers(c.Addrs()...))
	cl := newClientT(t, kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("slow"),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())

	pctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		value := make([]byte, 1024)
		for pctx.Err() == nil {
			cl.ProduceSync(pctx, &kgo.Record{Value: value}) // about 1 MB/s on a loaded machine
		}
	}()
	out := func(p kmsg.MetadataResponseTopicPartition) bool { return !slices.Contains(p.ISR, int32(slow)) }
	waitMetadata(t, meta, "slow", "the throttled follower out of the ISR", out)
	stop()
	wg.Wait()
	c.ThrottleFollower(slow, 0)
	waitMetadata(t, meta, "slow", "the follower back in the ISR", func(p kmsg.MetadataResponseTopicPartition) bool { return len(p.ISR) == 3 })
}

// TestUncleanLeaderLoss: after the leader loses its log, every record acknowledged with acks=all
// is still read, at its offset, by a new consumer; the node that lost its log fetches it all
// again, rejoins the ISR, and once made leader serves the same records.
func TestUncleanLeaderLoss(t *testing.T) {
	c := minikraft.NewCluster(t, 3)
	leader, _ := controlsTopic(t, c, "loss", map[string]*string{"min.insync.replicas": kmsg.StringPtr("2")})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := newClientT(t, kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("loss"),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	const n = 200
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	lost, err := c.UncleanLeaderLoss(ctx, "loss", 0)
	if err != nil {
		t.Fatal(err)
	}
	if lost != leader {
		t.Fatalf("UncleanLeaderLoss took node %d, the leader was %d", lost, leader)
	}
	readAll(ctx, t, c.Addrs(), "loss", n)

	meta := newClientT(t, kgo.SeedBrokers(c.Addrs()...))
	waitMetadata(t, meta, "loss", "the node that lost its log back in the ISR", func(p kmsg.MetadataResponseTopicPartition) bool { return len(p.ISR) == 3 })
	if err := c.MoveLeader(ctx, "loss", 0, lost); err != nil {
		t.Fatal(err)
	}
	readAll(ctx, t, c.Addrs(), "loss", n)
}

// readAll consumes topic's partition 0 from the start with a new client and checks that it holds
// exactly the values 0..n-1 at offsets 0..n-1.
func readAll(ctx context.Context, t *testing.T, addrs []string, topic string, n int) {
	t.Helper()
	cons := newClientT(t, kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	for got < n {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records: %v", got, n, ctx.Err())
		}
		for _, e := range fs.Errors() {
			t.Logf("fetch error (retried): %v", e.Err)
		}
		for _, r := range fs.Records() {
			if r.Offset != int64(got) || string(r.Value) != fmt.Sprint(got) {
				t.Fatalf("record %d: offset %d value %q", got, r.Offset, r.Value)
			}
			got++
		}
	}
}
