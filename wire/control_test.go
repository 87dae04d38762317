package wire

import (
	"bytes"
	"context"
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// controlSeeds are the control plane's requests as the brokers send them to the controllers,
// with minikraft's tags where they carry them, for FuzzParseRequest's corpus.
func controlSeeds() []kmsg.Request {
	var out []kmsg.Request
	add := func(req kmsg.Request, version int16) {
		req.SetVersion(version)
		out = append(out, req)
	}
	reg := kmsg.NewPtrBrokerRegistrationRequest()
	reg.BrokerID, reg.ClusterID, reg.IncarnationID = 2, "c1", [16]byte{9}
	l := kmsg.NewBrokerRegistrationRequestListener()
	l.Name, l.Host, l.Port = "PLAINTEXT", "localhost", 9092
	reg.Listeners = append(reg.Listeners, l)
	reg.Rack = kmsg.StringPtr("r1")
	add(reg, 0)
	hb := kmsg.NewPtrBrokerHeartbeatRequest()
	hb.BrokerID, hb.BrokerEpoch, hb.CurrentMetadataOffset = 2, 17, 40
	SetUint64Tag(&hb.UnknownTags, TagMetadataIndex, 39)
	hb.UnknownTags.Set(TagRaftLogOffset, nil)
	add(hb, 0)
	shut := kmsg.NewPtrBrokerHeartbeatRequest()
	shut.BrokerID, shut.BrokerEpoch, shut.WantShutdown = 2, 17, true
	add(shut, 0)
	ap := kmsg.NewPtrAlterPartitionRequest()
	ap.BrokerID, ap.BrokerEpoch = 1, 5
	apt := kmsg.NewAlterPartitionRequestTopic()
	apt.Topic = "t"
	app := kmsg.NewAlterPartitionRequestTopicPartition()
	app.Partition, app.LeaderEpoch, app.PartitionEpoch, app.NewISR = 0, 3, 7, []int32{1, 2}
	apt.Partitions = append(apt.Partitions, app)
	ap.Topics = append(ap.Topics, apt)
	add(ap, 1)
	pid := kmsg.NewPtrAllocateProducerIDsRequest()
	pid.BrokerID, pid.BrokerEpoch = 1, 5
	add(pid, 0)
	dq := kmsg.NewPtrDescribeQuorumRequest()
	dqt := kmsg.NewDescribeQuorumRequestTopic()
	dqt.Topic = "__cluster_metadata"
	dqt.Partitions = append(dqt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
	dq.Topics = append(dq.Topics, dqt)
	add(dq, 1)
	dt := kmsg.NewPtrDeleteTopicsRequest()
	dtt := kmsg.NewDeleteTopicsRequestTopic()
	dtt.Topic = kmsg.StringPtr("t")
	dt.Topics = append(dt.Topics, dtt)
	dt.TimeoutMillis = 1000
	add(dt, 6)
	cp := kmsg.NewPtrCreatePartitionsRequest()
	cpt := kmsg.NewCreatePartitionsRequestTopic()
	cpt.Topic, cpt.Count = "t", 4
	cp.Topics = append(cp.Topics, cpt)
	add(cp, 3)
	iac := kmsg.NewPtrIncrementalAlterConfigsRequest()
	r := kmsg.NewIncrementalAlterConfigsRequestResource()
	r.ResourceType, r.ResourceName = 2, "t"
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Value = "retention.ms", kmsg.StringPtr("1000")
	r.Configs = append(r.Configs, c)
	iac.Resources = append(iac.Resources, r)
	add(iac, 1)
	el := kmsg.NewPtrElectLeadersRequest()
	elt := kmsg.NewElectLeadersRequestTopic()
	elt.Topic, elt.Partitions = "t", []int32{0}
	el.Topics = append(el.Topics, elt)
	add(el, 2)
	ra := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	rat := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	rat.Topic = "t"
	rap := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
	rap.Replicas = []int32{1, 2, 3}
	rat.Partitions = append(rat.Partitions, rap)
	ra.Topics = append(ra.Topics, rat)
	add(ra, 0)
	add(kmsg.NewPtrListPartitionReassignmentsRequest(), 0)
	add(&MetadataFetchRequest{After: 42, MaxWaitMillis: 1000}, 0)
	return out
}

func TestMetadataFetchEncoding(t *testing.T) {
	req := &MetadataFetchRequest{After: 1<<40 + 3, MaxWaitMillis: 1500}
	enc := req.AppendTo(nil)
	if want := []byte{0, 0, 1, 0, 0, 0, 0, 3, 0, 0, 5, 0xdc}; !bytes.Equal(enc, want) {
		t.Fatalf("request encodes as % x, want % x", enc, want)
	}
	var got MetadataFetchRequest
	if err := got.ReadFrom(enc); err != nil || got != *req {
		t.Fatalf("decoded %+v, %v; want %+v", got, err, *req)
	}
	if err := got.ReadFrom(enc[:len(enc)-1]); err == nil {
		t.Fatal("a truncated request decoded")
	}

	for _, resp := range []*MetadataFetchResponse{
		{LeaderID: 3, LeaderAddr: "h:9093", State: []byte(`{"Index":7}`)},
		{LeaderID: -1},                 // no State: nothing newer
		{LeaderID: 1, State: []byte{}}, // an empty State is not none
		{ErrorCode: 41, ErrorMessage: kmsg.StringPtr("not the controller"), LeaderID: -1},
	} {
		enc := resp.AppendTo(nil)
		var back MetadataFetchResponse
		if err := back.ReadFrom(enc); err != nil {
			t.Fatal(err)
		}
		if back.LeaderID != resp.LeaderID || back.LeaderAddr != resp.LeaderAddr || back.ErrorCode != resp.ErrorCode ||
			(back.State == nil) != (resp.State == nil) || !bytes.Equal(back.State, resp.State) ||
			(back.ErrorMessage == nil) != (resp.ErrorMessage == nil) {
			t.Fatalf("decoded %+v, want %+v", back, resp)
		}
		if err := back.ReadFrom(enc[:len(enc)-1]); err == nil {
			t.Fatalf("a truncated response %+v decoded", resp)
		}
	}
}

func TestControlTagsSurviveKmsg(t *testing.T) {
	hb := kmsg.NewPtrBrokerHeartbeatRequest()
	hb.BrokerID = 4
	SetUint64Tag(&hb.UnknownTags, TagMetadataIndex, 1<<33)
	hb.UnknownTags.Set(TagRaftLogOffset, nil)
	back := kmsg.NewPtrBrokerHeartbeatRequest()
	if err := back.ReadFrom(hb.AppendTo(nil)); err != nil {
		t.Fatal(err)
	}
	if v, ok := Uint64Tag(&back.UnknownTags, TagMetadataIndex); !ok || v != 1<<33 {
		t.Fatalf("index tag = %d, %v", v, ok)
	}
	if !HasTag(&back.UnknownTags, TagRaftLogOffset) {
		t.Fatal("raft log tag lost")
	}
	plain := kmsg.NewPtrBrokerHeartbeatRequest()
	if _, ok := Uint64Tag(&plain.UnknownTags, TagMetadataIndex); ok || HasTag(&plain.UnknownTags, TagRaftLogOffset) {
		t.Fatal("tags found on a request without them")
	}
}

// TestMetadataFetchOverClient sends minikraft's own request through Client and Server, as a
// broker-only node does, and checks that a Mux without it refuses it by closing the connection.
func TestMetadataFetchOverClient(t *testing.T) {
	mux := NewMux()
	mux.Handle(MetadataFetchKey, 0, 0, func(_ context.Context, r *Request) Future {
		req := r.Msg.(*MetadataFetchRequest)
		resp := req.ResponseKind().(*MetadataFetchResponse)
		resp.LeaderID, resp.State = 2, []byte{byte(req.After)}
		return Done(resp, nil)
	})
	srv := NewServer(mux, ServerConfig{})
	defer srv.Close()
	a, b := net.Pipe()
	go srv.ServeConn(b, "CONTROLLER")
	c := NewClient(a, "test", 1<<20)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	resp, err := c.Request(ctx, &MetadataFetchRequest{After: 9})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.(*MetadataFetchResponse); got.LeaderID != 2 || !bytes.Equal(got.State, []byte{9}) {
		t.Fatalf("response %+v", got)
	}

	// A client API on a control Mux: the connection is closed, as Kafka's controller listener
	// does with a request it does not serve.
	if _, err := c.Request(ctx, kmsg.NewPtrProduceRequest()); err == nil {
		t.Fatal("a Produce request was answered")
	}
}
