package partition

import (
	"context"
	"testing"
	"time"

	"github.com/minikraft/minikraft/log"
)

// canceled is a context that is already done: a wait that must not block returns under it, and
// one that would block returns ErrTimeout at once.
func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func wantHW(t *testing.T, p *Partition, hw, leo int64) {
	t.Helper()
	if got := p.HighWatermark(); got != hw {
		t.Fatalf("HighWatermark = %d, want %d", got, hw)
	}
	if got := p.LogEndOffset(); got != leo {
		t.Fatalf("LogEndOffset = %d, want %d", got, leo)
	}
}

func TestRolesGateAppendsAndReads(t *testing.T) {
	p := newPartition(t, "", Config{})

	// No role yet: everything that needs one is refused.
	if id, epoch := p.Leader(); id != -1 || epoch != -1 {
		t.Fatalf("Leader() of a new partition = %d, %d; want -1, -1", id, epoch)
	}
	if p.IsLeader() {
		t.Fatal("a new partition claims to lead")
	}
	_, err := produce(t, p, 1, plain(1))
	wantErr(t, "append before any role", err, ErrNotLeader)
	_, err = p.Read(0, 1<<20, -1, -1)
	wantErr(t, "consumer read before any role", err, ErrNotLeader)
	_, err = p.Read(0, 1<<20, 2, -1)
	wantErr(t, "replica read before any role", err, ErrNotLeader)
	_, err = p.DeleteRecordsBefore(-1)
	wantErr(t, "delete records before any role", err, ErrNotLeader)
	wantHW(t, p, 0, 0)

	// Follower: still refused, and the leader it follows is reported.
	wantOK(t, "BecomeFollower", p.BecomeFollower(2, 3, 3, []int32{2, self}))
	if id, epoch := p.Leader(); id != 2 || epoch != 3 {
		t.Fatalf("Leader() as follower = %d, %d; want 2, 3", id, epoch)
	}
	if p.IsLeader() {
		t.Fatal("IsLeader as follower")
	}
	_, err = produce(t, p, -1, plain(1))
	wantErr(t, "append as follower", err, ErrNotLeader)
	_, err = p.Read(0, 1<<20, -1, 3)
	wantErr(t, "read as follower", err, ErrNotLeader)
	wantHW(t, p, 0, 0)

	// Leader: accepted.
	soleLeader(t, p, 4)
	if id, epoch := p.Leader(); id != self || epoch != 4 || !p.IsLeader() {
		t.Fatalf("Leader() = %d, %d, IsLeader %v; want %d, 4, true", id, epoch, p.IsLeader(), self)
	}
	if info := mustProduce(t, p, plain(2)); info.BaseOffset != 0 || info.LastOffset != 1 {
		t.Fatalf("first append = %+v, want offsets 0..1", info)
	}
	if _, err := p.Read(0, 1<<20, -1, 4); err != nil {
		t.Fatalf("read as leader: %v", err)
	}
	if e, ok := p.Log().LatestEpoch(); !ok || e != 4 {
		t.Fatalf("log's latest epoch = %d, %v; want 4", e, ok)
	}

	// Demoted: refused again; the data stays.
	wantOK(t, "BecomeFollower", p.BecomeFollower(2, 5, 5, []int32{2, self}))
	_, err = produce(t, p, 1, plain(1))
	wantErr(t, "append after demotion", err, ErrNotLeader)
	_, err = p.Read(0, 1<<20, -1, 5)
	wantErr(t, "read after demotion", err, ErrNotLeader)
	_, err = p.DeleteRecordsBefore(-1)
	wantErr(t, "delete records after demotion", err, ErrNotLeader)
	wantHW(t, p, 2, 2)

	// Leader again at a new epoch: appends continue where the log ends, and the epoch cache
	// knows where epoch 6 starts.
	soleLeader(t, p, 6)
	if info := mustProduce(t, p, plain(1)); info.BaseOffset != 2 {
		t.Fatalf("append after re-election = %+v, want base offset 2", info)
	}
	if e, end := p.Log().EndOffsetForEpoch(4); e != 4 || end != 2 {
		t.Fatalf("EndOffsetForEpoch(4) = %d, %d; want 4, 2", e, end)
	}

	// Closed: everything is refused with ErrClosed.
	wantOK(t, "Close", p.Close())
	wantOK(t, "second Close", p.Close())
	if p.IsLeader() {
		t.Fatal("IsLeader after Close")
	}
	_, err = produce(t, p, 1, plain(1))
	wantErr(t, "append after Close", err, ErrClosed)
	_, err = p.Read(0, 1<<20, -1, -1)
	wantErr(t, "read after Close", err, ErrClosed)
	wantErr(t, "BecomeLeader after Close", p.BecomeLeader(7, 7, []int32{self}, []int32{self}), ErrClosed)
	wantErr(t, "BecomeFollower after Close", p.BecomeFollower(2, 7, 7, []int32{self}), ErrClosed)
	_, err = p.DeleteRecordsBefore(-1)
	wantErr(t, "delete records after Close", err, ErrClosed)
}

