package replica

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/partition"
	"github.com/minikraft/minikraft/log"
	"github.com/minikraft/minikraft/raftmeta"
	"github.com/minikraft/minikraft/wire"
)

// Replica fetchers: for every broker this node follows partitions of, one goroutine fetches all
// those partitions from it with the Fetch API and this node's replica id, over the leader's
// inter-broker listener, as Kafka's ReplicaFetcherThread does. Before fetching a partition under
// a new leader epoch, the follower asks the leader where its own latest epoch ends
// (OffsetForLeaderEpoch, KIP-101/KIP-279) and truncates there: never to its high watermark,
// which could throw away records the new leader has committed. Each fetch also carries the
// epoch of the follower's last fetched records (LastFetchedEpoch, KIP-595); a leader that finds
// the follower's log diverging from its own answers DivergingEpoch instead of records, and the
// follower truncates to it and fetches again (Kafka's truncation on fetch). The fetches of one
// leader share a fetch session (KIP-227, replica_session.go): after a first full fetch, each
// names only the partitions whose fetch state changed, and the leader answers only those with
// news, so following thousands of idle partitions no longer resends all of them every round.

const (
	// fetcherBackoff is how long a fetcher with nothing to fetch waits before it looks again,
	// unless the metadata changes first (a kick from syncFetchers wakes it: a partition it now
	// follows is fetched at once, not up to this long after its leader took a write).
	fetcherBackoff = 100 * time.Millisecond
	// leaderBehindRetry is how soon a partition is fetched again when its leader does not know
	// yet the leader epoch we follow it in (UNKNOWN_LEADER_EPOCH, or an OffsetForLeaderEpoch
	// error): the leader has not applied the metadata this node already has, and will within
	// milliseconds. Kafka waits replica.fetch.backoff.ms there too; a partition's first
	// records wait on it (after a Reset, the first group write to the re-created
	// __consumer_offsets waits for its followers), so it is capped at this.
	leaderBehindRetry = 10 * time.Millisecond
)

// fetchers is the set of running replica fetchers, by leader id.
type fetchers struct {
	mu      sync.Mutex
	running map[int32]runningFetcher
}

// runningFetcher is a fetcher's stop, and its wake-up after a metadata change.
type runningFetcher struct {
	cancel context.CancelFunc
	kick   chan struct{} // one slot: a kick is kept until the fetcher next idles
}

// syncFetchers starts a fetcher for every leader this node now follows and stops the others.
// Called after each metadata reconciliation.
func (m *Manager) syncFetchers() {
	want := make(map[int32]bool)
	for _, tp := range m.parts.all() {
		for _, lp := range tp {
			if fs, ok := lp.Follower(); ok {
				want[fs.Leader] = true
			}
		}
	}
	f := &m.fetchers
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running == nil {
		f.running = make(map[int32]runningFetcher)
	}
	for id, rf := range f.running {
		if !want[id] {
			rf.cancel()
			delete(f.running, id)
			continue
		}
		select {
		case rf.kick <- struct{}{}:
		default:
		}
	}
	for id := range want {
		if _, ok := f.running[id]; ok || m.ctx.Err() != nil {
			continue
		}
		ctx, cancel := context.WithCancel(m.ctx)
		kick := make(chan struct{}, 1)
		f.running[id] = runningFetcher{cancel: cancel, kick: kick}
		m.goBackground(func() { m.fetchFrom(ctx, id, kick) })
	}
}

// followed is one partition this node follows from a given leader.
type followed struct {
	topic string
	id    int32
	p     *localPartition
	state partition.FollowerState
}

// followedFrom lists the local follower replicas whose leader is leader.
func (m *Manager) followedFrom(leader int32) []followed {
	var out []followed
	for topic, tp := range m.parts.all() {
		for id, lp := range tp {
			if fs, ok := lp.Follower(); ok && fs.Leader == leader {
				out = append(out, followed{topic: topic, id: id, p: lp, state: fs})
			}
		}
	}
	return out
}

