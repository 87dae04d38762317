package minikraft_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/minikraft/minikraft"
)

func TestClusterMetadata(t *testing.T) {
	start := time.Now()
	c := minikraft.NewCluster(t, 3)
	t.Logf("3-node cluster ready in %v", time.Since(start))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, "t"); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitForLeaders(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	m, err := adm.BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Brokers) != 3 {
		t.Fatalf("brokers: %v", m.Brokers)
	}
	// Every node shows the topic (created through one, applied on all).
	for i := range 3 {
		if c.Node(i).Meta().State().Topics["t"] == nil {
			t.Fatalf("node %d does not see the topic", i)
		}
	}
}

func TestClusterReplicatesAndSurvivesNodeStop(t *testing.T) {
	start := time.Now()
	c := minikraft.NewCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("rf3"),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, "rf3"); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("first")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	t.Logf("NewCluster to first acks=all write: %v", time.Since(start))
	for i := 0; i < 100; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte{byte(i)}, Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.StopNode(0); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte{byte(i)}, Value: []byte("after")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()[1:]...), kgo.ConsumeTopics("rf3"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := 0
	for got < 201 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of 201: %v", got, fs.Errors())
		}
		got += fs.NumRecords()
	}
	if err := c.RestartNode(0); err != nil {
		t.Fatal(err)
	}
	// The restarted node catches up and rejoins every ISR.
	deadline := time.Now().Add(20 * time.Second)
	for {
		all := true
		for _, p := range c.Node(1).Meta().State().Topics["rf3"].Partitions {
			if len(p.ISR) != 3 {
				all = false
			}
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 0 did not rejoin the ISRs: %+v", c.Node(1).Meta().State().Topics["rf3"].Partitions)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestClusterAcksAllWithoutQuorum(t *testing.T) {
	c := minikraft.NewCluster(t, 3, minikraft.WithConfig("replica.lag.time.max.ms", "1000"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(newClientT(t, kgo.SeedBrokers(c.Addrs()...)))
	if _, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, "q"); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitForLeaders(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	leader := c.Node(0).Meta().State().Topics["q"].Partitions[0].Leader
	prod := newClientT(t, kgo.SeedBrokers(c.Addrs()...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordRetries(0), kgo.ProduceRequestTimeout(3*time.Second),
		// An idempotent producer retries NOT_ENOUGH_REPLICAS forever to keep its sequence;
		// a plain one reports it.
		kgo.DisableIdempotentWrite())
	// A first write with retries: the leader may apply the new topic a moment after the node
	// that created it.
	first := newClientT(t, kgo.SeedBrokers(c.Addrs()...), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err := first.ProduceSync(ctx, &kgo.Record{Topic: "q", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if int32(i) != leader {
			c.KillNode(i)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		start := time.Now()
		err := prod.ProduceSync(ctx, &kgo.Record{Topic: "q", Value: []byte("y")}).FirstErr()
		t.Logf("acks=all after %v: %v", time.Since(start), err)
		if err == nil {
			t.Fatal("acknowledged without min ISR")
		}
		if errors.Is(err, kerr.NotEnoughReplicas) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no NOT_ENOUGH_REPLICAS")
		}
	}
}

func newClientT(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestPreferredLeaderElection: after its preferred leader restarts, a partition's leadership
// returns to it through ElectLeaders, and an unnecessary election says so.
func TestPreferredLeaderElection(t *testing.T) {
	c := minikraft.NewCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(newClientT(t, kgo.SeedBrokers(c.Addrs()...)))
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, "pref"); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitForLeaders(ctx, "pref"); err != nil {
		t.Fatal(err)
	}
	pref := int(c.Node(0).Meta().State().Topics["pref"].Partitions[0].Replicas[0])
	if err := c.StopNode(pref); err != nil {
		t.Fatal(err)
	}
	if err := c.RestartNode(pref); err != nil {
		t.Fatal(err)
	}
	other := (pref + 1) % 3
	// Wait until the restarted node is back in the ISR, then elect it.
	deadline := time.Now().Add(20 * time.Second)
	for len(c.Node(other).Meta().State().Topics["pref"].Partitions[0].ISR) != 3 {
		if time.Now().After(deadline) {
			t.Fatal("preferred replica did not rejoin the ISR")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p := c.Node(other).Meta().State().Topics["pref"].Partitions[0]; int(p.Leader) == pref {
		t.Fatalf("leader is already the preferred replica: %+v", p)
	}
	set := kadm.TopicsSet{}
	set.Add("pref", 0)
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, set)
	if err != nil {
		t.Fatal(err)
	}
	if r := res["pref"][0]; r.Err != nil {
		t.Fatalf("preferred election: %v", r.Err)
	}
	for int(c.Node(other).Meta().State().Topics["pref"].Partitions[0].Leader) != pref {
		if time.Now().After(deadline) {
			t.Fatalf("leader is not the preferred replica %d after the election", pref)
		}
		time.Sleep(5 * time.Millisecond)
	}
	res, _ = adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, set)
	if r := res["pref"][0]; !errors.Is(r.Err, kerr.ElectionNotNeeded) {
		t.Fatalf("second election: %v, want ELECTION_NOT_NEEDED", r.Err)
	}
}
