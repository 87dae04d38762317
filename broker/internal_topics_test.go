package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft"
)

// TestInternalTopicsAutoCreatedByMetadataGetTheirOwnSettings: a Metadata request allowed to
// create topics that names __consumer_offsets before any group exists (what sarama-based lag
// monitors send when they start) creates it as Kafka's AutoTopicCreationManager does, with
// offsets.topic.num.partitions and the group coordinator's topic configs, not num.partitions;
// and a group consumer then gets its record. The same for __transaction_state with
// transaction.state.log.*. A one-partition __consumer_offsets used to leave every group waiting
// for a coordinator for ever.
func TestInternalTopicsAutoCreatedByMetadataGetTheirOwnSettings(t *testing.T) {
	c := minikraft.NewCluster(t, 1,
		minikraft.WithConfig("offsets.topic.num.partitions", "50"),
		minikraft.WithConfig("offsets.topic.segment.bytes", "1048576"),
		minikraft.WithConfig("transaction.state.log.num.partitions", "7"),
		minikraft.WithConfig("transaction.state.log.segment.bytes", "2097152"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := rawClient(t, c, 0)

	md := kmsg.NewPtrMetadataRequest()
	md.Version = 9
	md.AllowAutoTopicCreation = true
	md.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("__consumer_offsets")}, {Topic: kmsg.StringPtr("__transaction_state")}}
	r := request[*kmsg.MetadataResponse](ctx, t, cl, md)
	want := map[string]int{"__consumer_offsets": 50, "__transaction_state": 7}
	for _, rt := range r.Topics {
		if rt.ErrorCode != 0 || !rt.IsInternal || len(rt.Partitions) != want[*rt.Topic] {
			t.Errorf("%s: %v, internal %v, %d partitions; want %d internal partitions",
				*rt.Topic, kerr.ErrorForCode(rt.ErrorCode), rt.IsInternal, len(rt.Partitions), want[*rt.Topic])
		}
	}

	dc := kmsg.NewPtrDescribeConfigsRequest()
	for _, name := range []string{"__consumer_offsets", "__transaction_state"} {
		res := kmsg.NewDescribeConfigsRequestResource()
		res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, name
		dc.Resources = append(dc.Resources, res)
	}
	configs := map[string]map[string]string{
		"__consumer_offsets": {"cleanup.policy": "compact", "segment.bytes": "1048576", "compression.type": "producer"},
		// transaction.state.log.min.isr (2) is capped at the replication factor of a one-node cluster.
		"__transaction_state": {"cleanup.policy": "compact", "segment.bytes": "2097152", "compression.type": "uncompressed",
			"min.insync.replicas": "1", "unclean.leader.election.enable": "false"},
	}
	for _, res := range request[*kmsg.DescribeConfigsResponse](ctx, t, cl, dc).Resources {
		got := map[string]string{}
		for _, e := range res.Configs {
			if e.Value != nil {
				got[e.Name] = *e.Value
			}
		}
		for k, v := range configs[res.ResourceName] {
			if got[k] != v {
				t.Errorf("%s: %s=%q, want %q", res.ResourceName, k, got[k], v)
			}
		}
	}

	// The lesson's flow: a record, then a group consumer reading from the earliest offset.
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("messages"),
		kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.ProduceSync(ctx, kgo.StringRecord("my message")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics("messages"),
		kgo.ConsumerGroup("echo-messages-to-stdout"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
	defer pcancel()
	for {
		fs := cons.PollFetches(pctx)
		if pctx.Err() != nil {
			t.Fatal("the group consumer got no record within 20s")
		}
		if recs := fs.Records(); len(recs) > 0 {
			if string(recs[0].Value) != "my message" {
				t.Fatalf("consumed %q", recs[0].Value)
			}
			break
		}
	}
}
