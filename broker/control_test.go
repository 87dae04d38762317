package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/raftmeta"
	"github.com/minikraft/minikraft/wire"
)

// controlClient is a control connection to b's CONTROLLER listener, as another broker dials it.
func controlClient(ctx context.Context, t *testing.T, b *Broker) *wire.Client {
	t.Helper()
	addr, ok := b.ListenerAddr("CONTROLLER")
	if !ok {
		t.Fatal("no CONTROLLER listener")
	}
	for !b.registered.Load() { // the node has registered itself, and so leads the quorum
		if ctx.Err() != nil {
			t.Fatal("the node did not register")
		}
		time.Sleep(5 * time.Millisecond)
	}
	nc, err := raftmeta.DialTag(ctx, nil, addr.String(), raftmeta.TagControl, b.clusterID())
	if err != nil {
		t.Fatal(err)
	}
	c := wire.NewClient(nc, "control-test", 16<<20)
	t.Cleanup(func() { c.Close() })
	return c
}

func controlRequest[Resp kmsg.Response](ctx context.Context, t *testing.T, c *wire.Client, req kmsg.Request) Resp {
	t.Helper()
	req.SetVersion(controlVersions[req.Key()])
	resp, err := c.Request(ctx, req)
	if err != nil {
		t.Fatalf("%T: %v", req, err)
	}
	return resp.(Resp)
}

func metadataIndex(t *testing.T, resp kmsg.Response) uint64 {
	t.Helper()
	idx, ok := wire.Uint64Tag(responseTags(resp), wire.TagMetadataIndex)
	if !ok {
		t.Fatalf("%T carries no metadata index", resp)
	}
	return idx
}

func TestControlHeartbeatChecksTheRegistration(t *testing.T) {
	b, _ := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := controlClient(ctx, t, b)
	epoch := b.brokerEpoch.Load()
	if epoch <= 0 {
		t.Fatalf("broker epoch %d after registration", epoch)
	}
	hb := func(id int32, epoch int64) *kmsg.BrokerHeartbeatResponse {
		req := kmsg.NewPtrBrokerHeartbeatRequest()
		req.BrokerID, req.BrokerEpoch, req.CurrentMetadataOffset = id, epoch, 1
		wire.SetUint64Tag(&req.UnknownTags, wire.TagMetadataIndex, b.applied.Load())
		return controlRequest[*kmsg.BrokerHeartbeatResponse](ctx, t, c, req)
	}
	if resp := hb(0, epoch); resp.ErrorCode != 0 || resp.IsFenced || !resp.IsCaughtUp {
		t.Fatalf("heartbeat of the registration: %+v", resp)
	} else if idx := metadataIndex(t, resp); idx < uint64(epoch) {
		t.Fatalf("metadata index %d is before the registration at %d", idx, epoch)
	}
	if resp := hb(0, epoch-1); resp.ErrorCode != kerr.StaleBrokerEpoch.Code {
		t.Fatalf("heartbeat of an older registration: error %d, want STALE_BROKER_EPOCH", resp.ErrorCode)
	}
	if resp := hb(7, 1); resp.ErrorCode != kerr.BrokerIDNotRegistered.Code {
		t.Fatalf("heartbeat of an unknown broker: error %d, want BROKER_ID_NOT_REGISTERED", resp.ErrorCode)
	}

	reg := b.registration()
	reg.ClusterID = "another-cluster"
	if resp := controlRequest[*kmsg.BrokerRegistrationResponse](ctx, t, c, reg); resp.ErrorCode != kerr.InconsistentClusterID.Code {
		t.Fatalf("registration with another cluster id: error %d", resp.ErrorCode)
	}
}

func TestControlForwardedCreateTopics(t *testing.T) {
	b, _ := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := controlClient(ctx, t, b)
	create := func() *kmsg.CreateTopicsResponse {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 5000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "forwarded", 3, 1
		req.Topics = append(req.Topics, rt)
		return controlRequest[*kmsg.CreateTopicsResponse](ctx, t, c, req)
	}
	resp := create()
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || resp.Topics[0].NumPartitions != 3 || resp.Topics[0].ReplicationFactor != 1 {
		t.Fatalf("create: %+v", resp.Topics)
	}
	idx := metadataIndex(t, resp)
	if err := b.meta.WaitForIndex(ctx, idx); err != nil {
		t.Fatal(err)
	}
	if tp := b.meta.State().Topics["forwarded"]; tp == nil || tp.ID != resp.Topics[0].TopicID {
		t.Fatalf("at index %d the topic is %+v, the answer says id %x", idx, tp, resp.Topics[0].TopicID)
	}
	// The propagation wait: this node, the only broker, has applied the change when it answers.
	if got := b.applied.Load(); got < idx-1 {
		t.Fatalf("answered at index %d with the broker's applied index at %d", idx, got)
	}
	again := create()
	if again.Topics[0].ErrorCode != kerr.TopicAlreadyExists.Code || again.Topics[0].ErrorMessage == nil {
		t.Fatalf("create again: %+v", again.Topics[0])
	}
}

func TestControlProducerIDsAndMetadataFetch(t *testing.T) {
	b, _ := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := controlClient(ctx, t, b)
	var starts []int64
	for range 2 {
		req := kmsg.NewPtrAllocateProducerIDsRequest()
		req.BrokerID, req.BrokerEpoch = 0, b.brokerEpoch.Load()
		resp := controlRequest[*kmsg.AllocateProducerIDsResponse](ctx, t, c, req)
		if resp.ErrorCode != 0 || resp.ProducerIDLen != producerIDBlockSize {
			t.Fatalf("allocate: %+v", resp)
		}
		starts = append(starts, resp.ProducerIDStart)
	}
	if starts[1] < starts[0]+producerIDBlockSize {
		t.Fatalf("blocks overlap: starts %v", starts)
	}

	full := controlRequest[*wire.MetadataFetchResponse](ctx, t, c, &wire.MetadataFetchRequest{After: 0, MaxWaitMillis: 1000})
	if full.ErrorCode != 0 || full.LeaderID != 0 || full.LeaderAddr == "" || full.State == nil {
		t.Fatalf("fetch from 0: %+v", full)
	}
	st, err := raftmeta.UnmarshalState(full.State)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	same := controlRequest[*wire.MetadataFetchResponse](ctx, t, c, &wire.MetadataFetchRequest{After: st.Index + 1<<40, MaxWaitMillis: 50})
	if same.ErrorCode != 0 || same.State != nil || same.LeaderID != 0 {
		t.Fatalf("fetch with nothing newer: %+v", same)
	}
	if waited := time.Since(start); waited < 50*time.Millisecond {
		t.Fatalf("a fetch with nothing newer answered after %v, before its wait", waited)
	}
}

// TestControlListenerServesNoClientAPI: a client API sent on a control connection closes it,
// as Kafka's controller listener serves only the controller's APIs; and the client listener
// serves none of the control APIs.
func TestControlListenerServesNoClientAPI(t *testing.T) {
	b, _ := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := controlClient(ctx, t, b)
	if _, err := c.Request(ctx, kmsg.NewPtrProduceRequest()); err == nil {
		t.Fatal("the control listener answered a Produce")
	}
	for key := range controlVersions {
		if _, _, served := b.Mux().Versions(key); served && !clientAndControl[key] {
			t.Errorf("the client listener serves control API %d", key)
		}
	}
}

// clientAndControl are the APIs both listeners serve: the admin requests a broker forwards
// to the controller.
var clientAndControl = map[int16]bool{19: true, 20: true, 30: true, 31: true, 37: true, 43: true, 44: true, 45: true, 46: true, 51: true, 55: true}
