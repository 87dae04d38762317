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

// TestDescribeQuorum asks each node of a three-node cluster for the metadata quorum (what
// kafka-metadata-quorum shows): every node answers with the Raft leader's view, three voters
// whose offsets come from their heartbeats, and a stopped voter falls behind.
func TestDescribeQuorum(t *testing.T) {
	c := minikraft.NewCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	leader := -1
	for i := range 3 {
		if c.Node(i).Meta().IsLeader() {
			leader = i
		}
	}
	describe := func(node int, topic string) *kmsg.DescribeQuorumResponse {
		t.Helper()
		cl := newClientT(t, kgo.SeedBrokers(c.Addrs()[node]))
		req := kmsg.NewPtrDescribeQuorumRequest()
		rt := kmsg.NewDescribeQuorumRequestTopic()
		rt.Topic = topic
		rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl.Broker(node))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	// Every voter reports its offset, caught up, within a heartbeat or two.
	var p kmsg.DescribeQuorumResponseTopicPartition
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp := describe((leader+1)%3, "__cluster_metadata")
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("response %+v", resp)
		}
		p = resp.Topics[0].Partitions[0]
		known := 0
		for _, v := range p.CurrentVoters {
			if v.LogEndOffset > 0 && v.LastFetchTimestamp > 0 && v.LastCaughtUpTimestamp > 0 {
				known++
			}
		}
		if known == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("voters %+v", p.CurrentVoters)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if p.ErrorCode != 0 || int(p.LeaderID) != leader || p.LeaderEpoch < 1 || p.HighWatermark < 1 || len(p.CurrentVoters) != 3 || len(p.Observers) != 0 {
		t.Fatalf("leader %d (want %d), epoch %d, high watermark %d, voters %+v, observers %+v",
			p.LeaderID, leader, p.LeaderEpoch, p.HighWatermark, p.CurrentVoters, p.Observers)
	}
	for i, v := range p.CurrentVoters {
		if int(v.ReplicaID) != i || v.LogEndOffset > p.CurrentVoters[leader].LogEndOffset {
			t.Fatalf("voter %d: %+v (the leader's %+v)", i, v, p.CurrentVoters[leader])
		}
	}

	// Only __cluster_metadata-0 exists.
	if resp := describe(leader, "other"); resp.Topics[0].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("another topic: %+v", resp)
	}

	// A stopped follower stops reporting: its last report ages while the leader's does not.
	stopped := (leader + 2) % 3
	if err := c.StopNode(stopped); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	p = describe(leader, "__cluster_metadata").Topics[0].Partitions[0]
	now := time.Now().UnixMilli()
	if s := p.CurrentVoters[stopped].LastFetchTimestamp; now-s < 400 {
		t.Fatalf("stopped voter %d reported %d ms ago", stopped, now-s)
	}
	if s := p.CurrentVoters[leader].LastFetchTimestamp; now-s > 5000 {
		t.Fatalf("leader's own report is %d ms old", now-s)
	}
}
