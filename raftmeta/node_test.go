package raftmeta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// Timeouts for the multi-node tests: short enough to elect in well under a second, long enough
// that a -race run on a loaded two-core machine does not flap (leader heartbeats every 5 ms).
const (
	testHeartbeat = 50 * time.Millisecond
	testCommit    = 5 * time.Millisecond
	testWait      = 20 * time.Second // generous upper bound for anything polled
)

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func mustPropose(t testing.TB, n *Node, cmd Command) any {
	t.Helper()
	res, err := n.Propose(ctxFor(t, testWait), cmd)
	if err != nil {
		t.Fatalf("propose %T: %v", cmd, err)
	}
	return res
}

// tcpNodeConfig is a voter on a loopback controller listener with bolt stores in dir.
func tcpNodeConfig(m *Mux, id int32, dir string, voters []Voter) Config {
	return Config{
		NodeID:    id,
		ClusterID: "c1",
		Dir:       dir,
		Voters:    voters,
		Voter:     true,
		Listener:  m.Listener(TagRaft),
	}
}

func startNode(t testing.TB, cfg Config) *Node {
	t.Helper()
	n, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func TestSingleNodeBoltTCP(t *testing.T) {
	m, addr := newTestMux(t)
	dir := t.TempDir()
	cfg := tcpNodeConfig(m, 1, dir, []Voter{{ID: 1, Addr: addr}})

	start := time.Now()
	n := startNode(t, cfg)
	waitFor(t, testWait, "leadership", n.IsLeader)
	toLeader := time.Since(start)
	if err := n.WaitForLeader(ctxFor(t, testWait)); err != nil {
		t.Fatal(err)
	}
	t.Logf("single node (bolt, TCP): Start→leader %v, Start→WaitForLeader (cluster id committed) %v", toLeader, time.Since(start))
	if _, err := os.Stat(filepath.Join(dir, "raft.db")); err != nil {
		t.Fatal(err)
	}
	if id, a, ok := n.Leader(); !ok || id != 1 || a != addr {
		t.Fatalf("Leader() = %d %q %v, want 1 %q", id, a, ok, addr)
	}
	if got := n.State().ClusterID; got != "c1" {
		t.Fatalf("ClusterID = %q", got)
	}

	changed := n.Changed()
	if res := mustPropose(t, n, CreateTopic{Name: "t", ID: id16(1), Partitions: []Partition{part(0, 1)}}); res != nil {
		t.Fatalf("CreateTopic result = %v", res)
	}
	// Applied locally before Propose returns.
	if n.State().Topic("t") == nil {
		t.Fatal("topic not in State after Propose")
	}
	select {
	case <-changed:
	default:
		t.Fatal("Changed not signalled")
	}
	if _, err := n.Propose(ctxFor(t, testWait), CreateTopic{Name: "t", ID: id16(2), Partitions: []Partition{part(0, 1)}}); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("duplicate create: %v", err)
	}
	if res := mustPropose(t, n, AllocateProducerIDs{Count: 1000}); res != int64(0) {
		t.Fatalf("AllocateProducerIDs = %#v", res)
	}

	const proposals = 50
	start = time.Now()
	for i := range proposals {
		mustPropose(t, n, RegisterBroker{Broker: Broker{ID: int32(i)}})
	}
	t.Logf("single node (bolt, TCP): %v per sequential Propose", time.Since(start)/proposals)

	want := snapshotBytes(t, n.State())
	lastIndex := n.State().Index
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := n.Propose(context.Background(), DeleteTopic{Name: "t"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Propose after Close: %v", err)
	}
	if err := n.WaitForLeader(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitForLeader after Close: %v", err)
	}

	// Restart on the same directory (and the same Mux): the log is replayed once the node leads
	// again, and the state is back exactly.
	cfg.Listener = m.Listener(TagRaft)
	start = time.Now()
	n = startNode(t, cfg)
	if err := n.WaitForLeader(ctxFor(t, testWait)); err != nil {
		t.Fatal(err)
	}
	if err := n.WaitForIndex(ctxFor(t, testWait), lastIndex); err != nil {
		t.Fatal(err)
	}
	t.Logf("single node (bolt, TCP): restart→state replayed %v", time.Since(start))
	if got := snapshotBytes(t, n.State()); !bytes.Equal(got, want) {
		t.Fatalf("state after restart:\n got %s\nwant %s", got, want)
	}
	if res := mustPropose(t, n, AllocateProducerIDs{Count: 1000}); res != int64(1000) {
		t.Fatalf("AllocateProducerIDs after restart = %#v", res)
	}

	// Once more through a snapshot: Restore at start, then the entries after it.
	if err := n.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	mustPropose(t, n, DeleteTopic{Name: "t"})
	want, lastIndex = snapshotBytes(t, n.State()), n.State().Index
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.Listener = m.Listener(TagRaft)
	n = startNode(t, cfg)
	if n.State().NextProducerID != 2000 {
		t.Fatalf("state not restored from the snapshot at start: %+v", n.State())
	}
	if err := n.WaitForIndex(ctxFor(t, testWait), lastIndex); err != nil {
		t.Fatal(err)
	}
	if got := snapshotBytes(t, n.State()); !bytes.Equal(got, want) {
		t.Fatalf("state after snapshot restart:\n got %s\nwant %s", got, want)
	}
}

func TestClusterIDMismatch(t *testing.T) {
	m, addr := newTestMux(t)
	cfg := tcpNodeConfig(m, 1, t.TempDir(), []Voter{{ID: 1, Addr: addr}})
	n := startNode(t, cfg)
	if err := n.WaitForLeader(ctxFor(t, testWait)); err != nil {
		t.Fatal(err)
	}
	n.Close()

	cfg.ClusterID = "other"
	cfg.Listener = m.Listener(TagRaft)
	n = startNode(t, cfg)
	if err := n.WaitForLeader(ctxFor(t, testWait)); !errors.Is(err, ErrClusterIDMismatch) {
		t.Fatalf("WaitForLeader = %v, want ErrClusterIDMismatch", err)
	}
	if _, err := n.Propose(ctxFor(t, testWait), AllocateProducerIDs{Count: 1}); !errors.Is(err, ErrClusterIDMismatch) {
		t.Fatalf("Propose = %v, want ErrClusterIDMismatch", err)
	}
	if got := n.State().ClusterID; got != "c1" {
		t.Fatalf("ClusterID = %q, want the log's c1", got)
	}
}

func TestBoltLockedByAnotherNode(t *testing.T) {
	m, addr := newTestMux(t)
	cfg := tcpNodeConfig(m, 1, t.TempDir(), []Voter{{ID: 1, Addr: addr}})
	startNode(t, cfg)
	cfg.Listener = m.Listener(TagControl) // any listener: Start must fail before using it
	n, err := Start(cfg)
	if err == nil {
		n.Close()
		t.Fatal("a second node on the same dir started")
	}
	if !strings.Contains(err.Error(), "another process") {
		t.Fatalf("error does not say why: %v", err)
	}
}

func TestProposeContext(t *testing.T) {
	_, tr := raft.NewInmemTransport("solo")
	start := time.Now()
	n := startNode(t, Config{NodeID: 0, ClusterID: "c1", Voters: []Voter{{ID: 0, Addr: "solo"}}, Voter: true, Transport: tr, InMemory: true})
	waitFor(t, testWait, "leadership", n.IsLeader)
	t.Logf("single node (in-memory): Start→leader %v", time.Since(start))
	if err := n.WaitForLeader(ctxFor(t, testWait)); err != nil {
		t.Fatal(err)
	}

	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_, err := n.Propose(expired, AllocateProducerIDs{Count: 1})
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Propose with an expired deadline = %v", err)
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := n.Propose(canceled, AllocateProducerIDs{Count: 1}); !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("Propose with a canceled context = %v", err)
	}
	if err := n.WaitForIndex(expired, 1<<40); !errors.Is(err, ErrTimeout) {
		t.Fatalf("WaitForIndex past the deadline = %v", err)
	}
	if _, err := n.Propose(context.Background(), nil); !errors.Is(err, ErrInvalidCommand) {
		t.Fatalf("Propose(nil) = %v", err)
	}
	if _, err := n.Propose(context.Background(), DeleteTopic{Name: "x"}); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("rejected command = %v", err)
	}
}

