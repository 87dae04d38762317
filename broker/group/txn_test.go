package group

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnReq is a TxnOffsetCommit v3 of producer pid (epoch 0) for one partition of topic "t", as a
// simple consumer (generation -1, no member) unless changed.
func txnReq(group string, pid int64, partition int32, offset int64) *kmsg.TxnOffsetCommitRequest {
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.Version = 3
	req.TransactionalID = "tx"
	req.Group, req.ProducerID, req.ProducerEpoch = group, pid, 0
	p := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	p.Partition, p.Offset, p.LeaderEpoch, p.Metadata = partition, offset, 3, kmsg.StringPtr("txn-md")
	req.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{p}}}
	return req
}

func (r *rig) txnCommit(req *kmsg.TxnOffsetCommitRequest) int16 {
	r.t.Helper()
	resp := r.c.TxnOffsetCommit(r.ctx, req)
	if resp.Version != req.Version || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		r.t.Fatalf("TxnOffsetCommit answer %+v", resp)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// offset fetches one partition of topic "t": its offset and error code, with RequireStable or not.
func (r *rig) offset(group string, partition int32, requireStable bool) (int64, int16) {
	r.t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 7
	req.Group = group
	req.RequireStable = requireStable
	req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{partition}}}
	f := r.c.OffsetFetch(r.ctx, req)
	if f.ErrorCode != 0 {
		r.t.Fatalf("fetch: %+v", f)
	}
	p := f.Topics[0].Partitions[0]
	return p.Offset, p.ErrorCode
}

// wantOffset checks the offset OffsetFetch gives with RequireStable (which must be stable) and
// without.
func (r *rig) wantOffset(group string, partition int32, want int64) {
	r.t.Helper()
	if off, code := r.offset(group, partition, true); off != want || code != 0 {
		r.t.Fatalf("%s t-%d (stable): offset %d code %d, want %d", group, partition, off, code, want)
	}
	if off, code := r.offset(group, partition, false); off != want || code != 0 {
		r.t.Fatalf("%s t-%d: offset %d code %d, want %d", group, partition, off, code, want)
	}
}

// wantUnstable checks that RequireStable gets UNSTABLE_OFFSET_COMMIT and a plain fetch the last
// committed offset.
func (r *rig) wantUnstable(group string, partition int32, committed int64) {
	r.t.Helper()
	if off, code := r.offset(group, partition, true); off != -1 || code != kerr.UnstableOffsetCommit.Code {
		r.t.Fatalf("%s t-%d (stable): offset %d code %d, want UNSTABLE_OFFSET_COMMIT", group, partition, off, code)
	}
	if off, code := r.offset(group, partition, false); off != committed || code != 0 {
		r.t.Fatalf("%s t-%d: offset %d code %d, want the committed %d", group, partition, off, code, committed)
	}
}

// end ends producer pid's transaction in partition 0 as the partition leader does: the marker is
// written to the log, then the coordinator is told.
func (r *rig) end(pid int64, commit bool) {
	r.store.marker(0, pid, commit)
	r.c.CompleteTxn(0, pid, commit)
}

// restart replaces the coordinator by a new one over the same log (a failover) and loads it.
func (r *rig) restart() {
	r.t.Helper()
	r.c.Close()
	cfg := DefaultConfig()
	cfg.NumPartitions, cfg.Now, cfg.AfterFunc = 1, r.clk.Now, r.clk.AfterFunc
	r.c = NewCoordinator(cfg, r.store)
	if err := r.c.Elected(context.Background(), 0); err != nil {
		r.t.Fatal(err)
	}
}

