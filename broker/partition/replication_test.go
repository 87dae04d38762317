package partition

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minikraft/minikraft/log"
)

// clock is a settable Config.Now.
type clock struct{ ms atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ms.Store(1_700_000_000_000)
	return c
}

func (c *clock) now() time.Time            { return time.UnixMilli(c.ms.Load()) }
func (c *clock) advance(d time.Duration)   { c.ms.Add(d.Milliseconds()) }
func (c *clock) set(t time.Time)           { c.ms.Store(t.UnixMilli()) }
func (c *clock) since(t time.Time) float64 { return c.now().Sub(t).Seconds() }

// fetch is a follower's fetch at offset (its log end offset).
func fetch(t *testing.T, p *Partition, follower int32, offset int64) ReadResult {
	t.Helper()
	p.UpdateFollower(follower, offset)
	res, err := p.Read(offset, 1<<20, follower, -1)
	if err != nil {
		t.Fatalf("fetch by %d at %d: %v", follower, offset, err)
	}
	return res
}

// The high watermark is the lowest log end offset in the ISR, learnt from the followers' fetch
// offsets, and an acks=all write is acknowledged once it is below it.
func TestHighWatermarkFromFollowerFetches(t *testing.T) {
	clk := newClock()
	p := newPartition(t, "", Config{MinInsyncReplicas: 2, ReplicaLagTimeMax: 10 * time.Second, Now: clk.now})
	wantOK(t, "BecomeLeader", p.BecomeLeader(0, 0, []int32{self, 2, 3}, []int32{self, 2, 3}))
	info, err := produce(t, p, -1, plain(3))
	wantOK(t, "append", err)
	wantHW(t, p, 0, 3)

	acked := make(chan error, 1)
	go func() { acked <- p.WaitForAck(context.Background(), info.LeaderEpoch, info.LastOffset) }()

	fetch(t, p, 2, 0)
	if res := fetch(t, p, 2, 3); res.HighWatermark != 0 {
		t.Fatalf("follower 3 has not fetched yet, but the high watermark is %d", res.HighWatermark)
	}
	fetch(t, p, 3, 1)
	wantHW(t, p, 1, 3)
	select {
	case err := <-acked:
		t.Fatalf("WaitForAck returned %v with the high watermark at 1", err)
	default:
	}
	res := fetch(t, p, 3, 3)
	if res.HighWatermark != 3 || len(res.Records) != 0 {
		t.Fatalf("caught-up fetch = hw %d, %d bytes", res.HighWatermark, len(res.Records))
	}
	select {
	case err := <-acked:
		wantOK(t, "WaitForAck once every ISR member has the write", err)
	case <-time.After(20 * time.Second):
		t.Fatal("WaitForAck did not return once the high watermark passed the write")
	}

	// A fetch by a broker that is no replica neither counts nor disturbs.
	mustProduce(t, p, plain(1))
	fetch(t, p, 9, 4)
	wantHW(t, p, 3, 4)
}

// A follower fetch at an offset the leader does not have (beyond its log end, as a diverged
// follower that skipped truncation would send) fails with OFFSET_OUT_OF_RANGE, and must not count
// as that follower's log end offset: Kafka's Partition.fetchRecords updates the follower's fetch
// state only after the read succeeded. Otherwise the high watermark passes records the follower
// never received, and acks=all acknowledges them.
func TestFollowerFetchOutOfRangeDoesNotAdvanceHighWatermark(t *testing.T) {
	p := newPartition(t, "", Config{MinInsyncReplicas: 2})
	wantOK(t, "BecomeLeader", p.BecomeLeader(0, 0, []int32{self, 2}, []int32{self, 2}))
	info, err := produce(t, p, -1, plain(5))
	wantOK(t, "append", err)

	p.UpdateFollower(2, 7)
	_, err = p.Read(7, 1<<20, 2, -1)
	wantErr(t, "follower fetch past the log end", err, log.ErrOffsetOutOfRange)
	wantHW(t, p, 0, 5)
	wantErr(t, "WaitForAck", p.WaitForAck(canceled(), info.LeaderEpoch, info.LastOffset), ErrTimeout)
}