// inmemCluster starts size voters on connected in-memory transports.
func inmemCluster(t *testing.T, size int, heartbeat time.Duration) ([]*Node, []*raft.InmemTransport) {
	t.Helper()
	var voters []Voter
	var trans []*raft.InmemTransport
	for i := range size {
		addr, tr := raft.NewInmemTransport(raft.ServerAddress(fmt.Sprintf("node%d", i)))
		voters = append(voters, Voter{ID: int32(i), Addr: string(addr)})
		trans = append(trans, tr)
	}
	connectAll(trans)
	nodes := make([]*Node, size)
	for i := range size {
		nodes[i] = startNode(t, Config{
			NodeID: int32(i), ClusterID: "c1", Voters: voters, Voter: true,
			Transport: trans[i], InMemory: true,
			HeartbeatTimeout: heartbeat, CommitTimeout: testCommit,
		})
	}
	return nodes, trans
}

func connectAll(trans []*raft.InmemTransport) {
	for _, a := range trans {
		for _, b := range trans {
			if a != b {
				a.Connect(b.LocalAddr(), b)
			}
		}
	}
}

// leaderAmong waits until exactly one of nodes is leader and returns it.
func leaderAmong(t *testing.T, nodes []*Node) *Node {
	t.Helper()
	var leader *Node
	waitFor(t, testWait, "a single leader", func() bool {
		leader = nil
		for _, n := range nodes {
			if n.IsLeader() {
				if leader != nil {
					return false
				}
				leader = n
			}
		}
		return leader != nil
	})
	return leader
}

