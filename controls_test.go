package minikraft_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft"
	"github.com/minikraft/minikraft/log"
	"github.com/minikraft/minikraft/wire"
)

// The fixture's test controls, each shown through real clients over real sockets: franz-go, and
// sarama as the second client.

const (
	keyProduce  int16 = 0
	keyFetch    int16 = 1
	keyMetadata int16 = 3
)

// controlsTopic creates topic with one partition on all three nodes (RF 3) and returns its
// leader and followers.
func controlsTopic(t *testing.T, c *minikraft.Cluster, topic string, configs map[string]*string) (leader int, followers []int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(newClientT(t, kgo.SeedBrokers(c.Addrs()...)))
	if _, err := adm.CreateTopic(ctx, 1, 3, configs, topic); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitForLeaders(ctx, topic); err != nil {
		t.Fatal(err)
	}
	leader = leaderOf(c, topic, 0)
	for i := range 3 {
		if i != leader {
			followers = append(followers, i)
		}
	}
	return leader, followers
}

// count counts the requests of key that reach node from now on, in front of any injection.
func count(t *testing.T, c *minikraft.Cluster, node int, key int16, match func(kmsg.Request) bool) *atomic.Int64 {
	var n atomic.Int64
	remove := c.Node(node).Mux().Intercept(key, 0, func(ctx context.Context, r *wire.Request, next wire.HandlerFunc) wire.Future {
		if match == nil || match(r.Msg) {
			n.Add(1)
		}
		return next(ctx, r)
	})
	t.Cleanup(remove)
	return &n
}

func isFollowerFetch(r kmsg.Request) bool { return r.(*kmsg.FetchRequest).ReplicaID >= 0 }

// metadataOn asks node i (as a client, over its PLAINTEXT listener) for topic's partition 0.
func metadataOn(ctx context.Context, t *testing.T, cl *kgo.Client, node int, topic string) (kmsg.MetadataResponseTopicPartition, error) {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl.Broker(node))
	if err != nil {
		return kmsg.MetadataResponseTopicPartition{}, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("node %d: metadata of %s: %+v", node, topic, resp.Topics)
	}
	return resp.Topics[0].Partitions[0], nil
}