// fetchFrom is the fetcher loop for one leader.
func (m *Manager) fetchFrom(ctx context.Context, leader int32, kick <-chan struct{}) {
	var (
		cl   *wire.Client
		prog = newFetchProgress()
		// sess is the fetch session with this leader: it outlives connections, as the
		// leader's session cache does, but a failed round makes its next fetch a full one.
		sess fetchSession
	)
	prog.kick = kick
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	for ctx.Err() == nil {
		parts := m.followedFrom(leader)
		if len(parts) == 0 {
			m.idle(ctx, kick, fetcherBackoff)
			continue
		}
		if cl == nil {
			c, err := m.dialBroker(ctx, leader)
			if err != nil {
				m.log.Debug("replica fetcher: cannot reach leader", "leader", leader, "err", err)
				m.sleep(ctx, m.cfg.Broker.ReplicaFetchBackoff)
				continue
			}
			cl = c
		}
		err := m.fetchRound(ctx, cl, &sess, parts, prog)
		if err != nil {
			sess.handleError()
			if ctx.Err() == nil {
				m.log.Debug("replica fetcher: round failed", "leader", leader, "err", err)
			}
			cl.Close()
			cl = nil
			m.sleep(ctx, m.cfg.Broker.ReplicaFetchBackoff)
		}
	}
}

// idle is sleep that a metadata change (a kick) ends early.
func (m *Manager) idle(ctx context.Context, kick <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-kick:
	case <-ctx.Done():
	}
}

func (m *Manager) sleep(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}

