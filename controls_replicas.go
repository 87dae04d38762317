package minikraft

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker"
	"github.com/minikraft/minikraft/raftmeta"
	"github.com/minikraft/minikraft/wire"
)

// The fixture's replication controls: ISR and leader changes on demand, made the way the
// cluster makes them itself, through the active controller's KRaft APIs on the CONTROLLER
// listener (AlterPartition, AlterPartitionReassignments, ElectLeaders), so the metadata, the
// leader and the followers react as they would to the real thing.

// fixtureClusterID is every fixture cluster's cluster.id.
const fixtureClusterID = "minikraft-fixture-0000"

// ShrinkISR takes the given followers of topic's partition out of its ISR, as the leader does
// when they lag: the fixture sends the controller the AlterPartition the leader would send. It
// returns once every running node's metadata (and so Metadata answers) shows the shrunk ISR.
//
// As in Kafka, a follower out of the ISR rejoins as soon as it has caught up (the leader proposes
// the expansion): one that keeps fetching is back within moments, and one that has nothing to
// catch up (nothing was written since its last fetch) at once. To keep it out, hold its fetches
// first and write something it has not got: e.g. c.InjectError(leader, 1, 6, 0) (Fetch,
// NOT_LEADER_OR_FOLLOWER) until ClearInjections, then an acks=1 record; or cut it off with
// PartitionOneWay. The leader cannot leave its own ISR.
func (c *Cluster) ShrinkISR(ctx context.Context, topic string, partition int32, nodes ...int) error {
	for _, n := range nodes {
		c.checkNode(n)
	}
	return shrinkISR(ctx, c, topic, partition, nodes...)
}

// shrinkISR is ShrinkISR through v: the fixture's cluster, or one node (the test admin endpoint).
func shrinkISR(ctx context.Context, v controllerView, topic string, partition int32, nodes ...int) error {
	var epoch int32
	err := retryController(ctx, v, func(st *raftmeta.State) (kmsg.Request, error) {
		p := st.Partition(topic, partition)
		if p == nil {
			return nil, fmt.Errorf("minikraft: ShrinkISR: %s-%d: %w", topic, partition, kerr.UnknownTopicOrPartition)
		}
		isr := slices.DeleteFunc(slices.Clone(p.ISR), func(id int32) bool { return slices.Contains(nodes, int(id)) })
		if slices.Contains(nodes, int(p.Leader)) {
			return nil, fmt.Errorf("minikraft: ShrinkISR: node %d leads %s-%d and cannot leave its ISR", p.Leader, topic, partition)
		}
		if len(isr) == len(p.ISR) {
			epoch = p.PartitionEpoch // out already
			return nil, nil
		}
		req := kmsg.NewPtrAlterPartitionRequest()
		req.Version = 1
		req.BrokerID = p.Leader
		if br := st.Brokers[p.Leader]; br != nil {
			req.BrokerEpoch = br.Epoch
		}
		rt := kmsg.NewAlterPartitionRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewAlterPartitionRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch, rp.NewISR = partition, p.LeaderEpoch, p.PartitionEpoch, isr
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return req, nil
	}, func(resp kmsg.Response) (int16, error) {
		r := resp.(*kmsg.AlterPartitionResponse)
		if r.ErrorCode != 0 {
			return r.ErrorCode, nil
		}
		if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
			return 0, errors.New("minikraft: ShrinkISR: AlterPartition answered no partition")
		}
		sp := r.Topics[0].Partitions[0]
		epoch = sp.PartitionEpoch
		return sp.ErrorCode, nil
	})
	if err != nil {
		return err
	}
	return v.waitMetadata(ctx, func(st *raftmeta.State) bool {
		p := st.Partition(topic, partition)
		return p != nil && p.PartitionEpoch >= epoch
	}, fmt.Sprintf("the ISR change of %s-%d", topic, partition))
}

// MoveLeader makes node the leader of topic's partition, as an operator would: a reassignment
// that puts node first in the replica list (so it is the preferred leader from now on, and the
// automatic leader rebalance keeps it there) and a preferred leader election. node must be a
// replica of the partition; while it is not in the ISR (a follower catching up), the election
// is retried until it is or ctx ends. It returns once every running node's metadata shows node
// leading.
func (c *Cluster) MoveLeader(ctx context.Context, topic string, partition int32, node int) error {
	c.checkNode(node)
	return moveLeader(ctx, c, topic, partition, node)
}

