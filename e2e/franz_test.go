package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestFranzProduceConsume: an idempotent franz-go producer (its default) writes keyed records to
// a three-partition topic with acks=all; a consumer reads every one back in per-partition order.
func TestFranzProduceConsume(t *testing.T) {
	n := startSingle(t)
	ctx := testContext(t)
	adm := kadm.NewClient(newClient(t, n.addr))
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, n.addr, kgo.DefaultProduceTopic("orders"), kgo.RequiredAcks(kgo.AllISRAcks()))
	const total = 3000
	for i := 0; i < total; i++ {
		cl.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprint("k", i%17)), Value: []byte(fmt.Sprint(i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Error(err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cons := newClient(t, n.addr, kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	lastByKey := map[string]int{}
	perPartition := map[int32]int32{}
	got := 0
	for got < total {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			var v int
			fmt.Sscan(string(r.Value), &v)
			if prev, ok := lastByKey[string(r.Key)]; ok && prev >= v {
				t.Errorf("key %s: %d after %d", r.Key, v, prev)
			}
			lastByKey[string(r.Key)] = v
			perPartition[r.Partition]++
			got++
		})
	}
	if got != total {
		t.Fatalf("consumed %d, want %d", got, total)
	}

	// DescribeProducers: the one idempotent producer, on each partition at the sequence of its
	// last record there (sequences count from 0 per partition).
	pid, epoch, err := cl.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dp, err := adm.DescribeProducers(ctx, kadm.TopicsSet{"orders": {0: {}, 1: {}, 2: {}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range dp["orders"].Partitions.Sorted() {
		d, ok := p.ActiveProducers[pid]
		if p.Err != nil || len(p.ActiveProducers) != 1 || !ok || d.ProducerEpoch != epoch ||
			d.LastSequence != perPartition[p.Partition]-1 || d.LastTimestamp <= 0 || d.CoordinatorEpoch != -1 || d.CurrentTxnStartOffset != -1 {
			t.Fatalf("partition %d (%d records from producer %d): %+v", p.Partition, perPartition[p.Partition], pid, p)
		}
	}
}

// TestFranzAdmin exercises topic and config administration through kadm, checking Kafka's
// answers for good and bad input.
func TestFranzAdmin(t *testing.T) {
	n := startSingle(t)
	ctx := testContext(t)
	adm := kadm.NewClient(newClient(t, n.addr))

	// Create with configs; validate-only creates nothing.
	cfg := map[string]*string{
		"min.insync.replicas": kadm.StringPtr("1"),
		"cleanup.policy":      kadm.StringPtr("delete"),
		"retention.ms":        kadm.StringPtr("86400000"),
	}
	if r, err := adm.CreateTopic(ctx, 3, 1, cfg, "messages"); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	if r, _ := adm.CreateTopic(ctx, 3, 1, nil, "messages"); !errors.Is(r.Err, kerr.TopicAlreadyExists) {
		t.Fatalf("duplicate create: %v, want TOPIC_ALREADY_EXISTS", r.Err)
	}
	if r, _ := adm.CreateTopic(ctx, 1, 1, nil, "bad/name"); !errors.Is(r.Err, kerr.InvalidTopicException) {
		t.Fatalf("bad name: %v, want INVALID_TOPIC_EXCEPTION", r.Err)
	}
	if r, _ := adm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": kadm.StringPtr("-5")}, "badcfg"); !errors.Is(r.Err, kerr.InvalidConfig) {
		t.Fatalf("bad config: %v, want INVALID_CONFIG", r.Err)
	}
	if r, _ := adm.CreateTopic(ctx, 1, 1, map[string]*string{"no.such.config": kadm.StringPtr("1")}, "badcfg"); !errors.Is(r.Err, kerr.InvalidConfig) {
		t.Fatalf("unknown config: %v, want INVALID_CONFIG", r.Err)
	}
	if r, _ := adm.CreateTopic(ctx, 1, 3, nil, "toomany"); !errors.Is(r.Err, kerr.InvalidReplicationFactor) {
		t.Fatalf("rf 3 on one broker: %v, want INVALID_REPLICATION_FACTOR", r.Err)
	}
	vr, err := adm.ValidateCreateTopics(ctx, 2, 1, nil, "validated")
	if err != nil || vr.Error() != nil {
		t.Fatalf("validate only: %v %v", err, vr.Error())
	}
	td, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if td.Has("validated") || !td.Has("messages") || len(td["messages"].Partitions) != 3 {
		t.Fatalf("topics after validate-only: %v", td.Names())
	}

	// Describe configs: the override, and a default with its source.
	rc, err := adm.DescribeTopicConfigs(ctx, "messages")
	if err != nil {
		t.Fatal(err)
	}
	c, err := rc.On("messages", nil)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]kadm.Config{}
	for _, e := range c.Configs {
		found[e.Key] = e
	}
	if e := found["retention.ms"]; e.MaybeValue() != "86400000" || e.Source.String() != "DYNAMIC_TOPIC_CONFIG" {
		t.Fatalf("retention.ms: %+v", e)
	}
	if e := found["segment.bytes"]; e.MaybeValue() != "1073741824" || e.Source.String() != "DEFAULT_CONFIG" {
		t.Fatalf("segment.bytes: %+v", e)
	}

	// Incremental alter, then read back.
	ar, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kadm.StringPtr("3600000")}}, "messages")
	if err != nil || ar[0].Err != nil {
		t.Fatalf("alter: %v %v", err, ar)
	}
	rc, _ = adm.DescribeTopicConfigs(ctx, "messages")
	c, _ = rc.On("messages", nil)
	for _, e := range c.Configs {
		if e.Key == "retention.ms" && e.MaybeValue() != "3600000" {
			t.Fatalf("after alter retention.ms = %s", e.MaybeValue())
		}
	}
	ar, _ = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "cleanup.policy", Value: kadm.StringPtr("foo")}}, "messages")
	if !errors.Is(ar[0].Err, kerr.InvalidConfig) {
		t.Fatalf("alter bad value: %v, want INVALID_CONFIG", ar[0].Err)
	}

	// Partitions can grow, never shrink.
	if r, err := adm.CreatePartitions(ctx, 2, "messages"); err != nil || r.Error() != nil {
		t.Fatalf("add partitions: %v %v", err, r.Error())
	}
	if r, _ := adm.UpdatePartitions(ctx, 2, "messages"); !errors.Is(r.Error(), kerr.InvalidPartitions) {
		t.Fatalf("shrink: %v, want INVALID_PARTITIONS", r.Error())
	}

	// Delete, then it is gone.
	if r, err := adm.DeleteTopics(ctx, "messages"); err != nil || r.Error() != nil {
		t.Fatalf("delete: %v %v", err, r.Error())
	}
	if r, _ := adm.DeleteTopics(ctx, "messages"); !errors.Is(r.Error(), kerr.UnknownTopicOrPartition) {
		t.Fatalf("delete again: %v", r.Error())
	}

	// The cluster has one broker, and it is the controller clients are told of.
	m, err := adm.BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Brokers) != 1 || m.Controller != 0 || m.Cluster == "" {
		t.Fatalf("metadata: %+v", m)
	}

	checkACLsDisabled(ctx, t, newClient(t, n.addr))
}

