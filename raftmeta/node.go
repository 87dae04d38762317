package raftmeta

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

const (
	// retainSnapshots is how many snapshots the file snapshot store keeps.
	retainSnapshots = 2
	// boltOpenTimeout bounds the wait for raft.db's file lock: a second process on the same data
	// directory fails to start with an error instead of hanging.
	boltOpenTimeout = 2 * time.Second
)

// Node is one member of the metadata quorum: Raft with the FSM, its stores and its transport.
type Node struct {
	cfg      Config
	log      *slog.Logger
	fsm      *FSM
	raft     *raft.Raft
	bolt     *raftboltdb.BoltStore // nil when InMemory
	gate     *gatedTransport       // the network transport; nil with Config.Transport
	observer *raft.Observer
	obsCh    chan raft.Observation
	stream   *streamLayer // nil with Config.Transport
	// spreadAt is the State index the last Spread's barrier was sent after: a later Spread
	// for no newer index has nothing to tell the followers.
	spreadAt atomic.Uint64

	// events fires on leadership changes (any node's, and this node's readiness as leader).
	events broadcast
	mu     sync.Mutex
	term   uint64 // counts this node's leaderships, so a stale leadership goroutine is ignored
	ready  bool   // leader, and its State has caught up with the log and has the cluster id

	closing   chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Start opens the stores in cfg.Dir (or memory), bootstraps the voters' configuration on a
// voter's first start, and starts Raft. It does not wait for a leader: see WaitForLeader.
func Start(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{
		cfg:     cfg,
		log:     cfg.Logger,
		fsm:     NewFSM(),
		obsCh:   make(chan raft.Observation, 16),
		closing: make(chan struct{}),
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	hl := newHCLogger(cfg.Logger)

	to := cfg.timeouts()
	rc := raft.DefaultConfig()
	rc.LocalID = serverID(cfg.NodeID)
	rc.HeartbeatTimeout = to.heartbeat
	rc.ElectionTimeout = to.election
	if cfg.CampaignOnStart && cfg.Voter {
		// Start a hair above the heartbeat timeout and lower it at once (campaignNow).
		rc.HeartbeatTimeout += campaignSlack
		rc.ElectionTimeout = max(rc.ElectionTimeout, rc.HeartbeatTimeout)
	}
	rc.LeaderLeaseTimeout = to.lease
	rc.CommitTimeout = to.commit
	rc.Logger = hl.Named("raft")
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("raftmeta: config: %w", err)
	}

	logs, stable, snaps, err := n.openStores(hl)
	if err != nil {
		return nil, err
	}
	trans := cfg.Transport
	if trans == nil {
		var nt *raft.NetworkTransport
		nt, n.stream = newNetworkTransport(&cfg, hl.Named("raft-net"))
		n.gate = &gatedTransport{NetworkTransport: nt}
		trans = n.gate
	}
	fail := func(err error) (*Node, error) {
		if n.gate != nil {
			n.gate.Close()
		}
		if n.bolt != nil {
			n.bolt.Close()
		}
		return nil, err
	}
	if err := n.bootstrap(rc, logs, stable, snaps, trans); err != nil {
		return fail(err)
	}
	r, err := raft.NewRaft(rc, n.fsm, logs, stable, snaps, trans)
	if err != nil {
		return fail(fmt.Errorf("raftmeta: starting raft: %w", err))
	}
	n.raft = r
	n.observer = raft.NewObserver(n.obsCh, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r.RegisterObserver(n.observer)
	if cfg.CampaignOnStart && cfg.Voter {
		if err := campaignNow(r, to); err != nil {
			n.log.Warn("cannot stand for election at once; waiting a heartbeat timeout", "err", err)
		}
	}
	n.wg.Add(1)
	go n.run()
	n.log.Info("metadata node started", "node", cfg.NodeID, "voter", cfg.Voter, "voters", cfg.Voters,
		"heartbeat", to.heartbeat, "election", to.election)
	return n, nil
}

// campaignSlack is how much above its heartbeat timeout a CampaignOnStart voter starts.
const campaignSlack = time.Millisecond

// campaignNow makes a voter that has just started stand for election now (Config.
// CampaignOnStart). hashicorp/raft has no call for it, but lowering the heartbeat timeout with
// ReloadConfig makes a follower check its leader's last contact at once; a voter that has
// heard from no leader since it started then becomes a candidate (after a pre-vote, so a
// quorum that has a leader is not disrupted). The voter started with its heartbeat and
// election timeouts campaignSlack above the configured ones; this sets them back.
func campaignNow(r *raft.Raft, to timeouts) error {
	rl := r.ReloadableConfig()
	rl.HeartbeatTimeout = to.heartbeat
	rl.ElectionTimeout = to.election
	return r.ReloadConfig(rl)
}

func serverID(id int32) raft.ServerID { return raft.ServerID(strconv.Itoa(int(id))) }

func (n *Node) openStores(hl hclog.Logger) (raft.LogStore, raft.StableStore, raft.SnapshotStore, error) {
	if n.cfg.InMemory {
		s := raft.NewInmemStore()
		return s, s, raft.NewInmemSnapshotStore(), nil
	}
	if err := os.MkdirAll(n.cfg.Dir, 0o755); err != nil {
		return nil, nil, nil, fmt.Errorf("raftmeta: %w", err)
	}
	path := filepath.Join(n.cfg.Dir, "raft.db")
	opts := *bbolt.DefaultOptions
	opts.Timeout = boltOpenTimeout
	opts.NoSync = n.cfg.NoSync
	bs, err := raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: &opts, NoSync: n.cfg.NoSync})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			err = fmt.Errorf("%w (is another process using %s?)", err, n.cfg.Dir)
		}
		return nil, nil, nil, fmt.Errorf("raftmeta: opening %s: %w", path, err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(n.cfg.Dir, retainSnapshots, hl.Named("snapshots"))
	if err != nil {
		bs.Close()
		return nil, nil, nil, fmt.Errorf("raftmeta: snapshot store: %w", err)
	}
	n.bolt = bs
	return bs, bs, snaps, nil
}

