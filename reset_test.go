package minikraft_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft"
)

// Reset shown through franz-go and sarama: the same topic names start again from offset 0,
// groups and committed offsets are gone, and a client that still holds the old metadata gets
// errors or the new records, never an old one.

// fillTopics creates each topic (3 partitions, RF 3), produces n records to each with an
// idempotent producer (values "<prefix>-<topic>-<i>") and has group consume and commit them all.
func fillTopics(ctx context.Context, t *testing.T, c *minikraft.Cluster, group, prefix string, n int, topics ...string) {
	t.Helper()
	adm := kadm.NewClient(newClientT(t, kgo.SeedBrokers(c.Addrs()...)))
	if _, err := adm.CreateTopics(ctx, 3, 3, nil, topics...); err != nil {
		t.Fatal(err)
	}
	for _, topic := range topics {
		if err := c.WaitForLeaders(ctx, topic); err != nil {
			t.Fatal(err)
		}
	}
	prod := newClientT(t, kgo.SeedBrokers(c.Addrs()...))
	var recs []*kgo.Record
	for _, topic := range topics {
		for i := range n {
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("%s-%s-%d", prefix, topic, i))})
		}
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if group == "" {
		return
	}
	cons := newClientT(t, kgo.SeedBrokers(c.Addrs()...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topics...),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	for got < n*len(topics) {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("group %s consumed %d of %d records: %v", group, got, n*len(topics), err)
		}
		got += fs.NumRecords()
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	cons.Close()
}