func TestISRShrinkAndExpand(t *testing.T) {
	clk := newClock()
	start := clk.now()
	p := newPartition(t, "", Config{MinInsyncReplicas: 1, ReplicaLagTimeMax: 10 * time.Second, Now: clk.now})
	wantOK(t, "BecomeLeader", p.BecomeLeader(3, 7, []int32{self, 2, 3}, []int32{self, 2, 3}))
	mustProduce(t, p, plain(2))

	// Within replica.lag.time.max.ms nobody leaves, fetched or not.
	clk.advance(5 * time.Second)
	fetch(t, p, 2, 2)
	if c, ok := p.WantedISRChange(clk.now()); ok {
		t.Fatalf("ISR change %+v after %.0fs", c, clk.since(start))
	}
	wantHW(t, p, 0, 2) // 3 has never fetched

	// Follower 3 has not fetched for longer than the lag time: it is proposed out.
	clk.advance(6 * time.Second)
	c, ok := p.WantedISRChange(clk.now())
	if !ok || c.Leader != self || c.LeaderEpoch != 3 || c.PartitionEpoch != 7 || !sameSet(c.ISR, []int32{self, 2}) {
		t.Fatalf("WantedISRChange = %+v, %v; want ISR [1 2] at leader epoch 3, partition epoch 7", c, ok)
	}
	// One change at a time; until it is committed the old ISR still holds the high watermark.
	if c, ok := p.WantedISRChange(clk.now()); ok {
		t.Fatalf("second ISR change %+v while one is in flight", c)
	}
	if !sameSet(p.ISR(), []int32{self, 2, 3}) {
		t.Fatalf("ISR changed before the controller committed it: %v", p.ISR())
	}
	wantHW(t, p, 0, 2)
	p.ISRChangeFailed()
	if c2, ok := p.WantedISRChange(clk.now()); !ok || !sameSet(c2.ISR, c.ISR) {
		t.Fatalf("after a failed change, WantedISRChange = %+v, %v; want it proposed again", c2, ok)
	}

	// Committed: the partition gets its new ISR from the metadata, and the high watermark moves.
	wantOK(t, "BecomeLeader with the shrunk ISR", p.BecomeLeader(3, 8, []int32{self, 2, 3}, []int32{self, 2}))
	wantHW(t, p, 2, 2)

	// Follower 3 returns and catches up: it is proposed back in, and while that is in flight it
	// already counts for the high watermark (the maximal ISR, KIP-497).
	mustProduce(t, p, plain(1))
	fetch(t, p, 2, 3)
	wantHW(t, p, 3, 3)
	fetch(t, p, 3, 2)
	if c, ok := p.WantedISRChange(clk.now()); ok {
		t.Fatalf("follower 3 proposed back at offset 2 below the high watermark 3: %+v", c)
	}
	fetch(t, p, 3, 3)
	c, ok = p.WantedISRChange(clk.now())
	if !ok || c.PartitionEpoch != 8 || !sameSet(c.ISR, []int32{self, 2, 3}) {
		t.Fatalf("WantedISRChange = %+v, %v; want ISR [1 2 3] at partition epoch 8", c, ok)
	}
	mustProduce(t, p, plain(1))
	fetch(t, p, 2, 4)
	wantHW(t, p, 3, 4) // 3, joining, has not fetched offset 3 yet
	fetch(t, p, 3, 4)
	wantHW(t, p, 4, 4)
	wantOK(t, "BecomeLeader with the expanded ISR", p.BecomeLeader(3, 9, []int32{self, 2, 3}, []int32{self, 2, 3}))
	if !sameSet(p.ISR(), []int32{self, 2, 3}) {
		t.Fatalf("ISR = %v", p.ISR())
	}

	// Not a leader: no ISR changes.
	wantOK(t, "BecomeFollower", p.BecomeFollower(2, 4, 10, []int32{self, 2, 3}))
	clk.set(start.Add(time.Hour))
	if c, ok := p.WantedISRChange(clk.now()); ok {
		t.Fatalf("follower wants ISR change %+v", c)
	}
}

