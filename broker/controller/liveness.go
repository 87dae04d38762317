package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/minikraft/minikraft/raftmeta"
)

// ErrUnknownBroker is a heartbeat from a broker the metadata has no registration for: it must
// register (again).
var ErrUnknownBroker = errors.New("controller: broker is not registered")

// Broker liveness, as KRaft's BrokerHeartbeatManager keeps it: the controller remembers when
// each broker last heartbeated (in memory only: a new controller, or one that leads again or
// resumes after a gap between its ticks, starts every broker's session afresh, which errs on the
// side of not fencing), fences a broker whose session lapses, and
// unfences it at its next heartbeat. Fencing moves leadership off the broker and takes it out of
// every ISR; a partition whose last in-sync replica is fenced keeps that replica in its ISR with
// no leader, so that it, and only it, leads again when it returns (no unclean election).

// RegisterBroker records a broker's endpoints and unfences it. A re-registration with a new
// incarnation is a restarted process: its log may be behind what it had acknowledged as a
// follower, so it is first handled like a fenced broker (leadership moves to other in-sync
// replicas, it leaves the ISRs) and then rejoins as a live broker. It returns the broker epoch.
func (c *Controller) RegisterBroker(ctx context.Context, br raftmeta.Broker, now time.Time) (int64, error) {
	st := c.meta.State()
	if old := st.Brokers[br.ID]; old != nil && old.Incarnation != br.Incarnation {
		if err := c.moveOffBroker(ctx, br.ID); err != nil {
			return 0, err
		}
	}
	res, err := c.meta.Propose(ctx, raftmeta.RegisterBroker{Broker: br})
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	delete(c.stopping, br.ID) // a new registration is a running broker again
	c.mu.Unlock()
	c.applied.mu.Lock()
	delete(c.applied.index, br.ID) // a new process reports its own progress
	c.applied.mu.Unlock()
	c.touch(br.ID, now)
	if err := c.electLeaderless(ctx, br.ID); err != nil {
		return 0, err
	}
	epoch, _ := res.(int64)
	return epoch, nil
}

// Heartbeat records that broker id is alive, unfencing it if it was fenced. A heartbeat from a
// broker with another incarnation than the registered one (it restarted and has not registered
// yet) or from an unknown broker is ErrUnknownBroker.
func (c *Controller) Heartbeat(ctx context.Context, id int32, incarnation [16]byte, now time.Time) error {
	br := c.meta.State().Brokers[id]
	if br == nil || br.Incarnation != incarnation {
		return fmt.Errorf("%w: broker %d", ErrUnknownBroker, id)
	}
	c.touch(id, now)
	if !br.Fenced {
		return nil
	}
	c.mu.Lock()
	inc, stopping := c.stopping[id]
	c.mu.Unlock()
	if stopping && inc == incarnation {
		return nil // a heartbeat that crossed its controlled shutdown: it stays fenced
	}
	if _, err := c.meta.Propose(ctx, raftmeta.SetBrokerFenced{ID: id, Fenced: false}); err != nil {
		return err
	}
	c.log.Info("broker unfenced", "broker", id)
	return c.electLeaderless(ctx, id)
}

// ShutdownBroker is a broker's controlled shutdown: its partitions get new leaders before it
// stops serving rather than a session timeout later, and then it is fenced. Heartbeats of this
// incarnation no longer unfence it (one may cross the shutdown), until it registers again.
func (c *Controller) ShutdownBroker(ctx context.Context, id int32) error {
	br := c.meta.State().Brokers[id]
	if br == nil {
		return fmt.Errorf("%w: broker %d", ErrUnknownBroker, id)
	}
	c.mu.Lock()
	c.stopping[id] = br.Incarnation
	c.mu.Unlock()
	return c.fence(ctx, id, "controlled shutdown")
}