func TestTxnOffsetCommitCommitAndAbort(t *testing.T) {
	r := newRig(t, nil)
	defer func() { r.c.Close() }()
	if code := r.commit("g", "", -1, "t", 0, 1); code != 0 {
		t.Fatalf("regular commit %d", code)
	}
	// A group that does not exist is created by a generation -1 commit.
	if code := r.txnCommit(txnReq("g", 7, 0, 10)); code != 0 {
		t.Fatalf("txn commit %d", code)
	}
	if code := r.txnCommit(txnReq("new", 7, 1, 20)); code != 0 {
		t.Fatalf("txn commit to a new group %d", code)
	}
	r.wantUnstable("g", 0, 1)
	r.wantUnstable("new", 1, -1)
	r.wantOffset("g", 1, -1) // other partitions are not held

	// The records are the producer's transactional batch: Kafka's key and value.
	recs := r.store.records(0)
	last := recs[len(recs)-1]
	var k kmsg.OffsetCommitKey
	var v kmsg.OffsetCommitValue
	if !last.Transactional || last.ProducerID != 7 || k.ReadFrom(last.Key) != nil || k.Group != "new" ||
		v.ReadFrom(last.Value) != nil || v.Offset != 20 || v.LeaderEpoch != 3 || v.Metadata != "txn-md" {
		t.Fatalf("record %+v key %+v value %+v", last, k, v)
	}

	// Another producer's marker changes nothing; this one's commit makes both visible.
	r.end(8, true)
	r.wantUnstable("g", 0, 1)
	r.end(7, true)
	r.wantOffset("g", 0, 10)
	r.wantOffset("new", 1, 20)
	if f := r.fetch(7, "g", "t", 0); f.Topics[0].Partitions[0].Metadata == nil || *f.Topics[0].Partitions[0].Metadata != "txn-md" {
		t.Fatalf("metadata %+v", f)
	}

	// Aborted: dropped, the committed offset stays.
	if code := r.txnCommit(txnReq("g", 7, 0, 30)); code != 0 {
		t.Fatalf("txn commit %d", code)
	}
	r.wantUnstable("g", 0, 10)
	r.end(7, false)
	r.wantOffset("g", 0, 10)
	// A repeated marker finds nothing.
	r.end(7, true)
	r.wantOffset("g", 0, 10)

	// Two producers hold the same partition: stable only when both are done.
	r.txnCommit(txnReq("g", 1, 0, 40))
	r.txnCommit(txnReq("g", 2, 0, 41))
	r.end(2, true)
	r.wantUnstable("g", 0, 41)
	r.end(1, true) // its record is earlier in the log than producer 2's: 41 stays
	r.wantOffset("g", 0, 41)

	// The log says the same after a failover.
	r.restart()
	r.wantOffset("g", 0, 41)
	r.wantOffset("new", 1, 20)
}

// TestTxnOffsetCommitOrderedByLog: of a regular and a transactional commit of one partition, the
// one later in the log wins, whenever the marker comes (Kafka's olderThan), in memory and when the
// log is replayed.
func TestTxnOffsetCommitOrderedByLog(t *testing.T) {
	r := newRig(t, nil)
	defer func() { r.c.Close() }()
	// Transactional first, then a regular commit: the marker must not bring back the older one.
	r.txnCommit(txnReq("g", 1, 0, 100))
	if code := r.commit("g", "", -1, "t", 0, 200); code != 0 {
		t.Fatalf("commit %d", code)
	}
	r.wantUnstable("g", 0, 200)
	r.end(1, true)
	r.wantOffset("g", 0, 200)
	// Regular first, then transactional: the marker applies it.
	r.txnCommit(txnReq("g", 1, 1, 300))
	r.end(1, true)
	r.commit("g", "", -1, "t", 2, 5)
	r.txnCommit(txnReq("g", 2, 2, 6))
	r.end(2, true)
	r.wantOffset("g", 2, 6)

	r.restart()
	r.wantOffset("g", 0, 200)
	r.wantOffset("g", 1, 300)
	r.wantOffset("g", 2, 6)
}

// TestTxnOffsetsReplay: a load sees transactional records pending until their producer's marker:
// committed ones applied, aborted ones dropped, and those of a transaction still open pending,
// completed by a marker after the load.
func TestTxnOffsetsReplay(t *testing.T) {
	r := newRig(t, nil)
	defer func() { r.c.Close() }()
	r.txnCommit(txnReq("g", 1, 0, 10))
	r.txnCommit(txnReq("g", 2, 1, 20))
	r.txnCommit(txnReq("h", 3, 0, 30)) // a group with nothing but pending offsets
	r.store.marker(0, 1, true)
	r.store.marker(0, 2, false)
	r.store.marker(0, 99, true) // a marker of a producer with nothing here
	// A control record that is not a marker is not one.
	r.store.mu.Lock()
	r.store.logs[0] = append(r.store.logs[0], Record{Key: []byte{0, 0, 0, 5}, ProducerID: 3, Transactional: true, Control: true})
	r.store.mu.Unlock()

	r.restart()
	r.wantOffset("g", 0, 10)
	r.wantOffset("g", 1, -1)
	r.wantUnstable("h", 0, -1)
	if d := r.describe("h"); d.State != "Empty" || d.ErrorCode != 0 {
		t.Fatalf("group with pending offsets only: %+v", d)
	}
	// The open transaction's marker reaches the new coordinator: it completes it.
	r.end(3, true)
	r.wantOffset("h", 0, 30)
}