// A follower appends what it fetched, takes the leader's high watermark (capped at its own log
// end), and keeps the producers' state, so that it deduplicates retries once it leads.
func TestFollowerAppendKeepsProducerState(t *testing.T) {
	leader := newPartition(t, "", Config{})
	wantOK(t, "BecomeLeader", leader.BecomeLeader(1, 1, []int32{self, 2}, []int32{self, 2}))
	first := mustProduce(t, leader, idem(5, 0, 0, 2))
	mustProduce(t, leader, plain(1))
	second := mustProduce(t, leader, idem(5, 0, 2, 1))

	f := newPartition(t, "", Config{})
	if _, ok := f.Follower(); ok {
		t.Fatal("a partition without a role reports a follower state")
	}
	// f is replica 2 of the partition that leader (played by a partition object of its own)
	// leads at epoch 1.
	wantOK(t, "BecomeFollower", f.BecomeFollower(2, 1, 1, []int32{2, self}))
	st, ok := f.Follower()
	if !ok || st.Leader != 2 || st.LeaderEpoch != 1 || st.LogEnd != 0 || st.LatestEpoch != -1 {
		t.Fatalf("Follower() = %+v, %v", st, ok)
	}

	res := fetch(t, leader, 2, 0)
	wantErr(t, "append for a stale epoch", f.AppendAsFollower(0, res.Records, 4), ErrFencedLeaderEpoch)
	wantOK(t, "AppendAsFollower", f.AppendAsFollower(1, res.Records, 2))
	wantHW(t, f, 2, 4)
	if st, _ := f.Follower(); st.LogEnd != 4 || st.LatestEpoch != 1 {
		t.Fatalf("Follower() after the append = %+v", st)
	}
	wantOK(t, "AppendAsFollower with nothing new", f.AppendAsFollower(1, nil, 10))
	wantHW(t, f, 4, 4) // capped at the follower's log end

	// Leading now, the follower recognises the producer's retries.
	wantOK(t, "BecomeLeader", f.BecomeLeader(2, 2, []int32{self, 2}, []int32{self}))
	info, err := produce(t, f, -1, idem(5, 0, 0, 2))
	wantDuplicate(t, "retry reaching the new leader", info, err, first.BaseOffset, first.LastOffset)
	info, err = produce(t, f, -1, idem(5, 0, 2, 1))
	wantDuplicate(t, "retry reaching the new leader", info, err, second.BaseOffset, second.LastOffset)
	wantRefused(t, f, "gap at the new leader", idem(5, 0, 4, 1), ErrOutOfOrderSequence)
	wantErr(t, "AppendAsFollower as leader", f.AppendAsFollower(2, nil, 0), ErrFencedLeaderEpoch)
}