// dialBroker connects to a broker's inter-broker listener.
func (m *Manager) dialBroker(ctx context.Context, id int32) (*wire.Client, error) {
	br := m.cfg.Metadata.State().Brokers[id]
	if br == nil {
		return nil, fmt.Errorf("broker %d is not registered", id)
	}
	name := m.cfg.Broker.InterBrokerListenerName
	addr, ok := brokerEndpoint(br, name)
	if !ok {
		return nil, fmt.Errorf("broker %d has no %s listener", id, name)
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	dial := m.cfg.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	c, err := dial(dctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return wire.NewClient(c, "minikraft-replica-fetcher-"+strconv.Itoa(int(m.cfg.Broker.NodeID)), int32(m.cfg.Broker.SocketRequestMaxBytes)), nil
}

// fetchRound truncates the partitions that need it, then makes one fetch for all of them in the
// leader's fetch session: a partition whose fetch state did not change since the last fetch is
// not named (the leader keeps fetching it from where it was), one no longer followed or not
// ready this round is forgotten.
func (m *Manager) fetchRound(ctx context.Context, cl *wire.Client, sess *fetchSession, parts []followed, prog *fetchProgress) error {
	truncated := prog.truncated
	var ready []followed
	now := time.Now()
	// due is when the first partition left out of this round may be fetched again: the
	// leader must not park the round's fetch past it (replica.fetch.wait.max.ms, 500 ms),
	// or a partition that was only waiting for its leader to apply the metadata (a new or
	// restored topic) would wait for a fetch of the others that has nothing to bring.
	var due time.Time
	leftOut := func(until time.Time) {
		if due.IsZero() || until.Before(due) {
			due = until
		}
	}
	for _, f := range parts {
		if d, ok := prog.delayed[f.p]; ok {
			if d.epoch == f.state.LeaderEpoch && now.Before(d.until) {
				leftOut(d.until)
				continue // backing off after an error: left out, so forgotten by the session
			}
			delete(prog.delayed, f.p)
		}
		if e, ok := truncated[f.p]; ok && e == f.state.LeaderEpoch {
			ready = append(ready, f)
			continue
		}
		if err := m.truncateToLeader(ctx, cl, f); err != nil {
			if errors.Is(err, errRetryLater) {
				leftOut(now.Add(leaderBehindRetry))
				continue
			}
			return err
		}
		truncated[f.p] = f.state.LeaderEpoch
		f.state, _ = f.p.Follower()
		ready = append(ready, f)
	}
	if len(ready) == 0 {
		// Nothing to fetch until the first partition left out is due: a partition backing off
		// for leaderBehindRetry after an error (its leader not there yet) is not left waiting
		// fetcherBackoff.
		wait := fetcherBackoff
		if !due.IsZero() {
			wait = min(wait, max(time.Until(due), time.Millisecond))
		}
		m.idle(ctx, prog.kick, wait)
		return nil
	}
	m.throttle.wait(ctx) // no lock is held here: only this fetcher waits
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.ReplicaID = m.cfg.Broker.NodeID
	wait := m.cfg.Broker.ReplicaFetchWaitMax
	if !due.IsZero() {
		wait = min(wait, max(time.Until(due), time.Millisecond))
	}
	req.MaxWaitMillis = int32(wait / time.Millisecond)
	req.MinBytes = 1
	req.MaxBytes = m.throttle.limit(int32(m.cfg.Broker.ReplicaFetchResponseMaxBytes))
	want := make([]sessionPartition, len(ready))
	find := make(map[sessionKey]followed, len(ready))
	for i, f := range ready {
		k := sessionKey{f.topic, f.id}
		want[i] = sessionPartition{
			sessionKey:         k,
			fetchOffset:        f.state.LogEnd,
			logStartOffset:     f.p.LogStartOffset(),
			currentLeaderEpoch: f.state.LeaderEpoch,
			lastFetchedEpoch:   f.state.LatestEpoch,
			maxBytes:           m.throttle.limit(int32(m.cfg.Broker.ReplicaFetchMaxBytes)),
		}
		find[k] = f
	}
	sess.build(req, want)
	rctx, cancel := context.WithTimeout(ctx, m.cfg.Broker.ReplicaFetchWaitMax+10*time.Second)
	defer cancel()
	// The response's record batches live in the client's reused buffer: they are appended
	// (copied to the log) below, before this fetcher's next fetch reads over them.
	raw, err := cl.RequestReuse(rctx, req)
	if err != nil {
		sess.handleError()
		return err
	}
	resp := raw.(*kmsg.FetchResponse)
	if err := sess.handleResponse(resp); err != nil {
		switch resp.ErrorCode {
		case kerr.FetchSessionIDNotFound.Code, kerr.InvalidFetchSessionEpoch.Code:
			// The leader lost or moved on from our session (restarted, evicted it): the
			// next fetch, a full one, makes a new session at once.
			m.log.Debug("replica fetcher: fetch session reset", "err", err)
			return nil
		}
		return err
	}
	fetched := 0
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			fetched += len(rp.RecordBatches)
		}
	}
	m.throttle.take(fetched)
	// An incremental answer names only the partitions with news: the others have none.
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			f, ok := find[sessionKey{rt.Topic, rp.Partition}]
			if !ok {
				continue
			}
			if m.handleFetchedPartition(f, rp, truncated) {
				wait := m.cfg.Broker.ReplicaFetchBackoff
				if leaderBehindCode(rp.ErrorCode) {
					wait = min(wait, leaderBehindRetry)
				}
				prog.delayed[f.p] = fetchDelay{until: time.Now().Add(wait), epoch: f.state.LeaderEpoch}
			}
		}
	}
	return nil
}