// bootstrap writes the voters' configuration as the first log entry of a voter that has no
// Raft state yet. Every voter writes the same entry, so their logs agree from index 1 and the
// first election can proceed; a restart finds the state and skips this. A non-voter starts
// empty and learns everything from the leader.
func (n *Node) bootstrap(rc *raft.Config, logs raft.LogStore, stable raft.StableStore, snaps raft.SnapshotStore, trans raft.Transport) error {
	if !n.cfg.Voter {
		return nil
	}
	has, err := raft.HasExistingState(logs, stable, snaps)
	if err != nil {
		return fmt.Errorf("raftmeta: reading raft state: %w", err)
	}
	if has {
		return nil
	}
	var conf raft.Configuration
	for _, v := range n.cfg.Voters {
		conf.Servers = append(conf.Servers, raft.Server{
			Suffrage: raft.Voter,
			ID:       serverID(v.ID),
			Address:  raft.ServerAddress(v.Addr),
		})
	}
	if err := raft.BootstrapCluster(rc, logs, stable, snaps, trans, conf); err != nil {
		return fmt.Errorf("raftmeta: bootstrap: %w", err)
	}
	n.log.Info("bootstrapped a new metadata log", "voters", n.cfg.Voters)
	return nil
}

// run follows leadership: it wakes WaitForLeader on any leader change and, when this node
// becomes leader, starts the new term's duties.
func (n *Node) run() {
	defer n.wg.Done()
	leaderCh := n.raft.LeaderCh()
	for {
		select {
		case <-n.closing:
			return
		case <-n.obsCh:
			n.events.notify()
		case isLeader := <-leaderCh:
			n.mu.Lock()
			n.term++
			term := n.term
			n.ready = false
			n.mu.Unlock()
			n.events.notify()
			if isLeader {
				n.wg.Add(1)
				go n.lead(term)
			}
		}
	}
}