// checkACLsDisabled checks the ACL APIs answer as Kafka's do without an authorizer (Kafka's
// default): SECURITY_DISABLED, for the request or for each creation and filter.
func checkACLsDisabled(ctx context.Context, t *testing.T, cl *kgo.Client) {
	t.Helper()
	dreq := kmsg.NewPtrDescribeACLsRequest()
	dreq.ResourceType, dreq.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	dreq.Operation, dreq.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	dresp, err := dreq.RequestWith(ctx, cl)
	if err != nil || dresp.ErrorCode != kerr.SecurityDisabled.Code || dresp.ErrorMessage == nil ||
		*dresp.ErrorMessage != "No Authorizer is configured on the broker" {
		t.Fatalf("DescribeAcls: %v %+v, want SECURITY_DISABLED", err, dresp)
	}
	creq := kmsg.NewPtrCreateACLsRequest()
	c := kmsg.NewCreateACLsRequestCreation()
	c.ResourceType, c.ResourceName, c.ResourcePatternType = kmsg.ACLResourceTypeTopic, "messages", kmsg.ACLResourcePatternTypeLiteral
	c.Principal, c.Host, c.Operation, c.PermissionType = "User:alice", "*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
	creq.Creations = append(creq.Creations, c, c)
	cresp, err := creq.RequestWith(ctx, cl)
	if err != nil || len(cresp.Results) != 2 || cresp.Results[1].ErrorCode != kerr.SecurityDisabled.Code {
		t.Fatalf("CreateAcls: %v %+v, want SECURITY_DISABLED for both", err, cresp)
	}
	xreq := kmsg.NewPtrDeleteACLsRequest()
	f := kmsg.NewDeleteACLsRequestFilter()
	f.ResourceType, f.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	f.Operation, f.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	xreq.Filters = append(xreq.Filters, f)
	xresp, err := xreq.RequestWith(ctx, cl)
	if err != nil || len(xresp.Results) != 1 || xresp.Results[0].ErrorCode != kerr.SecurityDisabled.Code {
		t.Fatalf("DeleteAcls: %v %+v, want SECURITY_DISABLED", err, xresp)
	}
}

// TestFranzOffsetsAndDeleteRecords: ListOffsets for earliest, latest, timestamps, and
// DeleteRecords moving the log start.
func TestFranzOffsetsAndDeleteRecords(t *testing.T) {
	n := startSingle(t)
	ctx := testContext(t)
	adm := kadm.NewClient(newClient(t, n.addr))
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "offs"); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, n.addr, kgo.DefaultProduceTopic("offs"))
	base := time.Now().Add(-time.Hour)
	for i := 0; i < 10; i++ {
		r := &kgo.Record{Value: []byte(fmt.Sprint(i)), Timestamp: base.Add(time.Duration(i) * time.Minute)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	end, err := adm.ListEndOffsets(ctx, "offs")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := end.Lookup("offs", 0); o.Offset != 10 {
		t.Fatalf("end offset %d, want 10", o.Offset)
	}
	byTime, err := adm.ListOffsetsAfterMilli(ctx, base.Add(5*time.Minute).UnixMilli(), "offs")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := byTime.Lookup("offs", 0); o.Offset != 5 {
		t.Fatalf("offset for timestamp: %d, want 5", o.Offset)
	}
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "offs", Partition: 0, At: 4})
	dr, err := adm.DeleteRecords(ctx, os)
	if err != nil || dr.Error() != nil {
		t.Fatalf("delete records: %v %v", err, dr.Error())
	}
	start, err := adm.ListStartOffsets(ctx, "offs")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := start.Lookup("offs", 0); o.Offset != 4 {
		t.Fatalf("start offset after DeleteRecords: %d, want 4", o.Offset)
	}
	// Fetching below the start is OFFSET_OUT_OF_RANGE; the consumer resets to the start.
	cons := newClient(t, n.addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"offs": {0: kgo.NewOffset().At(0)}}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fs := cons.PollFetches(ctx)
	var first int64 = -1
	fs.EachRecord(func(r *kgo.Record) {
		if first < 0 {
			first = r.Offset
		}
	})
	if first != 4 {
		t.Fatalf("first consumed offset %d, want 4 (errors: %v)", first, fs.Errors())
	}
}
