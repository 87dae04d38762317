package partition

import (
	"fmt"
	"slices"
	"time"

	"github.com/minikraft/minikraft/log"
)

// Replication, Kafka's way: followers fetch from the leader; the offset a follower fetches from
// is its log end offset, which is how the leader learns how far each follower is; the high
// watermark is the lowest log end offset in the ISR; the leader proposes ISR changes to the
// controller and applies them only once committed in the metadata.

// updateFollowerLocked records a follower's fetch at offset: it has every record below it.
// Following Kafka's Replica.updateFetchState, the follower is caught up at this fetch if it
// asked for the leader's log end offset, and was caught up at its previous fetch if it has now
// reached what the leader's log end was back then.
func (p *Partition) updateFollowerLocked(id int32, offset int64, now time.Time) {
	if p.leader != p.cfg.NodeID {
		return
	}
	f := p.followers[id]
	if f == nil {
		if !slices.Contains(p.replicas, id) {
			return
		}
		f = &replica{leo: -1}
		if p.followers == nil {
			p.followers = make(map[int32]*replica)
		}
		p.followers[id] = f
	}
	leo := p.log.EndOffset()
	switch {
	case offset >= leo:
		f.lastCaughtUp = now
	case !f.lastFetch.IsZero() && offset >= f.lastFetchLeaderLEO:
		f.lastCaughtUp = f.lastFetch
	}
	f.leo = offset
	f.lastFetch = now
	f.lastFetchLeaderLEO = leo
	p.maybeAdvanceHWLocked()
}

// liveISRLocked counts the ISR members that are in sync by the leader's own clock: itself, and
// followers that caught up within replica.lag.time.max.ms. It differs from len(isr) only while
// the removal of a lagging follower is not committed yet, for instance because the controller
// quorum is gone. Kafka checks min.insync.replicas against the committed ISR and lets acks=all
// writes time out in that window; minikraft refuses them at once with NOT_ENOUGH_REPLICAS,
// which is stricter (never an acknowledgement with fewer copies) and tells the client why.
func (p *Partition) liveISRLocked(now time.Time) int {
	n := 0
	for _, id := range p.isr {
		if id == p.cfg.NodeID {
			n++
			continue
		}
		f := p.followers[id]
		if f == nil || now.Sub(p.becameLeaderAt(f)) <= p.cfg.ReplicaLagTimeMax && f.leo < 0 {
			n++ // not heard from yet, still within its grace
			continue
		}
		if f.leo >= 0 && now.Sub(f.lastCaughtUp) <= p.cfg.ReplicaLagTimeMax {
			n++
		}
	}
	return n
}

// liveISRNowLocked is liveISRLocked at the current time. A leader that is its own whole ISR
// (replication factor 1) needs no clock for that, and the produce path asks twice per append.
func (p *Partition) liveISRNowLocked() int {
	if len(p.isr) == 1 && p.isr[0] == p.cfg.NodeID {
		return 1
	}
	return p.liveISRLocked(p.cfg.Now())
}

// ISRChange is an ISR change the leader wants the controller to commit.
type ISRChange struct {
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
}

// WantedISRChange returns the ISR this leader should have now, if it differs from the current
// one and no earlier change is still in flight: followers whose last caught-up time is older than
// replica.lag.time.max.ms leave; followers that have reached both the high watermark and the
// start of this leader epoch join (Kafka's isFollowerInSync). The leader itself always stays.
// The change is marked in flight; call ISRChangeFailed if proposing it fails.
func (p *Partition) WantedISRChange(now time.Time) (ISRChange, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.leader != p.cfg.NodeID || p.pendingISR != nil {
		return ISRChange{}, false
	}
	// The ISR check runs for every led partition ten times a second (replica.isrLoop), so the
	// usual answer, no change, allocates nothing.
	var buf [8]int32
	next := buf[:0]
	for _, r := range p.replicas {
		if r == p.cfg.NodeID {
			next = append(next, r)
			continue
		}
		f := p.followers[r]
		inISR := slices.Contains(p.isr, r)
		switch {
		case f == nil || f.leo < 0:
			if inISR && now.Sub(p.becameLeaderAt(f)) <= p.cfg.ReplicaLagTimeMax {
				next = append(next, r)
			}
		case inISR:
			if now.Sub(f.lastCaughtUp) <= p.cfg.ReplicaLagTimeMax {
				next = append(next, r)
			}
		default:
			if f.leo >= p.hw && f.leo >= p.epochStart {
				next = append(next, r)
			}
		}
	}
	if sameSet(next, p.isr) {
		return ISRChange{}, false
	}
	isr := slices.Clone(next)
	p.pendingISR = isr
	return ISRChange{Leader: p.leader, LeaderEpoch: p.leaderEpoch, PartitionEpoch: p.partitionEpoch, ISR: isr}, true
}

// becameLeaderAt is when an ISR member without any fetch yet started to be waited for.
func (p *Partition) becameLeaderAt(f *replica) time.Time {
	if f != nil && !f.lastCaughtUp.IsZero() {
		return f.lastCaughtUp
	}
	return p.cfg.Now()
}

// ISRChangeFailed forgets an in-flight ISR change the controller refused or never got.
func (p *Partition) ISRChangeFailed() {
	p.mu.Lock()
	p.pendingISR = nil
	p.maybeAdvanceHWLocked()
	p.mu.Unlock()
}

