package raftmeta

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// Voter is one member of the static controller quorum (controller.quorum.voters).
type Voter struct {
	ID   int32
	Addr string // host:port of its CONTROLLER listener
}

// Config configures a Node.
type Config struct {
	NodeID    int32
	ClusterID string
	Dir       string  // <data dir>/raft: raft.db (log and stable store) and snapshots/
	Voters    []Voter // every voter bootstraps this same configuration on its first start
	// Voter says this node is one of Voters (process.roles contains controller). A node that is
	// not a voter starts with an empty log and waits to be added by the leader.
	// TODO(issue 4): the leader adds broker-only nodes as non-voters.
	Voter bool

	// Transport, if set, is used as-is (tests: raft.NewInmemTransport); Listener and Dial are
	// then unused. Raft closes it on Close.
	Transport raft.Transport
	// Listener yields the connections that carry Raft traffic, already demultiplexed by tag
	// byte (Mux.Listener(TagRaft)). Raft closes it on Close.
	Listener net.Listener
	// Dial opens a Raft stream to a peer's controller listener; the dialer writes the tag byte.
	// Nil means DialTag with a plain dialer, TagRaft and ClusterID.
	Dial func(addr string, timeout time.Duration) (net.Conn, error)

	// Raft timeouts. Zero takes a default: with one voter 50 ms heartbeat, election and lease
	// and a 5 ms commit timeout (a lone node leads within 50-100 ms); with several, 1 s
	// heartbeat and election, 500 ms lease, 10 ms commit. Set ones drive the zero ones (set
	// only HeartbeatTimeout, and election and lease follow it).
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration

	// CampaignOnStart makes a voter stand for election as soon as it starts when it has no
	// leader, instead of after a heartbeat timeout without one. The test fixture sets it on one
	// voter of a new cluster, so the cluster elects in milliseconds with its timeouts unchanged
	// (shorter ones would make a loaded machine's leaders step down). Set on several voters at
	// once, their elections may split the vote, and the next election is a timeout later: as
	// without it. A voter that finds a leader is not disrupted by it (pre-vote).
	CampaignOnStart bool

	// SpreadCommits has Propose spread every entry it commits (Node.Spread): the followers
	// apply a change one round trip after the leader, instead of up to twice CommitTimeout
	// later, for one more (barrier) entry in the log per change. The test fixture sets it,
	// where tests wait for every node to have a change and the log is not fsynced; without it
	// a barrier on a synced log could cost a change, say each topic of a large CreateTopics,
	// a second fsync on every voter.
	SpreadCommits bool

	// InMemory keeps the log, stable store and snapshots in memory (tests).
	InMemory bool
	// NoSync stops raft.db from fsyncing each write (bbolt's NoSync): the Raft log survives the
	// process being killed (the page cache has it), not the machine crashing. Only the
	// in-process test fixture sets it (broker.Config.NoSync); a voter that loses acknowledged
	// entries in a machine crash could break the quorum's guarantees.
	NoSync bool
	Logger *slog.Logger // nil discards
}

// Validate reports the first thing wrong with c.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("raftmeta: config: "+format, args...)
	}
	if c.NodeID < 0 {
		return bad("node id %d is negative", c.NodeID)
	}
	if c.ClusterID == "" {
		return bad("cluster id is empty")
	}
	if c.Dir == "" && !c.InMemory {
		return bad("dir is empty")
	}
	if len(c.Voters) == 0 {
		return bad("no voters")
	}
	self := false
	for i, v := range c.Voters {
		if v.ID < 0 {
			return bad("voter id %d is negative", v.ID)
		}
		if v.Addr == "" {
			return bad("voter %d has no address", v.ID)
		}
		for _, w := range c.Voters[:i] {
			if w.ID == v.ID {
				return bad("voter %d is listed twice", v.ID)
			}
			if w.Addr == v.Addr {
				return bad("voters %d and %d share the address %s", w.ID, v.ID, v.Addr)
			}
		}
		self = self || v.ID == c.NodeID
	}
	switch {
	case c.Voter && !self:
		return bad("node %d is a voter but not in the voters %v", c.NodeID, c.Voters)
	case !c.Voter && self:
		return bad("node %d is in the voters %v but is not a voter (process.roles lacks controller?)", c.NodeID, c.Voters)
	}
	if c.Transport == nil && c.Listener == nil {
		return bad("neither a transport nor a listener")
	}
	for _, d := range []time.Duration{c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout, c.CommitTimeout} {
		if d < 0 {
			return bad("negative timeout %v", d)
		}
	}
	return nil
}

// Default timeouts. A lone voter has no one to disagree with, so it can call its election after
// one short heartbeat timeout and lead within 50–100 ms. Several voters use Kafka's
// controller.quorum.election.timeout.ms (1 s) and hashicorp/raft's own defaults, which survive
// GC pauses and loaded machines. The commit timeout is how long followers wait to learn a new
// commit index when nothing else is sent, i.e. how stale a follower's State is after a commit.
var (
	// A lone voter has no peer to hear from, so its timeouts only delay its first election:
	// keep them near raft's 5 ms floor, so that a one-node cluster leads within ~10-20 ms.
	singleVoterTimeouts = timeouts{
		heartbeat: 10 * time.Millisecond, election: 10 * time.Millisecond,
		lease: 10 * time.Millisecond, commit: 5 * time.Millisecond,
	}
	quorumTimeouts = timeouts{
		heartbeat: time.Second, election: time.Second,
		lease: 500 * time.Millisecond, commit: 10 * time.Millisecond,
	}
)

type timeouts struct{ heartbeat, election, lease, commit time.Duration }

// timeouts fills in the zero timeouts. A timeout that is set drives the ones left zero (set only
// HeartbeatTimeout to 20ms and the election and lease timeouts follow), so that partial settings
// still satisfy raft's lease <= heartbeat <= election.
func (c *Config) timeouts() timeouts {
	d := quorumTimeouts
	if len(c.Voters) == 1 {
		d = singleVoterTimeouts
	}
	t := timeouts{
		heartbeat: firstNonZero(c.HeartbeatTimeout, c.ElectionTimeout, d.heartbeat),
		commit:    firstNonZero(c.CommitTimeout, d.commit),
	}
	switch {
	case c.ElectionTimeout != 0:
		t.election = c.ElectionTimeout
	case c.HeartbeatTimeout != 0:
		t.election = t.heartbeat
	default:
		t.election = d.election
	}
	t.lease = firstNonZero(c.LeaderLeaseTimeout, min(t.heartbeat, d.lease))
	return t
}

func firstNonZero(ds ...time.Duration) time.Duration {
	for _, d := range ds {
		if d != 0 {
			return d
		}
	}
	return 0
}