// moveLeader is MoveLeader through v.
func moveLeader(ctx context.Context, v controllerView, topic string, partition int32, node int) error {
	id := int32(node)
	err := retryController(ctx, v, func(st *raftmeta.State) (kmsg.Request, error) {
		p := st.Partition(topic, partition)
		if p == nil {
			return nil, fmt.Errorf("minikraft: MoveLeader: %s-%d: %w", topic, partition, kerr.UnknownTopicOrPartition)
		}
		if !p.HasReplica(id) {
			return nil, fmt.Errorf("minikraft: MoveLeader: node %d is not a replica of %s-%d (replicas %v)", node, topic, partition, p.Replicas)
		}
		if p.Reassigning() {
			return nil, fmt.Errorf("minikraft: MoveLeader: %s-%d is being reassigned", topic, partition)
		}
		if p.Replicas[0] == id {
			return nil, nil
		}
		req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
		req.TimeoutMillis = 30000
		rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
		rp.Partition = partition
		rp.Replicas = append([]int32{id}, slices.DeleteFunc(slices.Clone(p.Replicas), func(r int32) bool { return r == id })...)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return req, nil
	}, func(resp kmsg.Response) (int16, error) {
		r := resp.(*kmsg.AlterPartitionAssignmentsResponse)
		if r.ErrorCode != 0 || len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
			return r.ErrorCode, nil
		}
		return r.Topics[0].Partitions[0].ErrorCode, nil
	})
	if err != nil {
		return err
	}
	err = retryController(ctx, v, func(st *raftmeta.State) (kmsg.Request, error) {
		p := st.Partition(topic, partition)
		if p == nil {
			return nil, fmt.Errorf("minikraft: MoveLeader: %s-%d: %w", topic, partition, kerr.UnknownTopicOrPartition)
		}
		if p.Leader == id {
			return nil, nil
		}
		req := kmsg.NewPtrElectLeadersRequest()
		req.Version = 2
		req.ElectionType = 0 // preferred
		req.TimeoutMillis = 30000
		rt := kmsg.NewElectLeadersRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{partition}
		req.Topics = append(req.Topics, rt)
		return req, nil
	}, func(resp kmsg.Response) (int16, error) {
		r := resp.(*kmsg.ElectLeadersResponse)
		if r.ErrorCode != 0 || len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
			return r.ErrorCode, nil
		}
		code := r.Topics[0].Partitions[0].ErrorCode
		switch code {
		case kerr.ElectionNotNeeded.Code:
			return 0, nil
		case kerr.PreferredLeaderNotAvailable.Code:
			// Not in the ISR yet: retried until it has caught up.
			return kerr.NotController.Code, nil
		}
		return code, nil
	})
	if err != nil {
		return err
	}
	return v.waitMetadata(ctx, func(st *raftmeta.State) bool {
		p := st.Partition(topic, partition)
		return p != nil && p.Leader == id
	}, fmt.Sprintf("node %d leading %s-%d", node, topic, partition))
}

// retryController sends the active controller the request build makes from the current
// metadata (none: nothing to do) and reads the answer's error code with check, until it
// succeeds. A controller that moves (NOT_CONTROLLER, a failed connection) and a partition that
// changed under the request (INVALID_UPDATE_VERSION, FENCED_LEADER_EPOCH: the leader's own ISR
// change won the race, or a leader moved) make it start again from the new metadata; another
// error code is returned.
func retryController(ctx context.Context, v controllerView, build func(*raftmeta.State) (kmsg.Request, error), check func(kmsg.Response) (int16, error)) error {
	var last error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("minikraft: %w (last: %v)", ctx.Err(), last)
			case <-time.After(20 * time.Millisecond):
			}
		}
		b, addr, ok := v.activeController()
		if !ok {
			last = errors.New("no active controller")
			continue
		}
		req, err := build(b)
		if err != nil || req == nil {
			return err
		}
		resp, err := controlCall(ctx, addr, v.clusterID(), req)
		if err != nil {
			last = err
			continue
		}
		code, err := check(resp)
		if err != nil {
			return err
		}
		switch code {
		case 0:
			return nil
		case kerr.NotController.Code, kerr.InvalidUpdateVersion.Code, kerr.FencedLeaderEpoch.Code,
			kerr.NotLeaderForPartition.Code, kerr.RequestTimedOut.Code:
			last = kerr.ErrorForCode(code)
			continue
		}
		return kerr.ErrorForCode(code)
	}
}

// controllerView is how the replication controls see a cluster: its metadata and active
// controller, and every node's metadata to wait on. The fixture's Cluster sees all its nodes; the
// test admin endpoint of a node (admin.go) sees what that node sees.
type controllerView interface {
	activeController() (*raftmeta.State, string, bool)
	waitMetadata(ctx context.Context, ok func(*raftmeta.State) bool, what string) error
	clusterID() string
}

func (c *Cluster) clusterID() string { return fixtureClusterID }

// activeController is the metadata and the CONTROLLER address of the node that leads the
// quorum, as a running node sees them.
func (c *Cluster) activeController() (*raftmeta.State, string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cn := range c.nodes {
		if cn.b == nil || !cn.b.Meta().IsLeader() {
			continue
		}
		return cn.b.Meta().State(), cn.ctrl, true
	}
	return nil, "", false
}

// controlCall sends one request on a new control connection to addr. The fixture dials as a
// client would: cuts between nodes do not apply to it.
func controlCall(ctx context.Context, addr, clusterID string, req kmsg.Request) (kmsg.Response, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var d net.Dialer
	nc, err := raftmeta.DialTag(cctx, d.DialContext, addr, raftmeta.TagControl, clusterID)
	if err != nil {
		return nil, err
	}
	cl := wire.NewClient(nc, "minikraft-fixture", 64<<20)
	defer cl.Close()
	return cl.Request(cctx, req)
}

// waitMetadata waits until every running node's metadata satisfies ok and the node has
// reconciled its partitions with that metadata (broker.AppliedIndex): the Raft state changes a
// moment before the replica manager acts on it, and in that moment a demoted leader still
// accepts acks=1 writes that it later truncates.
func (c *Cluster) waitMetadata(ctx context.Context, ok func(*raftmeta.State) bool, what string) error {
	for {
		all := true
		c.mu.Lock()
		for _, cn := range c.nodes {
			if cn.b != nil && !appliedState(cn.b, ok) {
				all = false
			}
		}
		c.mu.Unlock()
		if all {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("minikraft: waiting for every node to see %s: %w", what, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// appliedState reports whether b's metadata satisfies ok and b's partitions are reconciled
// with it.
func appliedState(b *broker.Broker, ok func(*raftmeta.State) bool) bool {
	st := b.Meta().State()
	return ok(st) && b.AppliedIndex() >= st.Index
}