// waitMetadata waits until every node's Metadata answer for topic's partition 0 satisfies ok.
func waitMetadata(t *testing.T, cl *kgo.Client, topic string, what string, ok func(kmsg.MetadataResponseTopicPartition) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 3 {
		for {
			p, err := metadataOn(ctx, t, cl, i, topic)
			if err == nil && ok(p) {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("node %d: metadata never showed %s: last %+v, %v", i, what, p, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestInjectErrorNotLeaderProduce: two produce requests answered NOT_LEADER_OR_FOLLOWER make the
// franz-go producer refresh its metadata and retry, and its record is then written once.
func TestInjectErrorNotLeaderProduce(t *testing.T) {
	c := minikraft.NewCluster(t, 3)
	leader, _ := controlsTopic(t, c, "inj", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := newClientT(t, kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("inj"),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
		kgo.MetadataMinAge(50*time.Millisecond))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("warm")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	c.InjectError(leader, keyProduce, kerr.NotLeaderForPartition.Code, 2)
	produces := count(t, c, leader, keyProduce, nil)
	var metadata []*atomic.Int64
	for i := range 3 {
		metadata = append(metadata, count(t, c, i, keyMetadata, nil))
	}
	r, err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("after")}).First()
	if err != nil {
		t.Fatalf("produce through two injected NOT_LEADER_OR_FOLLOWER: %v", err)
	}
	if r.Offset != 1 {
		t.Errorf("record written at offset %d, want 1: an injected answer wrote it", r.Offset)
	}
	if n := produces.Load(); n != 3 {
		t.Errorf("the leader saw %d produce requests, want 2 failed and 1 written", n)
	}
	var refreshes int64
	for _, n := range metadata {
		refreshes += n.Load()
	}
	if refreshes == 0 {
		t.Error("the producer did not refresh its metadata after NOT_LEADER_OR_FOLLOWER")
	}
	// The injection took its two requests: the next produce goes through at once.
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("third")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if n := produces.Load(); n != 4 {
		t.Errorf("the leader saw %d produce requests after the injection, want 4", n)
	}
}

// TestInjectErrorSarama: sarama's synchronous producer rides out injected
// NOT_LEADER_OR_FOLLOWER answers the same way.
func TestInjectErrorSarama(t *testing.T) {
	c := minikraft.NewCluster(t, 3)
	leader, _ := controlsTopic(t, c, "inj-sarama", nil)
	cfg := sarama.NewConfig()
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Retry.Max = 10
	cfg.Producer.Retry.Backoff = 20 * time.Millisecond
	cfg.Metadata.Retry.Backoff = 20 * time.Millisecond
	prod, err := sarama.NewSyncProducer(c.Addrs(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "inj-sarama", Value: sarama.StringEncoder("warm")}); err != nil {
		t.Fatal(err)
	}
	c.InjectError(leader, keyProduce, kerr.NotLeaderForPartition.Code, 3)
	produces := count(t, c, leader, keyProduce, nil)
	_, off, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "inj-sarama", Value: sarama.StringEncoder("after")})
	if err != nil {
		t.Fatalf("sarama through injected NOT_LEADER_OR_FOLLOWER: %v", err)
	}
	if off != 1 {
		t.Errorf("offset %d, want 1", off)
	}
	if n := produces.Load(); n != 4 {
		t.Errorf("the leader saw %d produce requests, want 3 failed and 1 written", n)
	}
}

// TestInjectDelay: a delayed request is answered no sooner than the delay; the next one is not
// delayed.
func TestInjectDelay(t *testing.T) {
	c := minikraft.NewCluster(t, 3)
	leader, _ := controlsTopic(t, c, "delay", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := newClientT(t, kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("delay"))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("warm")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	const d = 400 * time.Millisecond
	c.InjectDelay(leader, keyProduce, d, 1)
	start := time.Now()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("slow")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < d {
		t.Fatalf("delayed produce took %v, less than %v", took, d)
	}
	// The delay took its one request: ten more produces take less than one delay each on
	// average (a loaded machine may slow one, not all).
	start = time.Now()
	for range 10 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("fast")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took >= 10*d {
		t.Errorf("ten produces after the delay took %v", took)
	}
}

// produceRawTo sends one acks=all record to topic's partition 0 on node, straight to it, and
// returns the partition's error.
func produceRawTo(ctx context.Context, t *testing.T, cl *kgo.Client, node int, topic string, timeout time.Duration) error {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, int32(timeout/time.Millisecond)
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = log.EncodeBatch([]log.KeyValue{{Value: []byte("raw")}}, time.Now().UnixMilli())
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl.Broker(node))
	if err != nil {
		return err
	}
	return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
}

// TestInjectErrorFollowerFetch: while the leader fails its followers' fetches, an acks=all write
// waits (the followers never get it); cleared, the followers fetch it and the write is
// acknowledged.
func TestInjectErrorFollowerFetch(t *testing.T) {
	c := minikraft.NewCluster(t, 3)
	leader, _ := controlsTopic(t, c, "ffetch", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := newClientT(t, kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("ffetch"),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("warm")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	c.InjectError(leader, keyFetch, kerr.NotLeaderForPartition.Code, 0)
	fetches := count(t, c, leader, keyFetch, isFollowerFetch) // in front of the injection
	done := make(chan error, 1)
	go func() { done <- cl.ProduceSync(ctx, &kgo.Record{Value: []byte("held")}).FirstErr() }()
	// Well within replica.lag.time.max.ms (3 s): the followers stay in the ISR, so the write
	// waits for them.
	select {
	case err := <-done:
		t.Fatalf("acks=all answered (%v) while the followers' fetches failed", err)
	case <-time.After(800 * time.Millisecond):
	}
	t.Logf("%d follower fetches failed", fetches.Load())
	if fetches.Load() == 0 {
		t.Fatal("no follower fetch reached the leader: the injection was not tested")
	}
	c.ClearInjections()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("acks=all after ClearInjections: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("acks=all not answered after ClearInjections")
	}
}

// TestPartitionLeaderFromFollowers: a leader cut off from both followers (but not from clients)
// cannot acknowledge acks=all; every node still answers clients; healed, writes go through.
func TestPartitionLeaderFromFollowers(t *testing.T) {
	c := minikraft.NewCluster(t, 3)
	leader, followers := controlsTopic(t, c, "part", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := newClientT(t, kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("part"),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("warm")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	c.Partition([]int{leader}, followers)
	err := produceRawTo(ctx, t, cl, leader, "part", 500*time.Millisecond)
	if !errors.Is(err, kerr.RequestTimedOut) && !errors.Is(err, kerr.NotEnoughReplicas) && !errors.Is(err, kerr.NotEnoughReplicasAfterAppend) {
		t.Fatalf("acks=all on a leader cut off from its followers: %v, want a timeout or NOT_ENOUGH_REPLICAS", err)
	}
	for i := range 3 {
		if _, err := metadataOn(ctx, t, cl, i, "part"); err != nil {
			t.Errorf("node %d does not answer a client during the partition: %v", i, err)
		}
	}
	c.Heal(leader)
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("healed")}).FirstErr(); err != nil {
		t.Fatalf("acks=all after Heal: %v", err)
	}
	waitMetadata(t, cl, "part", "a full ISR", func(p kmsg.MetadataResponseTopicPartition) bool { return len(p.ISR) == 3 })
}

// TestPartitionOneWay: with either direction between the leader and its followers cut, acks=all
// waits; with the followers' direction cut, their fetches no longer reach the leader. HealAll
// restores both.
func TestPartitionOneWay(t *testing.T) {
	c := minikraft.NewCluster(t, 3)
	leader, followers := controlsTopic(t, c, "oneway", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := newClientT(t, kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("oneway"),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("warm")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		from, to []int
	}{
		{"leader to followers", []int{leader}, followers},
		{"followers to leader", followers, []int{leader}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.PartitionOneWay(tc.from, tc.to)
			err := produceRawTo(ctx, t, cl, leader, "oneway", 500*time.Millisecond)
			if !errors.Is(err, kerr.RequestTimedOut) {
				t.Errorf("acks=all across a one-way cut: %v, want REQUEST_TIMED_OUT", err)
			}
			for i := range 3 {
				if _, err := metadataOn(ctx, t, cl, i, "oneway"); err != nil {
					t.Errorf("node %d does not answer a client during the cut: %v", i, err)
				}
			}
			c.HealAll()
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("healed")}).FirstErr(); err != nil {
				t.Fatalf("acks=all after HealAll: %v", err)
			}
			waitMetadata(t, cl, "oneway", "a full ISR", func(p kmsg.MetadataResponseTopicPartition) bool { return len(p.ISR) == 3 })
		})
	}
}

// TestShrinkISR: with the followers held, ShrinkISR shows in every node's Metadata and acks=all
// needs only the leader; released, the followers catch up and rejoin, as in Kafka.
func TestShrinkISR(t *testing.T) {
	c := minikraft.NewCluster(t, 3)
	leader, followers := controlsTopic(t, c, "shrink", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := newClientT(t, kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("shrink"),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	c.InjectError(leader, keyFetch, kerr.NotLeaderForPartition.Code, 0)
	// A record the held followers cannot fetch: without it they would be caught up (with
	// nothing to fetch), and the leader would take them back at once.
	one := newClientT(t, kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("shrink"),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	if err := one.ProduceSync(ctx, &kgo.Record{Value: []byte("ahead")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := c.ShrinkISR(ctx, "shrink", 0, followers...); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		p, err := metadataOn(ctx, t, cl, i, "shrink")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(p.ISR, []int32{int32(leader)}) {
			t.Errorf("node %d: ISR %v after ShrinkISR, want [%d]", i, p.ISR, leader)
		}
	}
	// acks=all is the ISR: the leader alone.
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("alone")}).FirstErr(); err != nil {
		t.Fatalf("acks=all with an ISR of the leader: %v", err)
	}
	if err := c.ShrinkISR(ctx, "shrink", 0, leader); err == nil {
		t.Error("ShrinkISR took the leader out of its ISR")
	}
	c.ClearInjections()
	waitMetadata(t, cl, "shrink", "the followers back in the ISR", func(p kmsg.MetadataResponseTopicPartition) bool { return len(p.ISR) == 3 })
}

// TestMoveLeader: MoveLeader shows in every node's Metadata, and franz-go and sarama producers
// go on writing to the new leader.
func TestMoveLeader(t *testing.T) {
	c := minikraft.NewCluster(t, 3)
	leader, followers := controlsTopic(t, c, "move", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := newClientT(t, kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("move"),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.MetadataMinAge(50*time.Millisecond))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cfg := sarama.NewConfig()
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Retry.Backoff = 20 * time.Millisecond
	sc, err := sarama.NewClient(c.Addrs(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	prod, err := sarama.NewSyncProducerFromClient(sc)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()

	target := followers[1]
	start := time.Now()
	if err := c.MoveLeader(ctx, "move", 0, target); err != nil {
		t.Fatal(err)
	}
	t.Logf("MoveLeader took %v", time.Since(start))
	for i := range 3 {
		p, err := metadataOn(ctx, t, cl, i, "move")
		if err != nil {
			t.Fatal(err)
		}
		if int(p.Leader) != target || p.Replicas[0] != int32(target) {
			t.Errorf("node %d: leader %d, replicas %v after MoveLeader(%d); was %d", i, p.Leader, p.Replicas, target, leader)
		}
	}
	if err := sc.RefreshMetadata("move"); err != nil {
		t.Fatal(err)
	}
	if b, err := sc.Leader("move", 0); err != nil || b.ID() != int32(target) {
		t.Errorf("sarama sees leader %v (%v), want %d", b, err, target)
	}
	for i := range 5 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("after")}).FirstErr(); err != nil {
			t.Fatalf("franz-go produce %d after MoveLeader: %v", i, err)
		}
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "move", Value: sarama.StringEncoder("after")}); err != nil {
			t.Fatalf("sarama produce %d after MoveLeader: %v", i, err)
		}
	}
	end := count(t, c, target, keyProduce, nil)
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("last")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if end.Load() == 0 {
		t.Error("the producer did not write to the new leader")
	}
	// Moving it back, and to where it is already, works too.
	if err := c.MoveLeader(ctx, "move", 0, leader); err != nil {
		t.Fatal(err)
	}
	if err := c.MoveLeader(ctx, "move", 0, leader); err != nil {
		t.Fatal(err)
	}
	waitMetadata(t, cl, "move", "the old leader back", func(p kmsg.MetadataResponseTopicPartition) bool { return int(p.Leader) == leader })
}