// leaderBehindCode reports whether a follower fetch's partition error most likely means that the
// leader has not applied the metadata this node has: it does not know the leader epoch we follow
// it in, or not yet the partition (a topic just created or re-created: its followers often
// apply the new topic before its leader does, and the first acks=all write of a new topic
// waited replica.fetch.backoff.ms for them), or not yet that it leads it (NOT_LEADER_OR_FOLLOWER:
// after a Reset re-creates __consumer_offsets, the followers asked before the leader took over
// its new replicas, and a group's first write waited replica.fetch.backoff.ms, 100 ms in the
// fixture, for them). FENCED_LEADER_EPOCH is the other way round, this node behind the leader:
// the new epoch ends the delay, but only at the next round, which waited for the delay's end. A
// partition that really went away, or a leader that really moved, leaves this node's metadata
// within milliseconds too (a new leader epoch ends the delay at once), so a short retry does not
// last.
func leaderBehindCode(code int16) bool {
	switch code {
	case kerr.UnknownLeaderEpoch.Code, kerr.UnknownTopicOrPartition.Code, kerr.UnknownTopicID.Code,
		kerr.NotLeaderForPartition.Code, kerr.FencedLeaderEpoch.Code:
		return true
	}
	return false
}

// fetchProgress is a fetcher's memory across rounds of what its partitions need.
type fetchProgress struct {
	// truncated remembers, per partition, the leader epoch under which it has been truncated to
	// the leader's log; a new epoch needs a new check.
	truncated map[*localPartition]int32
	// delayed holds the partitions whose last fetch failed, until when they are left out of
	// the fetches: Kafka's AbstractFetcherThread delays a partition with an error by
	// replica.fetch.backoff.ms, so a leader answering NOT_LEADER or FENCED_LEADER_EPOCH while
	// the metadata moves is not asked again in a tight loop. A new leader epoch ends the delay,
	// as a new epoch gives a Kafka fetcher a fresh partition state.
	delayed map[*localPartition]fetchDelay
	// kick wakes the fetcher when it idles and the metadata changes (nil: never).
	kick <-chan struct{}
}

type fetchDelay struct {
	until time.Time
	epoch int32 // the leader epoch the error came under
}

func newFetchProgress() *fetchProgress {
	return &fetchProgress{truncated: make(map[*localPartition]int32), delayed: make(map[*localPartition]fetchDelay)}
}

// handleFetchedPartition applies one partition of a follower fetch response. It reports whether
// the partition had an error that should delay its next fetch by replica.fetch.backoff.ms.
func (m *Manager) handleFetchedPartition(f followed, rp kmsg.FetchResponseTopicPartition, truncated map[*localPartition]int32) (backOff bool) {
	switch {
	case rp.ErrorCode == 0 && rp.DivergingEpoch.Epoch >= 0:
		// As Kafka: truncate, and neither append the records nor take the high watermark;
		// the next fetch, from the new log end, brings them.
		m.truncateToEpochEnd(f, rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset)
	case rp.ErrorCode == 0:
		recs := wholeBatches(rp.RecordBatches)
		if err := f.p.AppendAsFollower(f.state.LeaderEpoch, recs, rp.HighWatermark); err != nil {
			m.log.Warn("follower append failed", "topic", f.topic, "partition", f.id, "err", err)
			delete(truncated, f.p) // re-check where we stand against the leader
		}
	case rp.ErrorCode == kerr.OffsetOutOfRange.Code:
		if f.state.LogEnd < rp.LogStartOffset {
			// Our whole log is below the leader's start: start again from there.
			if err := f.p.ResetTo(f.state.LeaderEpoch, rp.LogStartOffset); err != nil {
				m.log.Warn("follower reset failed", "topic", f.topic, "partition", f.id, "err", err)
				return true
			}
			return false
		}
		delete(truncated, f.p) // ahead of the leader: truncate via OffsetForLeaderEpoch
	default:
		// NOT_LEADER_OR_FOLLOWER, FENCED/UNKNOWN_LEADER_EPOCH and the like: the metadata is
		// moving; the partition waits replica.fetch.backoff.ms, then uses the new state.
		m.log.Debug("follower fetch error", "topic", f.topic, "partition", f.id, "err", kerr.ErrorForCode(rp.ErrorCode))
		return true
	}
	return false
}

// errRetryLater marks a partition that cannot be truncated this round (the leader does not yet
// know the epoch we follow it in).
var errRetryLater = errors.New("replica: retry later")

