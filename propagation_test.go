package minikraft_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft"
)

// nodeBrokers returns, for each address, a handle that sends requests to that node and no other.
func nodeBrokers(t *testing.T, addrs []string) []*kgo.Broker {
	t.Helper()
	var out []*kgo.Broker
	for _, a := range addrs {
		cl, err := kgo.NewClient(kgo.SeedBrokers(a))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		out = append(out, cl.SeedBrokers()[0])
	}
	return out
}

// onEveryNode runs check against every node at once and reports the nodes whose answer failed.
func onEveryNode(ctx context.Context, nodes []*kgo.Broker, check func(context.Context, *kgo.Broker) error) []error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := check(ctx, n); err != nil {
				errs[i] = fmt.Errorf("node %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	var failed []error
	for _, err := range errs {
		if err != nil {
			failed = append(failed, err)
		}
	}
	return failed
}

// topicServed checks that a node's Metadata answer has topic with partitions partitions, each
// with a leader; with partitions 0, that the node no longer knows the topic.
func topicServed(topic string, partitions int) func(context.Context, *kgo.Broker) error {
	return func(ctx context.Context, n *kgo.Broker) error {
		req := kmsg.NewPtrMetadataRequest()
		req.Version = 9
		req.AllowAutoTopicCreation = false // asking must not create it, or wait for it
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		r, err := n.Request(ctx, req)
		if err != nil {
			return err
		}
		mt := r.(*kmsg.MetadataResponse).Topics[0]
		if partitions == 0 {
			if mt.ErrorCode != kerr.UnknownTopicOrPartition.Code {
				return fmt.Errorf("deleted topic %s still served (error %v)", topic, kerr.ErrorForCode(mt.ErrorCode))
			}
			return nil
		}
		if err := kerr.ErrorForCode(mt.ErrorCode); err != nil {
			return fmt.Errorf("topic %s: %w", topic, err)
		}
		if len(mt.Partitions) != partitions {
			return fmt.Errorf("topic %s has %d partitions, want %d", topic, len(mt.Partitions), partitions)
		}
		for _, p := range mt.Partitions {
			if p.Leader < 0 || p.ErrorCode != 0 {
				return fmt.Errorf("topic %s partition %d: leader %d, error %v", topic, p.Partition, p.Leader, kerr.ErrorForCode(p.ErrorCode))
			}
		}
		return nil
	}
}

// retentionIs checks that a node describes topic with retention.ms value.
func retentionIs(topic, value string) func(context.Context, *kgo.Broker) error {
	return func(ctx context.Context, n *kgo.Broker) error {
		req := kmsg.NewPtrDescribeConfigsRequest()
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName, rr.ConfigNames = kmsg.ConfigResourceTypeTopic, topic, []string{"retention.ms"}
		req.Resources = append(req.Resources, rr)
		r, err := n.Request(ctx, req)
		if err != nil {
			return err
		}
		res := r.(*kmsg.DescribeConfigsResponse).Resources[0]
		if len(res.Configs) != 1 || res.Configs[0].Value == nil || *res.Configs[0].Value != value {
			return fmt.Errorf("retention.ms of %s is not %s: %+v", topic, value, res.Configs)
		}
		return nil
	}
}

func answerErr(code int16) error { return kerr.ErrorForCode(code) }

// The moment CreateTopics, CreatePartitions, IncrementalAlterConfigs or DeleteTopics answers,
// every node's answers show the change, whichever node took the request.
func TestMetadataChangesVisibleOnEveryNode(t *testing.T) {
	c := minikraft.NewCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes := nodeBrokers(t, c.Addrs())
	for i := range 6 {
		topic := fmt.Sprintf("everywhere-%d", i)
		via := nodes[i%3]

		create := kmsg.NewPtrCreateTopicsRequest()
		create.TimeoutMillis = 15_000
		ct := kmsg.NewCreateTopicsRequestTopic()
		ct.Topic, ct.NumPartitions, ct.ReplicationFactor = topic, 1, 3
		create.Topics = append(create.Topics, ct)
		r, err := via.Request(ctx, create)
		if err != nil || answerErr(r.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode) != nil {
			t.Fatalf("create %s: %v %v", topic, err, r)
		}
		for _, err := range onEveryNode(ctx, nodes, topicServed(topic, 1)) {
			t.Errorf("right after CreateTopics answered: %v", err)
		}

		grow := kmsg.NewPtrCreatePartitionsRequest()
		grow.TimeoutMillis = 15_000
		gt := kmsg.NewCreatePartitionsRequestTopic()
		gt.Topic, gt.Count = topic, 3
		grow.Topics = append(grow.Topics, gt)
		r, err = nodes[(i+1)%3].Request(ctx, grow)
		if err != nil || answerErr(r.(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode) != nil {
			t.Fatalf("create partitions of %s: %v %v", topic, err, r)
		}
		for _, err := range onEveryNode(ctx, nodes, topicServed(topic, 3)) {
			t.Errorf("right after CreatePartitions answered: %v", err)
		}

		alter := kmsg.NewPtrIncrementalAlterConfigsRequest()
		ar := kmsg.NewIncrementalAlterConfigsRequestResource()
		ar.ResourceType, ar.ResourceName = kmsg.ConfigResourceTypeTopic, topic
		ac := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		ac.Name, ac.Value = "retention.ms", kmsg.StringPtr(fmt.Sprint(3_600_000+i))
		ar.Configs = append(ar.Configs, ac)
		alter.Resources = append(alter.Resources, ar)
		r, err = nodes[(i+2)%3].Request(ctx, alter)
		if err != nil || answerErr(r.(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode) != nil {
			t.Fatalf("alter configs of %s: %v %v", topic, err, r)
		}
		for _, err := range onEveryNode(ctx, nodes, retentionIs(topic, fmt.Sprint(3_600_000+i))) {
			t.Errorf("right after IncrementalAlterConfigs answered: %v", err)
		}

		del := kmsg.NewPtrDeleteTopicsRequest()
		del.TimeoutMillis = 15_000
		dt := kmsg.NewDeleteTopicsRequestTopic()
		dt.Topic = kmsg.StringPtr(topic)
		del.Topics = append(del.Topics, dt)
		del.TopicNames = []string{topic}
		r, err = via.Request(ctx, del)
		if err != nil || answerErr(r.(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode) != nil {
			t.Fatalf("delete %s: %v %v", topic, err, r)
		}
		for _, err := range onEveryNode(ctx, nodes, topicServed(topic, 0)) {
			t.Errorf("right after DeleteTopics answered: %v", err)
		}
	}
}
