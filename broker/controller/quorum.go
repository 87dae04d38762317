package controller

import (
	"slices"
	"time"

	"github.com/minikraft/minikraft/raftmeta"
)

// The metadata quorum as DescribeQuorum reports it (KIP-595, KIP-836). Kafka's quorum leader
// knows each replica's fetch position of the metadata log; hashicorp/raft does not publish its
// followers' progress, so, as KRaft brokers do in BrokerHeartbeat's CurrentMetadataOffset, each
// node reports the metadata offset it has applied in its heartbeats, and the active controller
// keeps the latest (in memory: a new controller starts with none, and reports -1 until the next
// heartbeats arrive).

// ReplicaProgress is one replica of the metadata log in a QuorumDescription.
type ReplicaProgress struct {
	ID           int32
	LogEndOffset int64 // a voter's Raft log end, an observer's last applied command; -1 unknown
	LastFetch    int64 // unix ms of its last report, -1 none
	LastCaughtUp int64 // unix ms of the last report at which it had all the leader had applied, -1 none
}

// QuorumDescription is DescribeQuorum's answer for the metadata partition.
type QuorumDescription struct {
	LeaderID      int32
	LeaderEpoch   int32 // the Raft term
	HighWatermark int64 // the Raft commit index
	Voters        []ReplicaProgress
	Observers     []ReplicaProgress // broker-only nodes
}

type metadataProgress struct {
	offset         int64
	seen, caughtUp time.Time
}

// MetadataProgress records the metadata offset broker id reported at now: a voter's Raft log end
// (raftLog), caught up when it reaches the commit index, or an observer's last applied command,
// caught up when it is the leader's (Raft's own no-op and configuration entries never reach an
// observer's state, so its offset is compared with the leader's of the same kind).
func (c *Controller) MetadataProgress(id int32, offset int64, raftLog bool, now time.Time) {
	caughtUp := offset >= int64(c.meta.State().Index)
	if raftLog {
		caughtUp = offset >= int64(c.meta.CommitIndex())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.progress[id]
	p.offset, p.seen = offset, now
	if caughtUp {
		p.caughtUp = now
	}
	c.progress[id] = p
}

// DescribeQuorum describes the quorum; only the Raft leader can (raftmeta.ErrNotLeader
// elsewhere, which sends the request on to the leader).
func (c *Controller) DescribeQuorum(now time.Time) (QuorumDescription, error) {
	if !c.meta.IsLeader() {
		return QuorumDescription{}, raftmeta.ErrNotLeader
	}
	q, err := c.meta.Quorum()
	if err != nil {
		return QuorumDescription{}, err
	}
	d := QuorumDescription{LeaderID: q.LeaderID, LeaderEpoch: int32(q.Term), HighWatermark: int64(q.CommitIndex)}
	c.mu.Lock()
	defer c.mu.Unlock()
	replica := func(id int32) ReplicaProgress {
		if id == q.LeaderID {
			// The leader is caught up with itself, now (as Kafka reports its leader).
			return ReplicaProgress{ID: id, LogEndOffset: int64(q.LastIndex), LastFetch: now.UnixMilli(), LastCaughtUp: now.UnixMilli()}
		}
		r := ReplicaProgress{ID: id, LogEndOffset: -1, LastFetch: -1, LastCaughtUp: -1}
		if p, ok := c.progress[id]; ok {
			r.LogEndOffset, r.LastFetch = p.offset, p.seen.UnixMilli()
			if !p.caughtUp.IsZero() {
				r.LastCaughtUp = p.caughtUp.UnixMilli()
			}
		}
		return r
	}
	for _, id := range q.Voters {
		d.Voters = append(d.Voters, replica(id))
	}
	var observers []int32
	for id := range c.meta.State().Brokers {
		if !slices.Contains(q.Voters, id) {
			observers = append(observers, id)
		}
	}
	slices.Sort(observers)
	for _, id := range observers {
		d.Observers = append(d.Observers, replica(id))
	}
	return d, nil
}
