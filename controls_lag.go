package minikraft

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/minikraft/minikraft/broker"
	"github.com/minikraft/minikraft/raftmeta"
)

// The fixture's controls of a replica's data: a follower that lags for real (ThrottleFollower)
// and a leader that loses its log (UncleanLeaderLoss).

// lagControls remembers each node's follower throttle, to set it again when the node restarts.
type lagControls struct {
	mu       sync.Mutex // leaf
	throttle map[int]int64
}

// ThrottleFollower limits node's replica fetching to bytesPerSecond, for every partition it
// follows, from every leader together (bytesPerSecond <= 0: no limit). The follower really falls
// behind when writes outpace the limit: its leaders take it out of their ISR after
// replica.lag.time.max.ms (3 s in the fixture) and take it back once it has caught up, after
// the limit is lifted or the writes stop. Its fetches are limited as Kafka's follower
// replication quota limits them: a fetch asks for at most one second's worth of bytes, and the
// next waits until the bytes fetched are paid for. The limit stays across RestartNode.
func (c *Cluster) ThrottleFollower(node int, bytesPerSecond int64) {
	c.checkNode(node)
	bytesPerSecond = max(bytesPerSecond, 0)
	c.lag.mu.Lock()
	if c.lag.throttle == nil {
		c.lag.throttle = map[int]int64{}
	}
	c.lag.throttle[node] = bytesPerSecond
	c.lag.mu.Unlock()
	if b := c.Node(node); b != nil {
		b.SetReplicaFetchThrottle(bytesPerSecond)
	}
}

// restoreLag sets node's follower throttle on its new broker after a restart.
func (c *Cluster) restoreLag(node int, b *broker.Broker) {
	c.lag.mu.Lock()
	rate := c.lag.throttle[node]
	c.lag.mu.Unlock()
	if rate > 0 {
		b.SetReplicaFetchThrottle(rate)
	}
}

// UncleanLeaderLoss makes the leader of topic's partition lose that partition's log, as a disk
// loss would: the node crashes (KillNode), and once the cluster has noticed (its session lapsed,
// broker.session.timeout.ms) and elected a new leader from the ISR, the partition's directory is
// deleted on it and it is started again. It comes back with an empty replica, which truncates
// to nothing and fetches the whole log again from the new leader, and rejoins the ISR once it
// has caught up. It returns the node that lost its log, once it is running again and every
// running node agrees on a leader of the partition.
//
// What survives is what Kafka promises: the records the other ISR members hold, which include
// every record acknowledged with acks=all. Records acknowledged with acks=1 that no follower had
// fetched are gone, and the next records written take their offsets. If the leader was the
// only member of the ISR, no other replica may be elected (unclean.leader.election.enable is
// false): the partition has no leader until the node is back, and then it is elected again
// with its empty log, as in Kafka before KIP-966, losing every record of the partition.
func (c *Cluster) UncleanLeaderLoss(ctx context.Context, topic string, partition int32) (int, error) {
	_, _, ok := c.activeController()
	if !ok {
		return -1, fmt.Errorf("minikraft: UncleanLeaderLoss: no active controller")
	}
	leader := int32(-1)
	c.mu.Lock()
	for _, cn := range c.nodes {
		if cn.b != nil {
			if p := cn.b.Meta().State().Partition(topic, partition); p != nil {
				leader = p.Leader
			}
			break
		}
	}
	c.mu.Unlock()
	if leader < 0 || int(leader) >= len(c.nodes) {
		return -1, fmt.Errorf("minikraft: UncleanLeaderLoss: %s-%d has no leader: %w", topic, partition, kerr.LeaderNotAvailable)
	}
	node := int(leader)
	if err := c.KillNode(node); err != nil {
		return node, err
	}
	// The crash must be noticed before the node comes back: a node that registers again
	// before its session lapsed would still lead, now with an empty log.
	if err := c.waitMetadata(ctx, func(st *raftmeta.State) bool {
		p := st.Partition(topic, partition)
		return p != nil && p.Leader != leader
	}, fmt.Sprintf("node %d no longer leading %s-%d", node, topic, partition)); err != nil {
		return node, err
	}
	dir := filepath.Join(c.nodes[node].dir, topic+"-"+strconv.Itoa(int(partition)))
	if err := os.RemoveAll(dir); err != nil {
		return node, fmt.Errorf("minikraft: UncleanLeaderLoss: %w", err)
	}
	if err := c.RestartNode(node); err != nil {
		return node, err
	}
	return node, c.waitMetadata(ctx, func(st *raftmeta.State) bool {
		p := st.Partition(topic, partition)
		return p != nil && p.Leader >= 0
	}, fmt.Sprintf("a leader of %s-%d", topic, partition))
}