// lead runs when this node becomes leader. The barrier makes the FSM catch up with every entry
// of earlier terms (after a restart they are applied only now), so the leader decides on the
// real State; then a fresh log gets its cluster id. Only then is the leader "ready" for
// WaitForLeader.
func (n *Node) lead(term uint64) {
	defer n.wg.Done()
	if err := n.await(context.Background(), n.raft.Barrier(0)); err != nil {
		n.log.Debug("leadership ended before the barrier", "err", err)
		return
	}
	switch id := n.fsm.State().ClusterID; {
	case id == "":
		data, err := EncodeCommand(InitCluster{ClusterID: n.cfg.ClusterID})
		if err != nil {
			panic(err) // a string field always encodes
		}
		f := n.raft.Apply(data, 0)
		if err := n.await(context.Background(), f); err != nil {
			n.log.Debug("leadership ended before the cluster id was committed", "err", err)
			return
		}
		n.Spread() // the followers serve nothing before they have the cluster id
		if err, ok := f.Response().(error); ok {
			n.log.Error("initializing the cluster id failed", "err", err)
		} else {
			n.log.Info("initialized the metadata log", "cluster_id", n.cfg.ClusterID)
		}
	case id != n.cfg.ClusterID:
		n.log.Error("this node's cluster id differs from the metadata log's; refusing proposals",
			"config", n.cfg.ClusterID, "log", id)
	}
	n.mu.Lock()
	if n.term == term {
		n.ready = true
	}
	n.mu.Unlock()
	n.events.notify()
}

// State returns the latest published State (never nil; the empty State before the first apply).
func (n *Node) State() *State { return n.fsm.State() }

// Changed returns a channel closed when a newer State is published; get a fresh one after.
func (n *Node) Changed() <-chan struct{} { return n.fsm.Changed() }

// IsLeader reports whether this node is the Raft leader now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the current leader's node id and Raft address, as this node knows them.
func (n *Node) Leader() (id int32, addr string, ok bool) {
	a, sid := n.raft.LeaderWithID()
	if sid == "" {
		return -1, "", false
	}
	v, err := strconv.ParseInt(string(sid), 10, 32)
	if err != nil {
		return -1, string(a), false
	}
	return int32(v), string(a), true
}

// WaitForLeader waits until the quorum has a leader and this node's State carries the cluster
// id, i.e. until the metadata is usable from here. On the leader it also waits until the State
// reflects every entry committed before its term. A metadata log of another cluster is
// ErrClusterIDMismatch; a context that ends first is ErrTimeout (or its cancellation).
func (n *Node) WaitForLeader(ctx context.Context) error {
	for {
		events, changed := n.events.wait(), n.fsm.Changed()
		s := n.fsm.State()
		if err := n.checkClusterID(s); err != nil {
			return err
		}
		if n.IsLeader() {
			n.mu.Lock()
			ready := n.ready
			n.mu.Unlock()
			if ready {
				return nil
			}
		} else if _, _, ok := n.Leader(); ok && s.ClusterID != "" {
			return nil
		}
		select {
		case <-events:
		case <-changed:
		case <-n.closing:
			return ErrClosed
		case <-ctx.Done():
			return ctxErr(ctx, "waiting for a leader")
		}
	}
}

func (n *Node) checkClusterID(s *State) error {
	if s.ClusterID != "" && s.ClusterID != n.cfg.ClusterID {
		return fmt.Errorf("%w: this node is configured for cluster %q, its metadata log belongs to %q",
			ErrClusterIDMismatch, n.cfg.ClusterID, s.ClusterID)
	}
	return nil
}