// Tick fences the brokers whose session has lapsed, completes reassignments whose last ISR
// change did not (a controller that failed over in between, say), and gives a leader to every
// leaderless partition whose ISR holds an unfenced broker: the election that follows an unfence
// (Heartbeat, RegisterBroker) may fail after the unfence took effect (the controller lost its
// Raft leadership, the proposal timed out), and nothing else would retry it, leaving the
// partition without a leader for good. The leader calls it periodically.
func (c *Controller) Tick(ctx context.Context, now time.Time, session time.Duration) error {
	st := c.meta.State()
	var errs []error
	c.mu.Lock()
	if !c.lastTick.IsZero() && now.Sub(c.lastTick) > session/2 {
		// No tick for a while: this node did not lead (heartbeats went to another controller)
		// or was itself stopped or starved. What it last saw of the brokers says nothing about
		// them now, so every broker gets a full session, as a new active controller gives them
		// in Kafka. Judging by the old times would fence live brokers, all of them at once
		// after a paused controller resumes.
		clear(c.lastSeen)
		c.log.Info("controller resumed after a gap: every broker gets a full session", "gap", now.Sub(c.lastTick).Round(time.Millisecond))
	}
	c.lastTick = now
	c.mu.Unlock()
	for _, r := range ListReassignments(st) {
		if err := c.maybeCompleteReassignment(ctx, r.Topic, r.Partition); err != nil {
			errs = append(errs, err)
		}
	}
	for id, br := range st.Brokers {
		c.mu.Lock()
		last, ok := c.lastSeen[id]
		if !ok {
			c.lastSeen[id] = now // a new controller gives every broker a full session
		}
		c.mu.Unlock()
		if !ok || now.Sub(last) <= session {
			continue
		}
		if br.Fenced {
			// Fenced already, but a partition may still list it (a change that failed midway).
			if err := c.moveOffBroker(ctx, id); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if err := c.fence(ctx, id, fmt.Sprintf("no heartbeat for %v", now.Sub(last).Round(time.Millisecond))); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.electLeaderless(ctx, -1); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c *Controller) touch(id int32, now time.Time) {
	c.mu.Lock()
	c.lastSeen[id] = now
	c.mu.Unlock()
}

// fence moves leadership and ISR membership off broker id, then marks it fenced, then moves off
// anything that named it meanwhile. Leaderships move first so that no metadata names a leader
// that Metadata responses no longer list (clients such as kafka-go give up on such a partition);
// Kafka writes both in one batch of records.
func (c *Controller) fence(ctx context.Context, id int32, why string) error {
	if err := c.moveOffBroker(ctx, id); err != nil {
		return err
	}
	if _, err := c.meta.Propose(ctx, raftmeta.SetBrokerFenced{ID: id, Fenced: true}); err != nil {
		return err
	}
	c.log.Info("broker fenced", "broker", id, "reason", why)
	return c.moveOffBroker(ctx, id)
}

// moveOffBroker takes broker id out of every ISR and leadership, electing the first other
// in-sync, unfenced replica (in replica order, so the preferred leader wins when it can).
func (c *Controller) moveOffBroker(ctx context.Context, id int32) error {
	st := c.meta.State()
	var changes []raftmeta.ChangePartition
	for _, t := range sortedTopics(st) {
		for _, p := range t.Partitions {
			if !p.InISR(id) && p.Leader != id {
				continue
			}
			isr := slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return r == id })
			if len(isr) == 0 {
				// The last in-sync replica keeps its place, leaderless: electing anyone else
				// could lose acknowledged writes.
				isr = []int32{id}
			}
			leader := pickLeader(st, p.Replicas, isr, id)
			if slices.Equal(isr, p.ISR) && leader == p.Leader {
				continue
			}
			changes = append(changes, raftmeta.ChangePartition{
				Topic: t.Name, Partition: p.ID, ExpectedPartitionEpoch: p.PartitionEpoch,
				Leader: &leader, ISR: isr,
			})
		}
	}
	_, err := c.proposeChanges(ctx, changes)
	return err
}

// proposeChanges proposes changes as ChangePartitions entries of up to MaxChangesPerEntry: one
// Raft commit, and one State for every broker to apply, per thousand partitions, where one per
// partition made a node of 10,000 partitions take minutes to stop and to come back. A change
// found stale (the partition moved on meanwhile) is skipped, as it was one by one; the first
// other rejection is returned, after the remaining batches were proposed. applied reports, in
// order, whether each change was applied.
func (c *Controller) proposeChanges(ctx context.Context, changes []raftmeta.ChangePartition) (applied []bool, err error) {
	applied = make([]bool, len(changes))
	var first error
	for lo := 0; lo < len(changes); lo += raftmeta.MaxChangesPerEntry {
		hi := min(lo+raftmeta.MaxChangesPerEntry, len(changes))
		res, err := c.meta.Propose(ctx, raftmeta.ChangePartitions{Changes: changes[lo:hi]})
		if err != nil {
			return applied, err
		}
		errs, _ := res.([]error)
		if len(errs) != hi-lo {
			return applied, fmt.Errorf("ChangePartitions: %d results for %d changes", len(errs), hi-lo)
		}
		for i, e := range errs {
			switch {
			case e == nil:
				applied[lo+i] = true
			case errors.Is(e, raftmeta.ErrStalePartitionEpoch):
			case first == nil:
				first = e
			}
		}
	}
	return applied, first
}

// electLeaderless gives a leader to the partitions that have none and whose ISR holds the broker
// that just came back (any unfenced broker for id -1).
func (c *Controller) electLeaderless(ctx context.Context, id int32) error {
	st := c.meta.State()
	var changes []raftmeta.ChangePartition
	for _, t := range sortedTopics(st) {
		for _, p := range t.Partitions {
			if p.Leader >= 0 || (id >= 0 && !p.InISR(id)) {
				continue
			}
			leader := pickLeader(st, p.Replicas, p.ISR, -1)
			if leader < 0 {
				continue
			}
			changes = append(changes, raftmeta.ChangePartition{
				Topic: t.Name, Partition: p.ID, ExpectedPartitionEpoch: p.PartitionEpoch, Leader: &leader,
			})
		}
	}
	applied, err := c.proposeChanges(ctx, changes)
	n := 0
	for i, ok := range applied {
		if ok {
			n++
			c.log.Debug("partition leader elected", "topic", changes[i].Topic, "partition", changes[i].Partition, "leader", *changes[i].Leader)
		}
	}
	if n > 0 {
		c.log.Info("partition leaders elected", "partitions", n, "broker", id)
	}
	return err
}