// readToEnd reads every record of topic from the start until the high watermarks the client
// lists, with a fresh consumer.
func readToEnd(ctx context.Context, t *testing.T, addrs []string, topic string) []*kgo.Record {
	t.Helper()
	adm := kadm.NewClient(newClientT(t, kgo.SeedBrokers(addrs...)))
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil || ends.Error() != nil {
		t.Fatalf("end offsets of %s: %v %v", topic, err, ends.Error())
	}
	want := int64(0)
	ends.Each(func(o kadm.ListedOffset) { want += o.Offset })
	cl := newClientT(t, kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []*kgo.Record
	for int64(len(out)) < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records of %s: %v", len(out), want, topic, err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func TestResetSameTopicsFromZero(t *testing.T) {
	c := minikraft.NewCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fillTopics(ctx, t, c, "g", "old", 20, "ra", "rb")
	adm := kadm.NewClient(newClientT(t, kgo.SeedBrokers(c.Addrs()...)))
	before, err := adm.ListTopics(ctx, "ra")
	if err != nil {
		t.Fatal(err)
	}
	oldID := before["ra"].ID

	// A consumer that read all of ra before the reset keeps its metadata and fetch positions.
	stale := newClientT(t, kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics("ra"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(50*time.Millisecond))
	for n := 0; n < 20; {
		n += stale.PollFetches(ctx).NumRecords()
	}

	if err := c.Reset(ctx); err != nil {
		t.Fatal(err)
	}

	// Only the internal topics are left, and no group.
	topics, err := adm.ListTopicsWithInternal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, td := range topics {
		if !td.IsInternal {
			t.Errorf("topic %s survived the reset", name)
		}
	}
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 0 {
		t.Errorf("groups after the reset: %v", groups.Groups())
	}
	offs, err := adm.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	offs.Each(func(o kadm.OffsetResponse) { t.Errorf("committed offset survived the reset: %+v", o) })

	// A fetch by the old topic id is UNKNOWN_TOPIC_ID on every node.
	raw := newClientT(t, kgo.SeedBrokers(c.Addrs()...))
	for node := range 3 {
		req := kmsg.NewPtrFetchRequest()
		req.Version = 13
		req.MaxWaitMillis = 10
		rt := kmsg.NewFetchRequestTopic()
		rt.TopicID = oldID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, raw.Broker(node))
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 ||
			resp.Topics[0].Partitions[0].ErrorCode != kerr.UnknownTopicID.Code {
			t.Errorf("node %d: fetch of the old topic id answered %+v, want UNKNOWN_TOPIC_ID", node, resp.Topics)
		}
	}

	// The same names again: offsets from 0, only the new records.
	fillTopics(ctx, t, c, "g", "new", 3, "ra", "rb")
	for _, topic := range []string{"ra", "rb"} {
		recs := readToEnd(ctx, t, c.Addrs(), topic)
		if len(recs) != 3 {
			t.Errorf("%s holds %d records after the reset, want the 3 new ones", topic, len(recs))
		}
		for _, r := range recs {
			if !strings.HasPrefix(string(r.Value), "new-") || r.Offset > 2 {
				t.Errorf("%s: record %q at offset %d after the reset", topic, r.Value, r.Offset)
			}
		}
	}
	committed, err := adm.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	committed.Each(func(o kadm.OffsetResponse) {
		if o.At > 3 {
			t.Errorf("group g: %s-%d committed at %d after the reset, beyond the 3 new records", o.Topic, o.Partition, o.At)
		}
	})

	// The stale consumer keeps the old topic id and its positions. franz-go never adopts a
	// re-created topic's id (it stops consuming the topic), other clients start again from
	// their reset policy after OFFSET_OUT_OF_RANGE: either way, not one old record.
	pollCtx, pollCancel := context.WithTimeout(ctx, time.Second)
	defer pollCancel()
	for pollCtx.Err() == nil {
		for _, r := range stale.PollFetches(pollCtx).Records() {
			if !strings.HasPrefix(string(r.Value), "new-") {
				t.Fatalf("the stale consumer read %q (offset %d) after the reset", r.Value, r.Offset)
			}
		}
	}
}

// TestResetSarama: sarama's admin, producer and consumer group see the same.
func TestResetSarama(t *testing.T) {
	c := minikraft.NewCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fillTopics(ctx, t, c, "sg", "old", 10, "rs")

	if err := c.Reset(ctx); err != nil {
		t.Fatal(err)
	}

	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Retry.Backoff = 20 * time.Millisecond
	cfg.Metadata.Retry.Backoff = 20 * time.Millisecond
	admin, err := sarama.NewClusterAdmin(c.Addrs(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	topics, err := admin.ListTopics()
	if err != nil {
		t.Fatal(err)
	}
	for name := range topics {
		if !strings.HasPrefix(name, "__") {
			t.Errorf("sarama lists %s after the reset", name)
		}
	}
	groups, err := admin.ListConsumerGroups()
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 0 {
		t.Errorf("sarama lists groups %v after the reset", groups)
	}
	if err := admin.CreateTopic("rs", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 3}, false); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitForLeaders(ctx, "rs"); err != nil {
		t.Fatal(err)
	}
	prod, err := sarama.NewSyncProducer(c.Addrs(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for i := range 3 {
		_, off, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "rs", Value: sarama.StringEncoder("new")})
		if err != nil {
			t.Fatal(err)
		}
		if off != int64(i) {
			t.Errorf("record %d written at offset %d after the reset", i, off)
		}
	}
	// The group starts with no committed offset: its consumer begins where the reset policy
	// says, here the start, and reads the new records only.
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	offsets, err := admin.ListConsumerGroupOffsets("sg", map[string][]int32{"rs": {0}})
	if err != nil {
		t.Fatal(err)
	}
	if b := offsets.GetBlock("rs", 0); b != nil && b.Offset >= 0 {
		t.Errorf("group sg has committed offset %d after the reset", b.Offset)
	}
	cons, err := sarama.NewConsumer(c.Addrs(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition("rs", 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for i := range 3 {
		select {
		case m := <-pc.Messages():
			if string(m.Value) != "new" || m.Offset != int64(i) {
				t.Fatalf("sarama read %q at offset %d after the reset", m.Value, m.Offset)
			}
		case <-ctx.Done():
			t.Fatalf("sarama read %d records: %v", i, ctx.Err())
		}
	}
}

// TestResetEndsFaults: Reset clears injections and cuts and restarts a stopped node, so the next
// test gets the whole cluster.
func TestResetEndsFaults(t *testing.T) {
	c := minikraft.NewCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c.InjectError(0, keyMetadata, kerr.UnknownServerError.Code, 0)
	c.Partition([]int{1}, []int{2})
	if err := c.KillNode(2); err != nil {
		t.Fatal(err)
	}
	if err := c.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if c.Node(i) == nil {
			t.Fatalf("node %d is not running after Reset", i)
		}
	}
	cl := newClientT(t, kgo.SeedBrokers(c.Addrs()[0]))
	if _, err := kadm.NewClient(cl).ListTopics(ctx); err != nil {
		t.Fatalf("metadata from node 0 after Reset: %v", err)
	}
	// Every node can lead and replicate again: a topic on all three takes acks=all writes.
	fillTopics(ctx, t, c, "", "x", 5, "after-faults")
}