func sameSet(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// FollowerState is what the replica fetcher needs to fetch for this follower.
type FollowerState struct {
	Leader      int32
	LeaderEpoch int32
	LogEnd      int64
	LatestEpoch int32 // the latest epoch in the log's leader-epoch cache, -1 when none
}

// Follower returns the fetch state, or false when this replica is not a follower.
func (p *Partition) Follower() (FollowerState, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.leader < 0 || p.leader == p.cfg.NodeID {
		return FollowerState{}, false
	}
	epoch, ok := p.log.LatestEpoch()
	if !ok {
		epoch = -1
	}
	return FollowerState{Leader: p.leader, LeaderEpoch: p.leaderEpoch, LogEnd: p.log.EndOffset(), LatestEpoch: epoch}, true
}

// AppendAsFollower appends batches fetched from the leader of leaderEpoch, and takes the
// leader's high watermark (capped at our own log end). Batches for a stale epoch are refused.
func (p *Partition) AppendAsFollower(leaderEpoch int32, records []byte, leaderHW int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if p.leader == p.cfg.NodeID || p.leaderEpoch != leaderEpoch {
		return ErrFencedLeaderEpoch
	}
	if len(records) > 0 {
		if _, err := p.log.AppendReplicated(records); err != nil {
			return err
		}
		p.counters().replicationBytesIn.Add(int64(len(records)))
		for data := records; len(data) > 0; {
			h, err := log.ParseBatchHeader(data)
			if err != nil || h.Size() > len(data) {
				break
			}
			if h.IsControl() {
				// The log took it, so a marker parses; the state follows the leader's even where
				// the leader's checks would refuse it (Kafka's AppendOrigin.REPLICATION).
				if m, ok, err := log.ParseMarker(data[:h.Size()]); err == nil && ok {
					p.producers.recordMarker(h, m)
				}
			} else {
				p.producers.record(h)
			}
			data = data[h.Size():]
		}
	}
	if hw := min(leaderHW, p.log.EndOffset()); hw > p.hw {
		p.hw = hw
	}
	p.notifyLocked()
	return nil
}

// TruncateTo cuts this follower's log back to offset (KIP-101: to where it diverges from the
// leader, never merely to its own high watermark) and rebuilds the producer state from what is
// left.
func (p *Partition) TruncateTo(leaderEpoch int32, offset int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.checkFollowerLocked(leaderEpoch); err != nil {
		return err
	}
	return p.truncateLocked(offset)
}

// TruncateToEpochEnd truncates this follower's log to where its leader says an epoch ends: the
// leader's answer to OffsetsForLeaderEpoch for our latest epoch, or a fetch response's
// DivergingEpoch. It decides the offset as Kafka's AbstractFetcherThread.getOffsetTruncationState:
//
//   - endOffset undefined (-1): the leader knows no epoch at or below ours, so it cannot say where
//     we diverge. The log is kept up to our high watermark, which the leader has committed.
//   - epoch undefined with an end offset: the leader's end offset.
//   - an epoch we have: the smaller of the leader's end offset and where the epoch ends in ours.
//   - an epoch we do not have: where our largest epoch below it ends. The truncation is not
//     complete (done is false): the leader must be asked again about our new latest epoch.
//   - no epoch of ours at or below it: the leader's end offset.
//
// It never truncates above the log end; it returns the log end after the truncation.
func (p *Partition) TruncateToEpochEnd(leaderEpoch, epoch int32, endOffset int64) (end int64, done bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.checkFollowerLocked(leaderEpoch); err != nil {
		return 0, false, err
	}
	leo := p.log.EndOffset()
	to, done := leo, true
	switch {
	case endOffset < 0:
		to = max(p.hw, p.log.StartOffset())
	case epoch < 0:
		to = endOffset
	default:
		ours, oursEnd := p.log.EndOffsetForEpoch(epoch)
		switch {
		case oursEnd < 0:
			to = endOffset
		case ours != epoch:
			to, done = oursEnd, false
		default:
			to = min(oursEnd, endOffset)
		}
	}
	if err := p.truncateLocked(min(to, leo)); err != nil {
		return 0, false, err
	}
	return p.log.EndOffset(), done, nil
}

func (p *Partition) checkFollowerLocked(leaderEpoch int32) error {
	if p.closed {
		return ErrClosed
	}
	if p.leader == p.cfg.NodeID || p.leaderEpoch != leaderEpoch {
		return ErrFencedLeaderEpoch
	}
	return nil
}

// truncateLocked cuts the log back to offset. At or past the log end it cuts nothing, but the
// log still drops an epoch that starts at its end (see log.Log.Truncate).
func (p *Partition) truncateLocked(offset int64) error {
	truncating := offset < p.log.EndOffset()
	if err := p.log.Truncate(offset); err != nil {
		return err
	}
	if !truncating {
		return nil
	}
	p.hw = min(p.hw, p.log.EndOffset())
	return p.rebuildProducersLocked()
}

// ResetTo empties this follower's log and restarts it at offset, for a follower whose whole log
// is below the leader's log start offset.
func (p *Partition) ResetTo(leaderEpoch int32, offset int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.checkFollowerLocked(leaderEpoch); err != nil {
		return err
	}
	if err := p.log.TruncateFullyAndStartAt(offset); err != nil {
		return err
	}
	p.hw = offset
	return p.rebuildProducersLocked()
}

func (p *Partition) rebuildProducersLocked() error {
	p.producers = producers{}
	err := p.log.ScanMarkers(p.log.StartOffset(), func(h log.BatchHeader, m log.Marker, isMarker bool) error {
		if isMarker {
			p.producers.recordMarker(h, m)
		} else {
			p.producers.record(h)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("partition %s-%d: rebuilding producer state: %w", p.cfg.Topic, p.cfg.Partition, err)
	}
	return nil
}