// Truncation (KIP-101) rebuilds the producers' state from what is left, so a batch cut from the
// log is appended again when its producer retries it, rather than answered as a duplicate.
func TestTruncateRebuildsProducerState(t *testing.T) {
	p := newPartition(t, "", Config{})
	soleLeader(t, p, 0)
	mustProduce(t, p, idem(5, 0, 0, 2))
	mustProduce(t, p, idem(5, 0, 2, 2))
	wantHW(t, p, 4, 4)

	wantOK(t, "BecomeFollower", p.BecomeFollower(2, 1, 1, []int32{self, 2}))
	wantErr(t, "truncate for a stale epoch", p.TruncateTo(0, 2), ErrFencedLeaderEpoch)
	wantOK(t, "TruncateTo(2)", p.TruncateTo(1, 2))
	wantHW(t, p, 2, 2)
	wantOK(t, "TruncateTo past the end", p.TruncateTo(1, 10))
	wantHW(t, p, 2, 2)

	soleLeader(t, p, 2)
	info, err := produce(t, p, -1, idem(5, 0, 2, 2))
	wantAppended(t, "retry of the truncated batch", info, err, 2, 3)
	info, err = produce(t, p, -1, idem(5, 0, 0, 2))
	wantDuplicate(t, "retry of the kept batch", info, err, 0, 1)

	// ResetTo empties the log and starts it at an offset; no producer is remembered.
	wantOK(t, "BecomeFollower", p.BecomeFollower(2, 3, 3, []int32{self, 2}))
	wantOK(t, "ResetTo(100)", p.ResetTo(3, 100))
	wantHW(t, p, 100, 100)
	if p.LogStartOffset() != 100 {
		t.Fatalf("log start after ResetTo = %d", p.LogStartOffset())
	}
	soleLeader(t, p, 4)
	info, err = produce(t, p, -1, idem(5, 0, 0, 2))
	wantAppended(t, "a forgotten producer starts afresh", info, err, 100, 101)
	if !slices.Equal(p.ISR(), []int32{self}) {
		t.Fatalf("ISR = %v", p.ISR())
	}
}

// A follower that is still in the committed ISR but has not caught up for longer than
// replica.lag.time.max.ms does not count towards min.insync.replicas (see liveISRLocked).
func TestLaggingFollowerDoesNotCountForMinInsync(t *testing.T) {
	clk := newClock()
	p := newPartition(t, "", Config{MinInsyncReplicas: 2, ReplicaLagTimeMax: 10 * time.Second, Now: clk.now})
	wantOK(t, "BecomeLeader", p.BecomeLeader(0, 0, []int32{self, 2}, []int32{self, 2}))
	info, err := produce(t, p, -1, plain(1))
	wantOK(t, "acks=all within the grace of a follower not heard from yet", err)
	fetch(t, p, 2, 1)
	wantOK(t, "WaitForAck", p.WaitForAck(canceled(), info.LeaderEpoch, info.LastOffset))

	clk.advance(11 * time.Second)
	_, err = produce(t, p, -1, plain(1))
	wantErr(t, "acks=all with the only follower lagging", err, ErrNotEnoughReplicas)
	if _, err := produce(t, p, 1, plain(1)); err != nil {
		t.Fatalf("acks=1 with the only follower lagging: %v", err)
	}
	fetch(t, p, 2, 2)
	if _, err := produce(t, p, -1, plain(1)); err != nil {
		t.Fatalf("acks=all once the follower caught up again: %v", err)
	}
}

// TestReassignedAwayReplicaForgotten: a follower moved off the partition (same leader epoch,
// new replicas) and later moved back has deleted its copy; the leader must not remember its old
// log end and put it back in the ISR before it has fetched again.
func TestReassignedAwayReplicaForgotten(t *testing.T) {
	clk := newClock()
	p := newPartition(t, "", Config{MinInsyncReplicas: 1, ReplicaLagTimeMax: 10 * time.Second, Now: clk.now})
	wantOK(t, "BecomeLeader", p.BecomeLeader(3, 7, []int32{self, 2}, []int32{self, 2}))
	mustProduce(t, p, plain(2))
	fetch(t, p, 2, 2) // 2 has everything
	wantOK(t, "move 2 away", p.BecomeLeader(3, 8, []int32{self, 3}, []int32{self}))
	wantOK(t, "move 2 back", p.BecomeLeader(3, 9, []int32{self, 2}, []int32{self}))
	if c, ok := p.WantedISRChange(clk.now()); ok {
		t.Fatalf("ISR change %+v before the returning replica fetched", c)
	}
	fetch(t, p, 2, 2)
	if c, ok := p.WantedISRChange(clk.now()); !ok || !slices.Equal(c.ISR, []int32{self, 2}) {
		t.Fatalf("after it caught up: %+v, %v", c, ok)
	}
}
