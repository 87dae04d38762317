package minikraft_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
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