// Propose applies cmd through Raft and returns the FSM's result once the entry is committed and
// applied on this node, so State() already shows it. A rejected command returns the FSM's error
// (wrapping ErrTopicExists and the like). On a follower it is ErrNotLeader: the caller forwards
// the command to the leader. If ctx ends first, the result is ErrTimeout, but the command may
// still be applied.
func (n *Node) Propose(ctx context.Context, cmd Command) (result any, err error) {
	select {
	case <-n.closing:
		return nil, ErrClosed
	default:
	}
	data, err := EncodeCommand(cmd)
	if err != nil {
		return nil, err
	}
	if !n.IsLeader() {
		return nil, ErrNotLeader
	}
	if err := n.checkClusterID(n.fsm.State()); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, ctxErr(ctx, "proposing") // not even enqueued: certainly not applied
	}
	var timeout time.Duration
	if dl, ok := ctx.Deadline(); ok {
		if timeout = time.Until(dl); timeout <= 0 {
			return nil, ctxErr(ctx, "proposing")
		}
	}
	f := n.raft.Apply(data, timeout)
	if err := n.await(ctx, f); err != nil {
		if errors.Is(err, errAwaitCtx) {
			return nil, ctxErr(ctx, "proposing")
		}
		return nil, raftError(err)
	}
	if n.cfg.SpreadCommits {
		// The entry is committed and applied here: the followers learn it now, not a commit
		// timeout later, so that a broker that forwarded the change (and waits until it has
		// applied it) or a controller that waits for every broker to apply it waits one
		// round trip.
		n.Spread()
	}
	if err, ok := f.Response().(error); ok {
		return nil, err
	}
	return f.Response(), nil
}

// Spread has the followers learn now what this leader has committed, instead of with its next
// replication round: hashicorp/raft tells a follower the commit index only in an AppendEntries,
// which it sends for a new entry or, with none, after CommitTimeout to twice that (5-10 ms in the
// test fixture), so a follower would apply a committed entry that much later than the leader.
// Spread appends a barrier entry (no command: the FSM never sees it), whose replication carries
// the commit index at once. It does not wait for the barrier to commit; on a follower, or when
// an earlier Spread already followed this node's latest State, it does nothing. With
// Config.SpreadCommits, Propose calls it after every entry it commits, so the followers' lag
// behind the leader is one round trip and the commit timeout only paces the leader's idle
// replication rounds.
func (n *Node) Spread() {
	if len(n.cfg.Voters) < 2 || !n.IsLeader() {
		// A lone voter has no follower to tell (Voters is the whole static quorum; a
		// non-voter, once the leader adds them, issue 4, would need telling too).
		return
	}
	// The barrier goes after the State's index is committed (the State has applied it), so
	// its AppendEntries carries a commit index at least that high.
	idx := n.fsm.State().Index
	for {
		at := n.spreadAt.Load()
		if idx <= at {
			return // a barrier sent after idx was committed carries it already
		}
		if n.spreadAt.CompareAndSwap(at, idx) {
			break
		}
	}
	// The future is answered on a buffered channel: nobody needs to wait for it. The timeout
	// bounds only the enqueueing, which waits if raft's apply queue is full.
	n.raft.Barrier(spreadEnqueueTimeout)
}

// spreadEnqueueTimeout bounds how long Spread waits for room in raft's apply queue.
const spreadEnqueueTimeout = 100 * time.Millisecond

// errAwaitCtx is await's error when its context ended first.
var errAwaitCtx = errors.New("raftmeta: context ended while waiting for raft")

// await waits for an Apply or Barrier future, the node's Close or ctx, whichever comes first
// (errAwaitCtx for ctx, raft.ErrRaftShutdown for Close). Never block on such a future alone:
// hashicorp/raft 1.7.3 can leave one unanswered for ever when it shuts down while a committed batch
// waits in the buffered channel to its FSM goroutine (runFSM returns without draining it, and a
// logFuture has no shutdown channel), and a Close that waits for the waiter would hang with it.
// The goroutine waiting on such a lost future stays until the process ends: at most one per
// future lost that way.
func (n *Node) await(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-n.closing:
		return raft.ErrRaftShutdown
	case <-ctx.Done():
		return errAwaitCtx
	}
}

// raftError maps a raft future's error onto the package's sentinels.
func raftError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: %w", ErrNotLeader, err)
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrAbortedByRestore):
		return fmt.Errorf("%w: %w", ErrLeadershipLost, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%w: %w", ErrClosed, err)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return fmt.Errorf("raftmeta: propose: %w", err)
}

// ctxErr is the error for a context that ended while doing what: ErrTimeout for a deadline,
// the bare cancellation otherwise (both also match the context's own error).
func ctxErr(ctx context.Context, what string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w %s: %w", ErrTimeout, what, ctx.Err())
	}
	return fmt.Errorf("raftmeta: %s: %w", what, ctx.Err())
}

