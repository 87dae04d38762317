package minikraft_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft"
)

// TestInjectErrorController: an error injected on the active controller's CreateTopics reaches
// a client whose CreateTopics another node forwarded there, once; the next one succeeds.
func TestInjectErrorController(t *testing.T) {
	c := minikraft.NewCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctrl := -1
	for i := range 3 {
		if c.Node(i).Meta().IsLeader() {
			ctrl = i
		}
	}
	if ctrl < 0 {
		t.Fatal("no active controller")
	}
	other := (ctrl + 1) % 3
	cl := newClientT(t, kgo.SeedBrokers(c.Addrs()...))
	create := func(topic string) int16 {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 10000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 1, 3
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl.Broker(other))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].ErrorCode
	}
	c.InjectError(ctrl, 19, kerr.PolicyViolation.Code, 1)
	if code := create("refused"); code != kerr.PolicyViolation.Code {
		t.Fatalf("forwarded CreateTopics answered %v, want POLICY_VIOLATION", kerr.ErrorForCode(code))
	}
	if code := create("created"); code != 0 {
		t.Fatalf("second CreateTopics: %v", kerr.ErrorForCode(code))
	}
}
