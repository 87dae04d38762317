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

// TestFirstCoordinatorReadyWhenNamed: the FindCoordinator that creates __consumer_offsets (or
// __transaction_state) names a coordinator that already leads the partition, so the client's
// very next JoinGroup (InitProducerId) there is served, not answered NOT_COORDINATOR (after
// which franz-go backs off 250 ms). Before, the creation did not wait for the other nodes to
// apply the topic, and a fresh three-node cluster's first group join met NOT_COORDINATOR about
// one time in five. Each round is a fresh cluster, since only the first lookup creates.
func TestFirstCoordinatorReadyWhenNamed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for round := range 4 {
		c := minikraft.NewCluster(t, 3, minikraft.Quiet())
		nodes := nodeBrokers(t, c.Addrs())
		for _, keyType := range []int8{0, 1} {
			key := fmt.Sprintf("first-%d-%d", round, keyType)
			fc := kmsg.NewPtrFindCoordinatorRequest()
			fc.CoordinatorType, fc.CoordinatorKey, fc.CoordinatorKeys = keyType, key, []string{key}
			resp, err := fc.RequestWith(ctx, nodes[round%3])
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Coordinators) != 1 || resp.Coordinators[0].ErrorCode != 0 {
				t.Fatalf("round %d: FindCoordinator(%d, %s): %+v", round, keyType, key, resp.Coordinators)
			}
			coord := nodes[resp.Coordinators[0].NodeID]
			var code int16
			if keyType == 0 {
				jg := kmsg.NewPtrJoinGroupRequest()
				jg.Group, jg.ProtocolType, jg.SessionTimeoutMillis, jg.RebalanceTimeoutMillis = key, "consumer", 10000, 10000
				p := kmsg.NewJoinGroupRequestProtocol()
				p.Name = "range"
				jg.Protocols = append(jg.Protocols, p)
				jr, err := jg.RequestWith(ctx, coord)
				if err != nil {
					t.Fatal(err)
				}
				code = jr.ErrorCode // MEMBER_ID_REQUIRED: the coordinator took the request
				if code == kerr.MemberIDRequired.Code {
					code = 0
				}
			} else {
				ip := kmsg.NewPtrInitProducerIDRequest()
				ip.TransactionalID, ip.TransactionTimeoutMillis = &key, 10000
				ir, err := ip.RequestWith(ctx, coord)
				if err != nil {
					t.Fatal(err)
				}
				code = ir.ErrorCode
			}
			if code != 0 {
				t.Fatalf("round %d: the first coordinator named for %s (type %d), node %d, answered %v",
					round, key, keyType, resp.Coordinators[0].NodeID, kerr.ErrorForCode(code))
			}
		}
	}
}