// TestTxnMarkerWhileLoading: a marker written while the partition loads is applied once it is
// loaded, whether or not the replay read it.
func TestTxnMarkerWhileLoading(t *testing.T) {
	r := newRig(t, nil)
	defer func() { r.c.Close() }()
	r.txnCommit(txnReq("g", 1, 0, 10))
	r.c.Resigned(0)
	release := make(chan struct{})
	r.store.mu.Lock()
	r.store.replayFn = func(ctx context.Context) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.store.mu.Unlock()
	elected := make(chan error, 1)
	go func() { elected <- r.c.Elected(context.Background(), 0) }()
	eventually(t, "loading", func() bool { return r.fetch(7, "g", "t", 0).ErrorCode == kerr.CoordinatorLoadInProgress.Code })
	if code := r.txnCommit(txnReq("g", 1, 1, 5)); code != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("txn commit while loading: %d", code)
	}
	v1 := txnReq("g", 1, 1, 5)
	v1.Version = 1 // producers before 2.0 do not retry LOAD_IN_PROGRESS
	if code := r.txnCommit(v1); code != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("v1 txn commit while loading: %d", code)
	}
	r.c.CompleteTxn(0, 1, true) // the replay above has not read this marker: there is none in the log
	close(release)
	if err := <-elected; err != nil {
		t.Fatal(err)
	}
	r.wantOffset("g", 0, 10)
}

func TestTxnOffsetCommitValidation(t *testing.T) {
	h := newHarness(t, nil)
	ids, gen := h.stableGroup(1, withInstance("static-0"))
	commit := func(member string, generation int32, instance *string) int16 {
		t.Helper()
		req := txnReq("g", 9, 0, 1)
		req.MemberID, req.Generation, req.InstanceID = member, generation, instance
		w := h.waiter(req.Version)
		h.g.txnCommitOffsets(h.now, w, req, &Producer{ID: 9})
		h.collect()
		h.flush(nil)
		r, ok := h.replies[w.id].(*kmsg.TxnOffsetCommitResponse)
		if !ok {
			t.Fatal("no TxnOffsetCommit answer")
		}
		return r.Topics[0].Partitions[0].ErrorCode
	}
	inst := func(s string) *string { return &s }
	member0 := ids[0]
	for _, c := range []struct {
		name     string
		member   string
		gen      int32
		instance *string
		want     int16
	}{
		{"member of the generation", member0, gen, inst("static-0"), 0},
		{"wrong generation", member0, gen + 1, inst("static-0"), kerr.IllegalGeneration.Code},
		{"unknown member", "stranger", gen, nil, kerr.UnknownMemberID.Code},
		{"fenced static member", "old-id", gen, inst("static-0"), kerr.FencedInstanceID.Code},
		{"unknown static member", member0, gen, inst("nobody"), kerr.UnknownMemberID.Code},
		// v0-v2 producers send no member: accepted whatever the group (Kafka: "older versions of
		// this protocol do not require memberId and generationId").
		{"no member", "", -1, nil, 0},
		{"member without generation", "stranger", -1, nil, kerr.UnknownMemberID.Code},
	} {
		if got := commit(c.member, c.gen, c.instance); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	// Oversized metadata is refused for that partition only.
	req := txnReq("g", 9, 0, 1)
	req.Topics[0].Partitions = append(req.Topics[0].Partitions, kmsg.TxnOffsetCommitRequestTopicPartition{Partition: 1, Offset: 2, Metadata: kmsg.StringPtr(string(make([]byte, 5000)))})
	w := h.waiter(3)
	h.g.txnCommitOffsets(h.now, w, req, &Producer{ID: 9})
	h.collect()
	h.flush(nil)
	if ps := h.replies[w.id].(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions; ps[0].ErrorCode != 0 || ps[1].ErrorCode != kerr.OffsetMetadataTooLarge.Code {
		t.Fatalf("partitions %+v", ps)
	}
	// A transactional commit does not care about a rebalance in progress (an OffsetCommit gets
	// REBALANCE_IN_PROGRESS in CompletingRebalance).
	h.join(member0, withInstance("static-0"))
	if !h.g.is(stateCompletingRebalance) {
		t.Fatalf("state %v", h.g.state)
	}
	if code := commit(member0, h.g.generation, inst("static-0")); code != 0 {
		t.Fatalf("commit while completing a rebalance: %d", code)
	}
}

func TestTxnOffsetCommitCoordinatorErrors(t *testing.T) {
	r := newRig(t, nil)
	defer r.c.Close()
	// A member of a group that does not exist: UNKNOWN_MEMBER_ID, and no group is made.
	req := txnReq("none", 1, 0, 1)
	req.MemberID, req.Generation = "m", 3
	if code := r.txnCommit(req); code != kerr.UnknownMemberID.Code {
		t.Fatalf("member of no group: %d", code)
	}
	if d := r.describe("none"); d.State != "Dead" {
		t.Fatalf("group created: %+v", d)
	}
	if code := r.txnCommit(txnReq("", 1, 0, 1)); code != kerr.InvalidGroupID.Code {
		t.Fatalf("empty group id: %d", code)
	}
	if code := r.txnCommit(txnReq("g", -1, 0, 1)); code != kerr.InvalidProducerIDMapping.Code {
		t.Fatalf("no producer id: %d", code)
	}
	req = txnReq("g", 1, 0, 1)
	req.ProducerEpoch = -1
	if code := r.txnCommit(req); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("no producer epoch: %d", code)
	}
	// Unknown topics are answered without the coordinator.
	r2 := newRig(t, func(c *Config) { c.TopicExists = func(topic string, _ int32) bool { return topic == "t" } })
	defer r2.c.Close()
	req = txnReq("g", 1, 0, 1)
	req.Topics = append(req.Topics, kmsg.TxnOffsetCommitRequestTopic{Topic: "gone", Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 0}}})
	resp := r2.c.TxnOffsetCommit(r2.ctx, req)
	if resp.Topics[0].Partitions[0].ErrorCode != 0 || resp.Topics[1].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic: %+v", resp)
	}
	// A failed write leaves nothing pending, and the error is Kafka's.
	r.store.mu.Lock()
	r.store.appendFn = func(int32, []Record) error { return kerr.NotEnoughReplicas }
	r.store.mu.Unlock()
	if code := r.txnCommit(txnReq("g", 1, 0, 1)); code != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("failed write: %d", code)
	}
	r.store.mu.Lock()
	r.store.appendFn = func(int32, []Record) error { return kerr.InvalidProducerEpoch }
	r.store.mu.Unlock()
	if code := r.txnCommit(txnReq("g", 1, 0, 1)); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("fenced producer: %d", code)
	}
	r.wantOffset("g", 0, -1)
	r.end(1, true)
	r.wantOffset("g", 0, -1)

	// A failed write (a fenced epoch of the same producer id) leaves the producer's durable
	// pending offset as it was.
	r.store.mu.Lock()
	r.store.appendFn = nil
	r.store.mu.Unlock()
	if code := r.txnCommit(txnReq("g", 1, 0, 5)); code != 0 {
		t.Fatalf("txn commit %d", code)
	}
	r.store.mu.Lock()
	r.store.appendFn = func(int32, []Record) error { return kerr.InvalidProducerEpoch }
	r.store.mu.Unlock()
	if code := r.txnCommit(txnReq("g", 1, 0, 6)); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("fenced producer: %d", code)
	}
	r.wantUnstable("g", 0, -1)
	r.end(1, true)
	r.wantOffset("g", 0, 5)
}