func TestHighWatermarkFollowsLogEndWithSoleISR(t *testing.T) {
	p := newPartition(t, "", Config{MinInsyncReplicas: 1})
	soleLeader(t, p, 0)
	wantHW(t, p, 0, 0)

	var next int64
	for _, n := range []int{1, 3, 5} {
		info, err := produce(t, p, -1, plain(n))
		wantOK(t, "append", err)
		want := AppendInfo{BaseOffset: next, LastOffset: next + int64(n) - 1, LogAppendTime: -1, LogStartOffset: 0}
		if info != want {
			t.Fatalf("append of %d records = %+v, want %+v", n, info, want)
		}
		next += int64(n)
		wantHW(t, p, next, next)
		// acks=all with an ISR of one: committed at once, even under a done context.
		wantOK(t, "WaitForAck of a committed offset", p.WaitForAck(canceled(), info.LeaderEpoch, info.LastOffset))
	}

	res, err := p.Read(0, 1<<20, -1, 0)
	wantOK(t, "read", err)
	if res.HighWatermark != 9 || res.LastStableOffset != 9 || res.LogStartOffset != 0 {
		t.Fatalf("read result marks = hw %d lso %d start %d; want 9, 9, 0", res.HighWatermark, res.LastStableOffset, res.LogStartOffset)
	}
	hs := headers(t, res.Records)
	if len(hs) != 3 || hs[0].BaseOffset != 0 || hs[1].BaseOffset != 1 || hs[2].BaseOffset != 4 || hs[2].LastOffset() != 8 {
		t.Fatalf("read returned batches %+v", hs)
	}
	for _, h := range hs {
		if h.PartitionLeaderEpoch != 0 {
			t.Fatalf("batch at %d stored with leader epoch %d, want 0", h.BaseOffset, h.PartitionLeaderEpoch)
		}
	}

	// At least one whole batch, however small maxBytes is.
	res, err = p.Read(1, 1, -1, -1)
	wantOK(t, "small read", err)
	if hs := headers(t, res.Records); len(hs) != 1 || hs[0].BaseOffset != 1 {
		t.Fatalf("read with maxBytes 1 returned %+v, want the batch at 1 only", hs)
	}
	// At the end: nothing, no error. Past it: out of range.
	res, err = p.Read(9, 1<<20, -1, -1)
	if err != nil || len(res.Records) != 0 {
		t.Fatalf("read at the log end = %d bytes, %v; want nothing", len(res.Records), err)
	}
	_, err = p.Read(10, 1<<20, -1, -1)
	wantErr(t, "read past the log end", err, log.ErrOffsetOutOfRange)
}