// pickLeader is the first replica (in assignment order) that is in isr, unfenced and not
// excluded; -1 if none.
func pickLeader(st *raftmeta.State, replicas, isr []int32, exclude int32) int32 {
	for _, r := range replicas {
		if r == exclude || !slices.Contains(isr, r) {
			continue
		}
		if br := st.Brokers[r]; br != nil && !br.Fenced {
			return r
		}
	}
	return -1
}

func sortedTopics(st *raftmeta.State) []*raftmeta.Topic {
	names := make([]string, 0, len(st.Topics))
	for n := range st.Topics {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]*raftmeta.Topic, len(names))
	for i, n := range names {
		out[i] = st.Topics[n]
	}
	return out
}

// Metadata propagation. A broker applies each metadata change a moment after the controller
// commits it; Kafka's clients live with the gap, but one that asks another broker right after
// CreateTopics answered (segmentio/kafka-go's Writer, say) caches "unknown topic". So the
// metadata-changing requests wait, before they answer, until every live broker has applied the
// change (AwaitApplied): each broker reports the index it has applied in a heartbeat sent as soon
// as that index advances, and the controller keeps the latest report (in memory: a new
// controller learns them with the next heartbeats).

// appliedIndexes are the brokers' reported applied metadata indexes; changed is closed and
// replaced at every report, so waiters can sleep on it.
type appliedIndexes struct {
	mu      sync.Mutex
	index   map[int32]uint64
	changed chan struct{}
}

// BrokerApplied records that broker id has applied the metadata up to index (its partitions
// reconciled with it): it serves what the metadata says up to there.
func (c *Controller) BrokerApplied(id int32, index uint64) {
	a := &c.applied
	a.mu.Lock()
	defer a.mu.Unlock()
	if index <= a.index[id] {
		return
	}
	a.index[id] = index
	close(a.changed)
	a.changed = make(chan struct{})
}

// AwaitApplied waits until every live broker has applied the metadata up to index, or until ctx
// ends. Live means registered, unfenced, not in controlled shutdown, and heard from within
// stale: a broker silent for longer is most likely gone, about to be fenced, and is not waited
// for (nor is one that is fenced meanwhile). It returns the live brokers still behind when ctx
// ended, with the index each last reported; none when all caught up. It returns
// raftmeta.ErrNotLeader if this node stops leading the quorum: the reports go to the new leader.
func (c *Controller) AwaitApplied(ctx context.Context, index uint64, stale time.Duration) (map[int32]uint64, error) {
	spread := false
	for {
		c.applied.mu.Lock()
		reported := c.applied.changed
		c.applied.mu.Unlock()
		metaChanged := c.meta.Changed()
		if !c.meta.IsLeader() {
			return nil, raftmeta.ErrNotLeader
		}
		behind, recheck := c.behind(index, stale, time.Now())
		if len(behind) == 0 {
			return nil, nil
		}
		if !spread {
			// The followers learn that index is committed now, not up to twice the commit
			// timeout later (raftmeta.Node.Spread; a no-op when Propose spread it already).
			c.meta.Spread()
			spread = true
		}
		t := time.NewTimer(recheck)
		select {
		case <-reported:
		case <-metaChanged:
		case <-t.C: // a broker behind may have gone stale
		case <-ctx.Done():
			t.Stop()
			return behind, nil
		}
		t.Stop()
	}
}

// behind lists the live brokers that have not reported index applied, with what they reported,
// and when to look again for one of them going stale.
func (c *Controller) behind(index uint64, stale time.Duration, now time.Time) (map[int32]uint64, time.Duration) {
	st := c.meta.State()
	recheck := stale
	c.mu.Lock()
	stopping := maps.Clone(c.stopping)
	lastSeen := make(map[int32]time.Time, len(st.Brokers))
	for id := range st.Brokers {
		lastSeen[id] = c.lastSeen[id]
	}
	c.mu.Unlock()
	c.applied.mu.Lock()
	defer c.applied.mu.Unlock()
	var out map[int32]uint64
	for id, br := range st.Brokers {
		if br.Fenced || c.applied.index[id] >= index {
			continue
		}
		if inc, ok := stopping[id]; ok && inc == br.Incarnation {
			continue
		}
		// A broker not seen at all is one a new controller has not ticked for yet: the Tick
		// gives it a session, and it counts as live until then.
		if seen := lastSeen[id]; !seen.IsZero() {
			left := seen.Add(stale).Sub(now)
			if left <= 0 {
				continue
			}
			recheck = min(recheck, left)
		}
		if out == nil {
			out = make(map[int32]uint64)
		}
		out[id] = c.applied.index[id]
	}
	return out, recheck
}