// proposeOnLeader proposes on whichever of nodes leads, retrying while leadership moves (a loaded
// machine may trigger an election at any time). After an attempt that lost leadership in flight
// (which may still have been committed), a retry the FSM rejects — ErrTopicExists for a create —
// means that earlier attempt took effect: the result is then nil.
func proposeOnLeader(t *testing.T, nodes []*Node, cmd Command) (*Node, any) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	maybeApplied := false
	for {
		leader := leaderAmong(t, nodes)
		res, err := leader.Propose(ctxFor(t, testWait), cmd)
		switch {
		case err == nil:
			return leader, res
		case errors.Is(err, ErrLeadershipLost):
			maybeApplied = true
		case maybeApplied && !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrTimeout) && !errors.Is(err, ErrClosed):
			t.Logf("propose %T: %v after an attempt that lost leadership in flight: that one was applied", cmd, err)
			return leader, nil
		}
		if !errors.Is(err, ErrNotLeader) || time.Now().After(deadline) {
			t.Fatalf("propose %T: %v", cmd, err)
		}
	}
}

func waitAllAt(t *testing.T, nodes []*Node, idx uint64) {
	t.Helper()
	for _, n := range nodes {
		if err := n.WaitForIndex(ctxFor(t, testWait), idx); err != nil {
			t.Fatalf("node %d: %v", n.cfg.NodeID, err)
		}
	}
}