func TestReadBoundedByHighWatermarkForConsumers(t *testing.T) {
	p := newPartition(t, "", Config{MinInsyncReplicas: 1})
	soleLeader(t, p, 0)
	mustProduce(t, p, plain(2))
	wantHW(t, p, 2, 2)

	// A second replica joins the ISR. Until it has fetched, it holds the high watermark.
	wantOK(t, "BecomeLeader", p.BecomeLeader(1, 1, []int32{self, 2}, []int32{self, 2}))
	if isr := p.ISR(); len(isr) != 2 {
		t.Fatalf("ISR = %v", isr)
	}
	info := mustProduce(t, p, plain(3))
	if info.BaseOffset != 2 || info.LastOffset != 4 {
		t.Fatalf("append = %+v", info)
	}
	wantHW(t, p, 2, 5)

	res, err := p.Read(0, 1<<20, -1, 1)
	wantOK(t, "consumer read", err)
	if hs := headers(t, res.Records); len(hs) != 1 || hs[0].LastOffset() != 1 || res.HighWatermark != 2 {
		t.Fatalf("consumer read = %+v, hw %d; want only the committed batch 0..1, hw 2", hs, res.HighWatermark)
	}
	res, err = p.Read(2, 1<<20, -1, 1)
	if err != nil || len(res.Records) != 0 {
		t.Fatalf("consumer read at the high watermark = %d bytes, %v; want nothing", len(res.Records), err)
	}
	// A follower reads up to the log end.
	res, err = p.Read(2, 1<<20, 2, 1)
	wantOK(t, "follower read", err)
	if hs := headers(t, res.Records); len(hs) != 1 || hs[0].BaseOffset != 2 || hs[0].LastOffset() != 4 || res.HighWatermark != 2 {
		t.Fatalf("follower read = %+v, hw %d; want the batch 2..4, hw 2", hs, res.HighWatermark)
	}

	// The uncommitted write is not acknowledged: the wait ends with the context.
	wantErr(t, "WaitForAck under a done context", p.WaitForAck(canceled(), info.LeaderEpoch, info.LastOffset), ErrTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	wantErr(t, "WaitForAck past its deadline", p.WaitForAck(ctx, info.LeaderEpoch, info.LastOffset), ErrTimeout)
	// The committed part is.
	wantOK(t, "WaitForAck of the committed offset", p.WaitForAck(canceled(), info.LeaderEpoch, 1))
}

func TestMinInsyncReplicas(t *testing.T) {
	cfg := Config{Topic: "t", NodeID: self, MinInsyncReplicas: 2, ReplicaLagTimeMax: 30 * time.Second}
	p := newPartition(t, "", cfg)
	soleLeader(t, p, 0)

	_, err := produce(t, p, -1, plain(1))
	wantErr(t, "acks=all with ISR 1 < min 2", err, ErrNotEnoughReplicas)
	// A refused idempotent batch leaves no producer state behind.
	_, err = produce(t, p, -1, idem(7, 0, 0, 1))
	wantErr(t, "idempotent acks=all with ISR 1 < min 2", err, ErrNotEnoughReplicas)
	wantHW(t, p, 0, 0)

	// acks=1 and acks=0 do not care about min.insync.replicas.
	info, err := produce(t, p, 1, idem(7, 0, 0, 1))
	if err != nil || info.Duplicate || info.BaseOffset != 0 {
		t.Fatalf("acks=1 append = %+v, %v; want a fresh append at 0", info, err)
	}
	if _, err := produce(t, p, 0, plain(1)); err != nil {
		t.Fatalf("acks=0 append: %v", err)
	}
	wantHW(t, p, 2, 2)

	// With two in sync, acks=all is accepted.
	wantOK(t, "BecomeLeader", p.BecomeLeader(0, 1, []int32{self, 2}, []int32{self, 2}))
	if _, err := produce(t, p, -1, plain(1)); err != nil {
		t.Fatalf("acks=all with ISR 2 = min 2: %v", err)
	}
	wantHW(t, p, 2, 3)

	// min.insync.replicas raised at run time.
	cfg.MinInsyncReplicas = 3
	p.SetConfig(cfg)
	_, err = produce(t, p, -1, plain(1))
	wantErr(t, "acks=all with ISR 2 < min 3", err, ErrNotEnoughReplicas)
	wantHW(t, p, 2, 3)
}

func TestWaitForAckEndsWithLeadership(t *testing.T) {
	p := newPartition(t, "", Config{MinInsyncReplicas: 1})
	wantOK(t, "BecomeLeader", p.BecomeLeader(0, 0, []int32{self, 2}, []int32{self, 2}))
	info, err := produce(t, p, -1, plain(1))
	wantOK(t, "append", err)

	done := make(chan error, 1)
	go func() { done <- p.WaitForAck(context.Background(), info.LeaderEpoch, info.LastOffset) }()
	wantOK(t, "BecomeFollower", p.BecomeFollower(2, 1, 1, []int32{self, 2}))
	select {
	case err := <-done:
		wantErr(t, "WaitForAck after BecomeFollower", err, ErrNotLeader)
	case <-time.After(20 * time.Second):
		t.Fatal("WaitForAck did not return after BecomeFollower")
	}
	// Asked afresh, it answers at once.
	wantErr(t, "WaitForAck as follower", p.WaitForAck(context.Background(), info.LeaderEpoch, info.LastOffset), ErrNotLeader)
}

func TestWaitForAckEndsWithClose(t *testing.T) {
	p := newPartition(t, "", Config{MinInsyncReplicas: 1})
	wantOK(t, "BecomeLeader", p.BecomeLeader(0, 0, []int32{self, 2}, []int32{self, 2}))
	info, err := produce(t, p, -1, plain(1))
	wantOK(t, "append", err)
	done := make(chan error, 1)
	go func() { done <- p.WaitForAck(context.Background(), info.LeaderEpoch, info.LastOffset) }()
	wantOK(t, "Close", p.Close())
	select {
	case err := <-done:
		wantErr(t, "WaitForAck after Close", err, ErrClosed)
	case <-time.After(20 * time.Second):
		t.Fatal("WaitForAck did not return after Close")
	}
}

// An acks=all write must not be acknowledged once the ISR has shrunk below min.insync.replicas,
// even though the shrink lets the high watermark pass it: Kafka's
// Partition.checkEnoughReplicasReachOffset answers NOT_ENOUGH_REPLICAS_AFTER_APPEND when the high
// watermark has reached the offset but the ISR is smaller than min.insync.replicas.
func TestWaitForAckAfterISRShrinksBelowMin(t *testing.T) {
	p := newPartition(t, "", Config{MinInsyncReplicas: 2})
	wantOK(t, "BecomeLeader", p.BecomeLeader(0, 0, []int32{self, 2}, []int32{self, 2}))
	info, err := produce(t, p, -1, plain(1))
	wantOK(t, "acks=all append with ISR 2 = min 2", err)
	wantHW(t, p, 0, 1)

	done := make(chan error, 1)
	go func() { done <- p.WaitForAck(context.Background(), info.LeaderEpoch, info.LastOffset) }()
	// Replica 2 falls out of the ISR (same leader epoch, new partition epoch): only the leader
	// has the record now, and the high watermark moves past it.
	wantOK(t, "shrink ISR", p.BecomeLeader(0, 1, []int32{self, 2}, []int32{self}))
	wantHW(t, p, 1, 1)
	select {
	case err := <-done:
		wantErr(t, "WaitForAck after the ISR shrank below min.insync.replicas", err, ErrNotEnoughReplicasAfterAppend)
	case <-time.After(20 * time.Second):
		t.Fatal("WaitForAck did not return after the ISR shrank")
	}
}

// received reports whether ch holds a signal, without waiting: notifications are sent under the
// partition's mutex by the call that changed it, so they are there when that call returns.
func received(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestRegisterWakesAndCancelRemoves(t *testing.T) {
	p := newPartition(t, "", Config{})
	soleLeader(t, p, 0)

	ch := make(chan struct{}, 1)
	cancel := p.Register(ch)
	// A watcher nobody drains must never block the partition.
	stuck := make(chan struct{})
	cancelStuck := p.Register(stuck)
	defer cancelStuck()

	mustProduce(t, p, plain(1))
	if !received(ch) {
		t.Fatal("append that moved the high watermark did not wake the watcher")
	}
	mustProduce(t, p, plain(1))
	mustProduce(t, p, plain(1))
	if !received(ch) || received(ch) {
		t.Fatal("signals on a one-slot channel do not coalesce to one")
	}

	cancel()
	mustProduce(t, p, plain(1))
	if received(ch) {
		t.Fatal("canceled watcher was woken")
	}
	cancel() // twice is harmless

	// One channel registered twice (a fetch waiting on two partitions registers once with
	// each): canceling one registration keeps the other.
	c1, c2 := p.Register(ch), p.Register(ch)
	c1()
	mustProduce(t, p, plain(1))
	if !received(ch) {
		t.Fatal("remaining registration did not wake")
	}
	c2()

	// Role changes, ISR changes, deleted records and Close wake watchers too.
	cancel = p.Register(ch)
	defer cancel()
	_, err := p.DeleteRecordsBefore(2)
	wantOK(t, "DeleteRecordsBefore", err)
	if !received(ch) {
		t.Fatal("DeleteRecordsBefore did not wake the watcher")
	}
	wantOK(t, "BecomeLeader", p.BecomeLeader(0, 1, []int32{self, 2}, []int32{self, 2}))
	if !received(ch) {
		t.Fatal("ISR change did not wake the watcher")
	}
	wantOK(t, "BecomeFollower", p.BecomeFollower(2, 1, 2, []int32{self, 2}))
	if !received(ch) {
		t.Fatal("BecomeFollower did not wake the watcher")
	}
	wantOK(t, "Close", p.Close())
	if !received(ch) {
		t.Fatal("Close did not wake the watcher")
	}
}

func TestDeleteRecordsBefore(t *testing.T) {
	p := newPartition(t, "", Config{})
	soleLeader(t, p, 0)
	mustProduce(t, p, plain(5))
	mustProduce(t, p, plain(5))
	wantHW(t, p, 10, 10)

	start, err := p.DeleteRecordsBefore(3)
	if err != nil || start != 3 || p.LogStartOffset() != 3 {
		t.Fatalf("DeleteRecordsBefore(3) = %d, %v; start now %d; want 3", start, err, p.LogStartOffset())
	}
	_, err = p.Read(0, 1<<20, -1, -1)
	wantErr(t, "read below the log start", err, log.ErrOffsetOutOfRange)
	res, err := p.Read(3, 1<<20, -1, -1)
	wantOK(t, "read at the new log start", err)
	if res.LogStartOffset != 3 {
		t.Fatalf("read reports log start %d, want 3", res.LogStartOffset)
	}
	if hs := headers(t, res.Records); len(hs) != 2 || hs[0].BaseOffset != 0 {
		t.Fatalf("read at 3 = %+v, want the batch holding 3 and the next", hs)
	}

	// Backwards: a no-op that reports the current start.
	if start, err := p.DeleteRecordsBefore(2); err != nil || start != 3 {
		t.Fatalf("DeleteRecordsBefore(2) = %d, %v; want 3, nil", start, err)
	}
	// Beyond the high watermark, or a negative offset other than -1: out of range.
	_, err = p.DeleteRecordsBefore(11)
	wantErr(t, "DeleteRecordsBefore past the log end", err, log.ErrOffsetOutOfRange)
	_, err = p.DeleteRecordsBefore(-2)
	wantErr(t, "DeleteRecordsBefore(-2)", err, log.ErrOffsetOutOfRange)

	// Uncommitted records cannot be deleted, even though they are in the log.
	wantOK(t, "BecomeLeader", p.BecomeLeader(1, 1, []int32{self, 2}, []int32{self, 2}))
	mustProduce(t, p, plain(2))
	wantHW(t, p, 10, 12)
	_, err = p.DeleteRecordsBefore(11)
	wantErr(t, "DeleteRecordsBefore above the high watermark", err, log.ErrOffsetOutOfRange)
	if p.LogStartOffset() != 3 {
		t.Fatalf("refused delete moved the log start to %d", p.LogStartOffset())
	}

	// -1 means the high watermark.
	if start, err := p.DeleteRecordsBefore(-1); err != nil || start != 10 || p.LogStartOffset() != 10 {
		t.Fatalf("DeleteRecordsBefore(-1) = %d, %v; start now %d; want 10", start, err, p.LogStartOffset())
	}
	res, err = p.Read(10, 1<<20, -1, -1)
	if err != nil || len(res.Records) != 0 || res.LogStartOffset != 10 {
		t.Fatalf("consumer read at 10 = %d bytes, start %d, %v; want nothing, start 10", len(res.Records), res.LogStartOffset, err)
	}
	res, err = p.Read(10, 1<<20, 2, -1)
	wantOK(t, "follower read at 10", err)
	if hs := headers(t, res.Records); len(hs) != 1 || hs[0].BaseOffset != 10 {
		t.Fatalf("follower read at 10 = %+v", hs)
	}
}

func TestCheckLeaderEpoch(t *testing.T) {
	p := newPartition(t, "", Config{})
	wantOK(t, "no epoch given", p.CheckLeaderEpoch(-1))

	soleLeader(t, p, 5)
	mustProduce(t, p, plain(1))
	wantOK(t, "current epoch", p.CheckLeaderEpoch(5))
	wantOK(t, "no epoch given", p.CheckLeaderEpoch(-1))
	wantErr(t, "older epoch", p.CheckLeaderEpoch(4), ErrFencedLeaderEpoch)
	wantErr(t, "newer epoch", p.CheckLeaderEpoch(6), ErrUnknownLeaderEpoch)

	_, err := p.Read(0, 1<<20, -1, 4)
	wantErr(t, "read with an older epoch", err, ErrFencedLeaderEpoch)
	_, err = p.Read(0, 1<<20, -1, 6)
	wantErr(t, "read with a newer epoch", err, ErrUnknownLeaderEpoch)
	_, err = p.Read(0, 1<<20, 2, 4)
	wantErr(t, "replica read with an older epoch", err, ErrFencedLeaderEpoch)
	if _, err := p.Read(0, 1<<20, -1, 5); err != nil {
		t.Fatalf("read with the current epoch: %v", err)
	}

	// As a follower the epoch is still checked first (KIP-320), then the role.
	wantOK(t, "BecomeFollower", p.BecomeFollower(2, 7, 7, []int32{self, 2}))
	_, err = p.Read(0, 1<<20, -1, 6)
	wantErr(t, "follower read with an older epoch", err, ErrFencedLeaderEpoch)
	_, err = p.Read(0, 1<<20, -1, 8)
	wantErr(t, "follower read with a newer epoch", err, ErrUnknownLeaderEpoch)
	_, err = p.Read(0, 1<<20, -1, 7)
	wantErr(t, "follower read with the current epoch", err, ErrNotLeader)
}

// TestAcksAlone: only a leader with no other replica in its ISR acknowledges acks=all writes at
// append; a follower, a leader with a follower in its ISR, and a closed partition do not.
func TestAcksAlone(t *testing.T) {
	p := newPartition(t, "", Config{MinInsyncReplicas: 1})
	if p.AcksAlone() {
		t.Fatal("a replica with no role acknowledges alone")
	}
	soleLeader(t, p, 1)
	if !p.AcksAlone() {
		t.Fatal("the sole replica does not acknowledge alone")
	}
	info := mustProduce(t, p, plain(1))
	if done, err := p.Acked(info.LeaderEpoch, info.LastOffset); !done || err != nil {
		t.Fatalf("Acked after an append alone = %v, %v", done, err)
	}
	wantOK(t, "BecomeLeader", p.BecomeLeader(2, 2, []int32{self, 2}, []int32{self, 2}))
	if p.AcksAlone() {
		t.Fatal("a leader with a follower in its ISR acknowledges alone")
	}
	wantOK(t, "shrink ISR", p.BecomeLeader(2, 3, []int32{self, 2}, []int32{self}))
	if !p.AcksAlone() {
		t.Fatal("a leader whose ISR shrank to itself does not acknowledge alone")
	}
	wantOK(t, "BecomeFollower", p.BecomeFollower(2, 3, 4, []int32{self, 2}))
	if p.AcksAlone() {
		t.Fatal("a follower acknowledges alone")
	}
	soleLeader(t, p, 4)
	p.Close()
	if p.AcksAlone() {
		t.Fatal("a closed partition acknowledges alone")
	}
}
