package broker_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft"
	"github.com/minikraft/minikraft/wire"
)

// TestMetadataControllerIsALiveBroker: the "controller" a node names in Metadata is a broker
// that is up, also right after the Raft leader stopped. librdkafka's admin client sends
// CreateTopics and the like to that broker and asks again only when it has no controller id;
// a node that still named the stopped leader (its view lags until the next election) left
// confluent-kafka-python's create_topics waiting a minute for a dead broker. Each node names
// itself, a live broker as Kafka's random pick is.
func TestMetadataControllerIsALiveBroker(t *testing.T) {
	c := minikraft.NewCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	controllerSeenBy := func(i int) int32 {
		t.Helper()
		conn, err := net.Dial("tcp", c.Addrs()[i])
		if err != nil {
			t.Fatal(err)
		}
		cl := wire.NewClient(conn, "test", 1<<20)
		defer cl.Close()
		req := kmsg.NewPtrMetadataRequest()
		req.Version = 12 // the controller id is in v1+
		resp, err := cl.Request(ctx, req)
		if err != nil {
			t.Fatalf("metadata from node %d: %v", i, err)
		}
		return resp.(*kmsg.MetadataResponse).ControllerID
	}
	for i := range 3 {
		if got := controllerSeenBy(i); got != int32(i) {
			t.Errorf("node %d names %d as the controller, want itself", i, got)
		}
	}

	leader, _, ok := c.Node(0).Meta().Leader()
	if !ok {
		t.Fatal("no Raft leader")
	}
	if err := c.StopNode(int(leader)); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if int32(i) == leader {
			continue
		}
		if got := controllerSeenBy(i); got == leader {
			t.Errorf("right after the Raft leader %d stopped, node %d names it as the controller", leader, i)
		}
	}
}