func TestThreeNodesInmem(t *testing.T) {
	start := time.Now()
	nodes, trans := inmemCluster(t, 3, testHeartbeat)
	leaderAmong(t, nodes)
	toLeader := time.Since(start)
	for _, n := range nodes {
		if err := n.WaitForLeader(ctxFor(t, testWait)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("3 nodes (in-memory, heartbeat %v): Start→leader %v, all WaitForLeader %v", testHeartbeat, toLeader, time.Since(start))

	leader, _ := proposeOnLeader(t, nodes, CreateTopic{Name: "t", ID: id16(1), Partitions: []Partition{part(0, 0, 1, 2)}})
	if leader.State().Topic("t") == nil {
		t.Fatal("not applied on the leader when Propose returned")
	}
	start = time.Now()
	waitAllAt(t, nodes, leader.State().Index)
	t.Logf("3 nodes (in-memory): followers applied the entry %v after Propose returned", time.Since(start))
	for _, n := range nodes {
		if n.State().Topic("t") == nil {
			t.Fatalf("node %d does not see the topic", n.cfg.NodeID)
		}
		waitFor(t, testWait, "a known leader", func() bool {
			id, addr, ok := n.Leader()
			return ok && addr == fmt.Sprintf("node%d", id)
		})
		if n != leader && !n.IsLeader() {
			if _, err := n.Propose(ctxFor(t, testWait), DeleteTopic{Name: "t"}); !errors.Is(err, ErrNotLeader) {
				t.Fatalf("Propose on follower %d = %v, want ErrNotLeader", n.cfg.NodeID, err)
			}
		}
	}

	// Cut the leader off: the other two elect a new leader, which commits.
	old := leader.cfg.NodeID
	trans[old].DisconnectAll()
	for i, tr := range trans {
		if int32(i) != old {
			tr.Disconnect(trans[old].LocalAddr())
		}
	}
	var rest []*Node
	for _, n := range nodes {
		if n != leader {
			rest = append(rest, n)
		}
	}
	start = time.Now()
	newLeader := leaderAmong(t, rest)
	t.Logf("3 nodes (in-memory): leader %d cut off → node %d leads after %v", old, newLeader.cfg.NodeID, time.Since(start))
	newLeader, _ = proposeOnLeader(t, rest, CreateTopic{Name: "t2", ID: id16(2), Partitions: []Partition{part(0, 0, 1, 2)}})
	idx := newLeader.State().Index
	waitAllAt(t, rest, idx)
	waitFor(t, testWait, "the cut-off leader to step down", func() bool { return !leader.IsLeader() })
	if _, err := leader.Propose(ctxFor(t, testWait), DeleteTopic{Name: "t"}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Propose on the deposed leader = %v", err)
	}

	// Heal: the old leader catches up and every node holds the same metadata.
	connectAll(trans)
	waitAllAt(t, nodes, idx)
	waitFor(t, testWait, "identical states", func() bool {
		want := snapshotBytes(t, nodes[0].State())
		for _, n := range nodes[1:] {
			if !bytes.Equal(snapshotBytes(t, n.State()), want) {
				return false
			}
		}
		return true
	})
	if leader.State().Topic("t2") == nil {
		t.Fatal("healed node misses t2")
	}
}

// TestResign: the leader hands over to another voter, which commits at once; on a follower
// Resign does nothing.
func TestResign(t *testing.T) {
	nodes, _ := inmemCluster(t, 3, testHeartbeat)
	leader := leaderAmong(t, nodes)
	for _, n := range nodes {
		if n != leader {
			if err := n.Resign(); err != nil || !leader.IsLeader() {
				t.Fatalf("Resign on follower %d: %v; leader still leads: %v", n.cfg.NodeID, err, leader.IsLeader())
			}
		}
	}
	start := time.Now()
	if err := leader.Resign(); err != nil {
		t.Fatal(err)
	}
	if leader.IsLeader() {
		t.Fatal("still the leader after Resign")
	}
	var rest []*Node
	for _, n := range nodes {
		if n != leader {
			rest = append(rest, n)
		}
	}
	next := leaderAmong(t, rest)
	t.Logf("leader %d resigned; node %d leads after %v", leader.cfg.NodeID, next.cfg.NodeID, time.Since(start))
	proposeOnLeader(t, nodes, AllocateProducerIDs{Count: 1})
}

func TestThreeNodesBoltTCP(t *testing.T) {
	var muxes []*Mux
	var voters []Voter
	for i := range 3 {
		m, addr := newTestMux(t)
		muxes = append(muxes, m)
		voters = append(voters, Voter{ID: int32(i), Addr: addr})
	}
	start := time.Now()
	var nodes []*Node
	for i, m := range muxes {
		cfg := tcpNodeConfig(m, int32(i), t.TempDir(), voters)
		cfg.HeartbeatTimeout, cfg.CommitTimeout = testHeartbeat, testCommit
		nodes = append(nodes, startNode(t, cfg))
	}
	for _, n := range nodes {
		if err := n.WaitForLeader(ctxFor(t, testWait)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("3 nodes (bolt, TCP, heartbeat %v): Start→all WaitForLeader %v", testHeartbeat, time.Since(start))
	leader, _ := proposeOnLeader(t, nodes, CreateTopic{Name: "t", ID: id16(1), Partitions: []Partition{part(0, 0, 1, 2)}})
	waitAllAt(t, nodes, leader.State().Index)
	// Followers learn the leader's advertised voter address, not its bound one.
	for _, n := range nodes {
		waitFor(t, testWait, "a known leader", func() bool {
			id, addr, ok := n.Leader()
			return ok && addr == voters[id].Addr
		})
	}
}

// A voter with CampaignOnStart stands for election as soon as it starts: with a 5 s heartbeat
// timeout, a cluster that waited for one would have no leader for at least 5 s.
func TestCampaignOnStart(t *testing.T) {
	const heartbeat = 5 * time.Second
	var voters []Voter
	var trans []*raft.InmemTransport
	for i := range 3 {
		addr, tr := raft.NewInmemTransport(raft.ServerAddress(fmt.Sprintf("node%d", i)))
		voters = append(voters, Voter{ID: int32(i), Addr: string(addr)})
		trans = append(trans, tr)
	}
	connectAll(trans)
	start := time.Now()
	nodes := make([]*Node, 3)
	for i := range nodes {
		nodes[i] = startNode(t, Config{
			NodeID: int32(i), ClusterID: "c1", Voters: voters, Voter: true,
			Transport: trans[i], InMemory: true,
			HeartbeatTimeout: heartbeat, CommitTimeout: testCommit,
			CampaignOnStart: i == 0,
		})
	}
	leader := leaderAmong(t, nodes)
	if took := time.Since(start); took >= heartbeat {
		t.Fatalf("a leader after %v, not before the %v heartbeat timeout", took, heartbeat)
	} else {
		t.Logf("Start→leader %v", took)
	}
	if leader != nodes[0] {
		t.Errorf("node %d leads; want node 0, the one that campaigned", leader.cfg.NodeID)
	}
	// The timeouts are the configured ones again (the start added campaignSlack).
	if got := nodes[0].raft.ReloadableConfig().HeartbeatTimeout; got != heartbeat {
		t.Errorf("heartbeat timeout %v after the campaign, want %v", got, heartbeat)
	}
	proposeOnLeader(t, nodes, AllocateProducerIDs{Count: 1})
}

func TestThreeNodesDefaultTimeouts(t *testing.T) {
	if testing.Short() {
		t.Skip("the default election timeout is a second")
	}
	start := time.Now()
	nodes, _ := inmemCluster(t, 3, 0)
	leaderAmong(t, nodes)
	t.Logf("3 nodes (in-memory, default timeouts): Start→leader %v", time.Since(start))
	proposeOnLeader(t, nodes, AllocateProducerIDs{Count: 1})
}

func TestConfigValidate(t *testing.T) {
	_, tr := raft.NewInmemTransport("")
	good := func() Config {
		return Config{NodeID: 1, ClusterID: "c", Dir: "d", Voters: []Voter{{1, "a:1"}, {2, "b:1"}}, Voter: true, Transport: tr}
	}
	if err := (&Config{}).Validate(); err == nil {
		t.Fatal("zero config is valid")
	}
	c := good()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Config){
		"negative id":       func(c *Config) { c.NodeID = -1 },
		"no cluster id":     func(c *Config) { c.ClusterID = "" },
		"no dir":            func(c *Config) { c.Dir = "" },
		"no voters":         func(c *Config) { c.Voters = nil },
		"duplicate id":      func(c *Config) { c.Voters[1].ID = 1 },
		"duplicate addr":    func(c *Config) { c.Voters[1].Addr = "a:1" },
		"empty addr":        func(c *Config) { c.Voters[1].Addr = "" },
		"voter not listed":  func(c *Config) { c.NodeID = 3 },
		"listed non-voter":  func(c *Config) { c.Voter = false },
		"no transport":      func(c *Config) { c.Transport = nil },
		"negative timeout":  func(c *Config) { c.CommitTimeout = -1 },
		"negative voter id": func(c *Config) { c.Voters[1].ID = -2 },
	} {
		c := good()
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: valid", name)
		}
	}
	c = good()
	c.Dir, c.InMemory = "", true
	c.NodeID, c.Voter = 3, false // a broker-only node
	if err := c.Validate(); err != nil {
		t.Fatalf("in-memory non-voter: %v", err)
	}
	if _, err := Start(Config{}); err == nil {
		t.Fatal("Start with a zero config succeeded")
	}
}

func TestTimeoutDefaults(t *testing.T) {
	one := []Voter{{1, "a"}}
	three := []Voter{{1, "a"}, {2, "b"}, {3, "c"}}
	for _, tc := range []struct {
		name string
		cfg  Config
		want timeouts
	}{
		{"single voter", Config{Voters: one}, singleVoterTimeouts},
		{"quorum", Config{Voters: three}, quorumTimeouts},
		{"heartbeat only", Config{Voters: three, HeartbeatTimeout: 20 * time.Millisecond},
			timeouts{20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond, quorumTimeouts.commit}},
		{"election only", Config{Voters: three, ElectionTimeout: 200 * time.Millisecond},
			timeouts{200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond, quorumTimeouts.commit}},
		{"all set", Config{Voters: one, HeartbeatTimeout: 1, ElectionTimeout: 2, LeaderLeaseTimeout: 3, CommitTimeout: 4},
			timeouts{1, 2, 3, 4}},
	} {
		if got := tc.cfg.timeouts(); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
	// Partial settings must make a config raft accepts.
	_, tr := raft.NewInmemTransport("x")
	n, err := Start(Config{NodeID: 0, ClusterID: "c", Voters: []Voter{{0, "x"}, {1, "y"}}, Voter: true,
		Transport: tr, InMemory: true, HeartbeatTimeout: 30 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
}

func BenchmarkProposeBolt(b *testing.B) {
	m, addr := newTestMux(b)
	n := startNode(b, tcpNodeConfig(m, 1, b.TempDir(), []Voter{{ID: 1, Addr: addr}}))
	if err := n.WaitForLeader(ctxFor(b, testWait)); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := n.Propose(ctx, AllocateProducerIDs{Count: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// Spread has the followers apply a committed entry at once, not after the commit timeout: with a
// commit timeout of 20 s, they apply it within a tenth of it (without Spread: seconds). With
// SpreadCommits Propose spreads by itself; without, the caller does. A Spread with nothing newer
// to tell appends nothing, and a follower's does nothing.
func TestSpread(t *testing.T) {
	for _, byPropose := range []bool{true, false} {
		t.Run(fmt.Sprintf("SpreadCommits=%v", byPropose), func(t *testing.T) { testSpread(t, byPropose) })
	}
}

func testSpread(t *testing.T, byPropose bool) {
	const commit = 20 * time.Second
	var voters []Voter
	var trans []*raft.InmemTransport
	for i := range 3 {
		addr, tr := raft.NewInmemTransport(raft.ServerAddress(fmt.Sprintf("node%d", i)))
		voters = append(voters, Voter{ID: int32(i), Addr: string(addr)})
		trans = append(trans, tr)
	}
	connectAll(trans)
	nodes := make([]*Node, 3)
	for i := range 3 {
		nodes[i] = startNode(t, Config{
			NodeID: int32(i), ClusterID: "c1", Voters: voters, Voter: true,
			Transport: trans[i], InMemory: true,
			HeartbeatTimeout: testHeartbeat, CommitTimeout: commit, SpreadCommits: byPropose,
		})
	}
	start := time.Now()
	leader, _ := proposeOnLeader(t, nodes, CreateTopic{Name: "t", ID: id16(1), Partitions: []Partition{part(0, 0, 1, 2)}})
	idx := leader.State().Index
	if !byPropose {
		leader.Spread()
	}
	waitFor(t, commit/10, "the followers applying the entry", func() bool {
		for _, n := range nodes {
			if n.State().Index < idx {
				return false
			}
		}
		return true
	})
	t.Logf("followers applied the entry %v after it was proposed (commit timeout %v)", time.Since(start), commit)

	// idx was spread already: Spread appends no second barrier for it, so the barrier awaited
	// here is the only entry after the first one's.
	before := leader.raft.LastIndex()
	leader.Spread()
	for _, n := range nodes {
		if n != leader {
			n.Spread()
		}
	}
	if err := leader.raft.Barrier(testWait).Error(); err != nil {
		t.Fatal(err)
	}
	if got := leader.raft.LastIndex(); got != before+1 {
		t.Errorf("the log grew from %d to %d: Spread appended a barrier with nothing new to tell", before, got)
	}
}
