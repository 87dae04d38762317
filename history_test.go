package minikraft_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft"
)

// TestHistoryClean: franz-go producers (idempotent, compressed and not, acks=all and acks=1)
// and a consumer group over a leader move: every record is acknowledged and read, and Check
// finds nothing.
func TestHistoryClean(t *testing.T) {
	c := minikraft.NewCluster(t, 3, minikraft.WithHistory())
	_, followers := controlsTopic(t, c, "clean", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	all := newClientT(t, kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("clean"),
		kgo.ProducerBatchCompression(kgo.SnappyCompression()), kgo.MetadataMinAge(50*time.Millisecond))
	one := newClientT(t, kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("clean"),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.MetadataMinAge(50*time.Millisecond))
	const n = 300
	produce := func(from, to int) {
		for i := from; i < to; i++ {
			cl := all
			if i%3 == 0 {
				cl = one
			}
			cl.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i % 7)), Value: []byte(fmt.Sprint(i))}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("record %d: %v", i, err)
				}
			})
		}
		if err := all.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := one.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	produce(0, n/2)
	// acks=1 records are on the leader alone when acknowledged; a leader move before the
	// followers fetch them loses them, as in Kafka. The move waits for the high watermark to
	// reach the end, so every record is on the new leader too.
	adm := kadm.NewClient(all)
	for {
		ends, err := adm.ListEndOffsets(ctx, "clean")
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := ends.Lookup("clean", 0); ok && o.Err == nil && o.Offset == n/2 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("high watermark not at %d: %v", n/2, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := c.MoveLeader(ctx, "clean", 0, followers[0]); err != nil {
		t.Fatal(err)
	}
	produce(n/2, n)

	cons := newClientT(t, kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics("clean"), kgo.ConsumerGroup("g"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(2000))
	got := 0
	for got < n {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d: %v", got, n, ctx.Err())
		}
		got += len(fs.Records())
	}
	if as := c.History().Check(); len(as) != 0 {
		for _, a := range as {
			t.Error(a)
		}
	}
	s := c.History().Stats()
	t.Logf("history: %+v", s)
	if s.Acked != n || s.Fetched < n {
		t.Errorf("history stats %+v: want %d acknowledged and at least as many fetched", s, n)
	}
}

// TestHistoryCatchesLostWrite: records acknowledged with acks=all while the ISR is the leader
// alone (min.insync.replicas=1) are lost when that leader loses its log: it comes back empty
// and, the only ISR member, leads again, so new records take the old ones' offsets. Check
// reports the lost writes, and the divergent reads of a consumer that read the old records.
func TestHistoryCatchesLostWrite(t *testing.T) {
	c := minikraft.NewCluster(t, 3, minikraft.WithHistory())
	leader, followers := controlsTopic(t, c, "planted", map[string]*string{"min.insync.replicas": kmsg.StringPtr("1")})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	produce := func(prefix string) {
		cl := newClientT(t, kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("planted"),
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite())
		for i := range 5 {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(prefix, i))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The followers are held: one fetch of the first record puts them in debt for minutes.
	for _, f := range followers {
		c.ThrottleFollower(f, 1)
	}
	produce("first")
	if err := c.ShrinkISR(ctx, "planted", 0, followers...); err != nil {
		t.Fatal(err)
	}
	produce("old") // acks=all with an ISR of the leader alone
	readN(ctx, t, c.Addrs(), "planted", 10)
	if as := c.History().Check(); len(as) != 0 {
		t.Fatalf("anomalies before the loss: %v", as)
	}

	if lost, err := c.UncleanLeaderLoss(ctx, "planted", 0); err != nil || lost != leader {
		t.Fatalf("UncleanLeaderLoss: node %d, %v; the leader was %d", lost, err, leader)
	}
	for _, f := range followers {
		c.ThrottleFollower(f, 0)
	}
	produce("new")
	readN(ctx, t, c.Addrs(), "planted", 5)

	kinds := map[minikraft.AnomalyKind]int{}
	for _, a := range c.History().Check() {
		t.Log(a)
		kinds[a.Kind]++
	}
	if kinds[minikraft.LostWrite] == 0 || kinds[minikraft.DivergentRead] == 0 {
		t.Errorf("Check found %v, want lost writes and divergent reads", kinds)
	}
	if c.History().Err() == nil {
		t.Error("Err is nil")
	}
}

// readN reads topic's partition 0 from the start with a new client until it has n records.
func readN(ctx context.Context, t *testing.T, addrs []string, topic string, n int) {
	t.Helper()
	cons := newClientT(t, kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for got := 0; got < n; {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d: %v", got, n, ctx.Err())
		}
		got += len(fs.Records())
	}
}