// truncateToLeader asks the leader where our latest leader epoch ends in its log and truncates
// our log there (KIP-279: if the leader answers an earlier epoch, our log diverged after that
// epoch, so cut at the smaller of both end offsets). When the leader answers an epoch we do not
// have, we cut back to our largest epoch below it and ask again about that one; each round
// lowers our latest epoch, and a round that does not (a leader answering an epoch above the
// one asked) ends the truncation rather than repeating it.
func (m *Manager) truncateToLeader(ctx context.Context, cl *wire.Client, f followed) error {
	for f.state.LatestEpoch >= 0 && f.state.LogEnd > 0 {
		ans, err := m.epochEndOffset(ctx, cl, f)
		if err != nil {
			return err
		}
		if m.truncateToEpochEnd(f, ans.LeaderEpoch, ans.EndOffset) {
			return nil
		}
		st, ok := f.p.Follower()
		if !ok || st.LeaderEpoch != f.state.LeaderEpoch {
			return errRetryLater // the metadata moved on: the next round starts over
		}
		if st.LatestEpoch >= f.state.LatestEpoch {
			return nil
		}
		f.state = st
	}
	return nil // nothing to diverge
}

// epochEndOffset asks the leader where our latest leader epoch ends in its log.
func (m *Manager) epochEndOffset(ctx context.Context, cl *wire.Client, f followed) (kmsg.OffsetForLeaderEpochResponseTopicPartition, error) {
	var ans kmsg.OffsetForLeaderEpochResponseTopicPartition
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.Version = 3
	req.ReplicaID = m.cfg.Broker.NodeID
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = f.topic
	rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	rp.Partition = f.id
	rp.CurrentLeaderEpoch = f.state.LeaderEpoch
	rp.LeaderEpoch = f.state.LatestEpoch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	raw, err := cl.Request(rctx, req)
	if err != nil {
		return ans, err
	}
	resp := raw.(*kmsg.OffsetForLeaderEpochResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return ans, fmt.Errorf("%w: OffsetForLeaderEpoch answered %d topics", wire.ErrMalformed, len(resp.Topics))
	}
	ans = resp.Topics[0].Partitions[0]
	if ans.ErrorCode != 0 {
		return ans, errRetryLater
	}
	return ans, nil
}

// truncateToEpochEnd truncates a followed partition to where its leader says epoch ends (an
// OffsetForLeaderEpoch answer or a fetch's DivergingEpoch; see Partition.TruncateToEpochEnd).
// It reports whether the truncation is complete; on an error the partition's metadata is moving
// and the next round starts over.
func (m *Manager) truncateToEpochEnd(f followed, epoch int32, endOffset int64) (done bool) {
	end, done, err := f.p.TruncateToEpochEnd(f.state.LeaderEpoch, epoch, endOffset)
	if err != nil {
		m.log.Warn("follower truncation failed", "topic", f.topic, "partition", f.id, "err", err)
		return true
	}
	if end < f.state.LogEnd {
		m.log.Info("follower truncated to the leader's log", "topic", f.topic, "partition", f.id,
			"from", f.state.LogEnd, "to", end, "epoch", f.state.LeaderEpoch,
			"leader_epoch_end", epoch, "leader_end_offset", endOffset)
	}
	return done
}

// wholeBatches drops a partial batch at the end of fetched data (Kafka may cut the last batch at
// the byte limit).
func wholeBatches(data []byte) []byte {
	n := 0
	for n < len(data) {
		h, err := log.ParseBatchHeader(data[n:])
		if err != nil || h.Size() > len(data)-n {
			break
		}
		n += h.Size()
	}
	return data[:n]
}

// brokerEndpoint is a registered broker's address on the named listener.
func brokerEndpoint(br *raftmeta.Broker, listener string) (string, bool) {
	for _, ep := range br.Listeners {
		if ep.Name == listener {
			return net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port))), true
		}
	}
	return "", false
}