// WaitForIndex waits until State().Index >= idx.
func (n *Node) WaitForIndex(ctx context.Context, idx uint64) error {
	for {
		changed := n.fsm.Changed()
		if n.fsm.State().Index >= idx {
			return nil
		}
		select {
		case <-changed:
		case <-n.closing:
			return ErrClosed
		case <-ctx.Done():
			return ctxErr(ctx, fmt.Sprintf("waiting for index %d", idx))
		}
	}
}

// Quorum is the Raft quorum as one node sees it (DescribeQuorum's partition-level fields).
type Quorum struct {
	LeaderID    int32   // -1 when no leader is known
	Term        uint64  // the current term: Kafka's leader epoch of the metadata partition
	CommitIndex uint64  // the highest index known committed: the high watermark
	LastIndex   uint64  // the last index in this node's log: its log end offset
	Voters      []int32 // the voters' node ids, ascending
}

// MetadataOffset is how far this node's metadata log goes: its Raft log's last index (raftLog
// true), comparable with the leader's commit index.
func (n *Node) MetadataOffset() (offset uint64, raftLog bool) { return n.raft.LastIndex(), true }

// CommitIndex is the highest Raft index this node knows committed.
func (n *Node) CommitIndex() uint64 { return n.raft.CommitIndex() }

// Quorum describes the quorum from this node's view.
func (n *Node) Quorum() (Quorum, error) {
	q := Quorum{LeaderID: -1, Term: n.raft.CurrentTerm(), CommitIndex: n.raft.CommitIndex(), LastIndex: n.raft.LastIndex()}
	if id, _, ok := n.Leader(); ok {
		q.LeaderID = id
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return q, fmt.Errorf("raftmeta: quorum: %w", err)
	}
	for _, s := range f.Configuration().Servers {
		if s.Suffrage != raft.Voter {
			continue
		}
		id, err := strconv.ParseInt(string(s.ID), 10, 32)
		if err != nil {
			return q, fmt.Errorf("raftmeta: quorum: voter id %q", s.ID)
		}
		q.Voters = append(q.Voters, int32(id))
	}
	slices.Sort(q.Voters)
	return q, nil
}

// Resign hands Raft leadership to the most up-to-date other voter, when this node leads and there
// is one, and waits for it to take over (hashicorp/raft gives up after an election timeout). A
// leader that just stops leaves the quorum without one until the followers' heartbeat and
// election timeouts pass, which stalls every metadata change (and, with it, leader elections for
// partitions); Kafka's active controller resigns on a controlled shutdown for the same reason.
// A no-op on a follower or a lone voter.
func (n *Node) Resign() error {
	if n.raft.State() != raft.Leader {
		return nil
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return fmt.Errorf("raftmeta: resign: %w", err)
	}
	voters := 0
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			voters++
		}
	}
	if voters < 2 {
		return nil
	}
	if err := n.raft.LeadershipTransfer().Error(); err != nil {
		return fmt.Errorf("raftmeta: resign: %w", err)
	}
	return nil
}

// Close shuts Raft down (which closes the transport and so the listener), then the stores.
// It is idempotent; later calls return the first call's result.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		close(n.closing)
		var errs []error
		shutdown := n.raft.Shutdown()
		if n.stream != nil {
			// Raft's goroutines are told to stop; a replication pipeline waiting on a silent
			// peer stops only when its connection fails (see streamLayer).
			n.stream.closeDialed()
		}
		if err := shutdown.Error(); err != nil {
			errs = append(errs, fmt.Errorf("raftmeta: raft shutdown: %w", err))
		}
		n.raft.DeregisterObserver(n.observer)
		n.wg.Wait()
		if n.gate != nil {
			n.gate.shutGate() // no heartbeat reaches raft.db from here on
		}
		if n.bolt != nil {
			if err := n.bolt.Close(); err != nil {
				errs = append(errs, fmt.Errorf("raftmeta: closing raft.db: %w", err))
			}
		}
		n.closeErr = errors.Join(errs...)
		n.log.Info("metadata node stopped", "node", n.cfg.NodeID)
	})
	return n.closeErr
}