// TestTxnOffsetsDeleteAndExpiry: DeleteGroups deletes an Empty group's pending transactional
// offsets too (with tombstones, so a later commit marker cannot bring them back on a reload);
// expiry leaves a partition a transaction holds, and a group with pending offsets alive.
func TestTxnOffsetsDeleteAndExpiry(t *testing.T) {
	r := newRig(t, func(c *Config) {
		c.OffsetsRetention = time.Hour
		c.OffsetsRetentionCheckInterval = time.Minute
	})
	defer func() { r.c.Close() }()
	r.txnCommit(txnReq("del", 1, 0, 10))
	req := kmsg.NewPtrDeleteGroupsRequest()
	req.Version = 2
	req.Groups = []string{"del"}
	if d := r.c.DeleteGroups(r.ctx, req); d.Groups[0].ErrorCode != 0 {
		t.Fatalf("delete: %+v", d)
	}
	r.end(1, true)
	r.wantOffset("del", 0, -1)

	// "exp": a committed offset of t-0 held by a transaction, and a pending-only t-1.
	r.commit("exp", "", -1, "t", 0, 5)
	r.txnCommit(txnReq("exp", 2, 0, 6))
	r.txnCommit(txnReq("exp", 3, 1, 7))
	for range 90 {
		r.clk.Advance(time.Minute)
	}
	r.wantUnstable("exp", 0, 5)
	r.end(2, false)
	eventually(t, "t-0 to expire once no transaction holds it", func() bool {
		r.clk.Advance(time.Minute)
		off, _ := r.offset("exp", 0, false)
		return off == -1
	})
	if d := r.describe("exp"); d.State != "Empty" {
		t.Fatalf("group with a pending offset: %+v", d)
	}
	r.end(3, true)
	r.wantOffset("exp", 1, 7)

	// Expiry's tombstones are written in the background: wait for the one of t-0.
	eventually(t, "the tombstone of exp t-0", func() bool {
		recs := r.store.records(0)
		var k kmsg.OffsetCommitKey
		for _, rec := range recs {
			if rec.Value == nil && !rec.Control && k.ReadFrom(rec.Key) == nil && k.Group == "exp" && k.Partition == 0 {
				return true
			}
		}
		return false
	})
	r.restart()
	r.wantOffset("del", 0, -1)
	r.wantOffset("exp", 0, -1)
	r.wantOffset("exp", 1, 7)
}
