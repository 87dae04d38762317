package group

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *harness) fetch(requireStable bool, topic string, partitions ...int32) []fetchedPartition {
	if topic == "" {
		return h.g.fetchOffsets(nil, true, requireStable)
	}
	return h.g.fetchOffsets([]fetchTopic{{topic, partitions}}, false, requireStable)
}

func TestCommitFetchMetadataRoundTrip(t *testing.T) {
	h := newHarness(t, nil)
	// A simple consumer (no group membership) commits with generation -1 to an Empty group.
	w := h.commit("", -1, "t1", 3, 42, "some metadata ☃")
	if h.answered(w) {
		t.Fatal("commit answered before it is durable")
	}
	if f := h.fetch(true, "t1", 3); f[0].code != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("require-stable fetch while writing: %+v", f)
	}
	if f := h.fetch(false, "t1", 3); f[0].offset != -1 {
		t.Fatalf("fetch while writing: %+v", f)
	}
	h.flush(nil)
	if code := h.commitCode(w); code != 0 {
		t.Fatalf("commit: %d", code)
	}
	f := h.fetch(true, "t1", 3, 4)
	if f[0].offset != 42 || f[0].metadata != "some metadata ☃" || f[0].leaderEpoch != 7 || f[0].code != 0 {
		t.Fatalf("fetch %+v", f[0])
	}
	if f[1].offset != -1 || f[1].leaderEpoch != -1 {
		t.Fatalf("fetch of an uncommitted partition %+v", f[1])
	}
	// The record is Kafka's: OffsetCommitKey v1, OffsetCommitValue v3.
	var k kmsg.OffsetCommitKey
	var v kmsg.OffsetCommitValue
	if err := k.ReadFrom(h.written[0].Key); err != nil || k.Version != 1 || k.Group != "g" || k.Topic != "t1" || k.Partition != 3 {
		t.Fatalf("key %+v %v", k, err)
	}
	if err := v.ReadFrom(h.written[0].Value); err != nil || v.Version != 3 || v.Offset != 42 || v.LeaderEpoch != 7 ||
		v.Metadata != "some metadata ☃" || v.CommitTimestamp != t0.UnixMilli() {
		t.Fatalf("value %+v %v", v, err)
	}
	// Too much metadata is refused for that partition only.
	w = h.commit("", -1, "t1", 3, 43, strings.Repeat("x", 4097))
	if code := h.commitCode(w); code != kerr.OffsetMetadataTooLarge.Code {
		t.Fatalf("oversized metadata: %d", code)
	}
	// A failed write leaves the old offset.
	w = h.commit("", -1, "t1", 3, 44, "")
	h.flush(kerr.NotLeaderForPartition)
	if code := h.commitCode(w); code != kerr.NotCoordinator.Code {
		t.Fatalf("failed write: %d", code)
	}
	if f := h.fetch(true, "", 0); len(f) != 1 || f[0].offset != 42 {
		t.Fatalf("all offsets after a failed write: %+v", f)
	}
}

func TestCommitValidation(t *testing.T) {
	h := newHarness(t, nil)
	ids, gen := h.stableGroup(2)
	w := h.commit(ids[1], gen, "t1", 0, 1, "")
	h.flush(nil)
	if code := h.commitCode(w); code != 0 {
		t.Fatalf("member commit: %d", code)
	}
	if code := h.commitCode(h.commit(ids[1], gen+1, "t1", 0, 1, "")); code != kerr.IllegalGeneration.Code {
		t.Fatalf("wrong generation: %d", code)
	}
	if code := h.commitCode(h.commit("stranger", gen, "t1", 0, 1, "")); code != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member: %d", code)
	}
	if code := h.commitCode(h.commit("", -1, "t1", 0, 1, "")); code != kerr.UnknownMemberID.Code {
		t.Fatalf("simple commit to a group with members: %d", code)
	}
	h.join(ids[0])
	h.join(ids[1]) // now CompletingRebalance, generation gen+1
	if code := h.commitCode(h.commit(ids[1], gen+1, "t1", 0, 1, "")); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("commit while completing a rebalance: %d", code)
	}
}

func TestDeleteGroups(t *testing.T) {
	h := newHarness(t, nil)
	ids, gen := h.stableGroup(1)
	w := h.commit(ids[0], gen, "t1", 0, 10, "")
	h.flush(nil)
	h.commitCode(w)

	del := func() *kmsg.DeleteGroupsResponseGroup {
		w := h.waiter(2)
		h.g.deleteGroup(h.now, w)
		h.collect()
		h.flush(nil)
		r, ok := h.replies[w.id].(*kmsg.DeleteGroupsResponse)
		if !ok {
			t.Fatal("no DeleteGroups answer")
		}
		return &r.Groups[0]
	}
	if d := del(); d.ErrorCode != kerr.NonEmptyGroup.Code {
		t.Fatalf("delete a Stable group: %+v", d)
	}
	h.g.leaveGroup(h.now, h.waiter(3), []kmsg.LeaveGroupRequestMember{{MemberID: ids[0]}})
	h.collect()
	h.flush(nil)
	if !h.g.is(stateEmpty) {
		t.Fatalf("state %v", h.g.state)
	}
	before := len(h.written)
	if d := del(); d.ErrorCode != 0 {
		t.Fatalf("delete: %+v", d)
	}
	if !h.g.is(stateDead) || len(h.g.offsets) != 0 {
		t.Fatal("group not dead")
	}
	tomb := h.written[before:]
	if len(tomb) != 2 || tomb[0].Value != nil || tomb[1].Value != nil {
		t.Fatalf("tombstones %+v", tomb)
	}
	// Replaying everything leaves nothing.
	ld := newLoader()
	for _, r := range h.written {
		if err := ld.add(r); err != nil {
			t.Fatal(err)
		}
	}
	if lg := ld.groups["g"]; lg != nil && (lg.meta != nil || len(lg.offsets) != 0) {
		t.Fatalf("deleted group comes back from the log: %+v", lg)
	}
	if d := del(); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("delete again: %+v", d)
	}
}

func TestOffsetExpiry(t *testing.T) {
	week := 7 * 24 * time.Hour
	t.Run("simple group", func(t *testing.T) {
		h := newHarness(t, nil)
		h.commit("", -1, "t1", 0, 1, "")
		h.flush(nil)
		h.now = h.now.Add(time.Hour)
		h.commit("", -1, "t1", 1, 1, "")
		h.flush(nil)
		h.g.expireOffsets(h.now.Add(week - time.Hour - time.Millisecond))
		h.collect()
		if len(h.pending) != 0 {
			t.Fatal("expired too early")
		}
		h.g.expireOffsets(h.now.Add(week - time.Hour))
		h.collect()
		if len(h.g.offsets) != 1 || len(h.pending) != 1 || len(h.pending[0].recs) != 1 || h.pending[0].recs[0].Value != nil {
			t.Fatalf("first offset not expired: %+v", h.pending)
		}
		h.flush(nil)
		h.g.expireOffsets(h.now.Add(week))
		h.collect()
		// The last offset is gone: the group is Dead. It never had a generation: no group tombstone.
		if !h.g.is(stateDead) || len(h.pending) != 1 || len(h.pending[0].recs) != 1 {
			t.Fatalf("state %v pending %+v", h.g.state, h.pending)
		}
	})
	t.Run("empty consumer group counts from when it became empty", func(t *testing.T) {
		h := newHarness(t, nil)
		ids, gen := h.stableGroup(1)
		h.commit(ids[0], gen, "t1", 0, 1, "")
		h.flush(nil)
		h.now = h.now.Add(week) // the commit is old, but the group is not empty yet
		h.g.expireOffsets(h.now)
		h.collect()
		if len(h.pending) != 0 {
			t.Fatal("expired the offset of a subscribed topic of a Stable group")
		}
		h.g.leaveGroup(h.now, h.waiter(3), []kmsg.LeaveGroupRequestMember{{MemberID: ids[0]}})
		h.collect()
		h.flush(nil)
		h.g.expireOffsets(h.now.Add(week - time.Millisecond))
		h.collect()
		if len(h.pending) != 0 {
			t.Fatal("expired before retention since the group became Empty")
		}
		h.g.expireOffsets(h.now.Add(week))
		h.collect()
		if !h.g.is(stateDead) || len(h.pending) != 1 || len(h.pending[0].recs) != 2 {
			t.Fatalf("state %v appends %+v", h.g.state, h.pending)
		}
	})
	t.Run("stable consumer group keeps subscribed topics", func(t *testing.T) {
		h := newHarness(t, nil)
		ids, gen := h.stableGroup(1, withSubscription("t1"))
		h.commit(ids[0], gen, "t1", 0, 1, "")
		h.commit(ids[0], gen, "old", 0, 1, "")
		h.flush(nil)
		h.g.expireOffsets(h.now.Add(week))
		h.collect()
		if _, ok := h.g.offsets[topicPartition{"t1", 0}]; !ok {
			t.Fatal("subscribed topic expired")
		}
		if _, ok := h.g.offsets[topicPartition{"old", 0}]; ok {
			t.Fatal("unsubscribed topic kept")
		}
	})
}

func TestOffsetDelete(t *testing.T) {
	h := newHarness(t, func(l *limits) { l.topicExists = func(topic string, _ int32) bool { return topic != "gone" } })
	ids, gen := h.stableGroup(1, withSubscription("t1"))
	h.commit(ids[0], gen, "t1", 0, 1, "")
	h.commit(ids[0], gen, "t2", 0, 1, "")
	h.flush(nil)
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = "g"
	for _, topic := range []string{"t1", "t2", "gone"} {
		req.Topics = append(req.Topics, kmsg.OffsetDeleteRequestTopic{Topic: topic, Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}})
	}
	w := h.waiter(0)
	h.g.deleteOffsets(h.now, w, req)
	h.collect()
	h.flush(nil)
	r := h.replies[w.id].(*kmsg.OffsetDeleteResponse)
	got := []int16{r.Topics[0].Partitions[0].ErrorCode, r.Topics[1].Partitions[0].ErrorCode, r.Topics[2].Partitions[0].ErrorCode}
	if r.ErrorCode != 0 || got[0] != kerr.GroupSubscribedToTopic.Code || got[1] != 0 || got[2] != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("offset delete %+v", got)
	}
	if _, ok := h.g.offsets[topicPartition{"t2", 0}]; ok {
		t.Fatal("t2 offset kept")
	}
	if last := h.written[len(h.written)-1]; last.Value != nil {
		t.Fatal("no tombstone written")
	}
}

func TestReplayRestoresGroupAndOffsets(t *testing.T) {
	h := newHarness(t, nil)
	h.stableGroup(1, withInstance("i"), withVersion(5))
	h2 := newHarness(t, nil)
	ids, gen := h2.stableGroup(2)
	h2.commit(ids[0], gen, "t1", 0, 5, "m0")
	h2.commit(ids[1], gen, "t1", 1, 6, "m1")
	h2.commit(ids[1], gen, "t1", 1, 7, "m1b") // last one wins
	h2.commit(ids[1], gen, "t2", 0, 8, "")
	h2.flush(nil)
	// Delete t2's offset while the group is Stable: it is not subscribed to t2.
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = "g"
	req.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t2", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
	h2.g.deleteOffsets(h2.now, h2.waiter(0), req)
	h2.collect()
	h2.flush(nil)

	ld := newLoader()
	for _, r := range h2.written {
		if err := ld.add(r); err != nil {
			t.Fatal(err)
		}
	}
	g := loadGroup("g", ld.groups["g"], h2.lim, h2.now)
	g.onLoaded(h2.now)
	if !g.is(stateStable) || g.generation != gen || g.leader != ids[0] || len(g.members) != 2 || g.protocol != "range" || g.protocolType != "consumer" {
		t.Fatalf("loaded state %v gen %d leader %s members %d", g.state, g.generation, g.leader, len(g.members))
	}
	if a := g.members[ids[1]].assignment; string(a) != "assignment-of-"+ids[1] {
		t.Fatalf("assignment %q", a)
	}
	f := g.fetchOffsets(nil, true, false)
	if len(f) != 2 || f[0].offset != 5 || f[0].metadata != "m0" || f[1].offset != 7 || f[1].metadata != "m1b" {
		t.Fatalf("offsets %+v", f)
	}
	// Loaded members must heartbeat within their session timeout.
	g.advance(h2.now.Add(10 * time.Second))
	if len(g.members) != 0 || !g.is(stateEmpty) || g.generation != gen+1 {
		t.Fatalf("loaded members did not expire: %d %v %d", len(g.members), g.state, g.generation)
	}

	// A static group round-trips its instance ids.
	ld = newLoader()
	for _, r := range h.written {
		if err := ld.add(r); err != nil {
			t.Fatal(err)
		}
	}
	g = loadGroup("g", ld.groups["g"], h.lim, h.now)
	if len(g.static) != 1 || g.members[g.static["i"]] == nil {
		t.Fatalf("static members %v", g.static)
	}
}

func TestCommitWithRetentionTime(t *testing.T) {
	h := newHarness(t, nil)
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 2
	req.Group, req.Generation, req.RetentionTimeMillis = "g", -1, 60_000
	req.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 9, LeaderEpoch: -1}}}}
	w := h.waiter(2)
	h.g.commitOffsets(h.now, w, req)
	h.collect()
	h.flush(nil)
	if code := h.commitCode(w); code != 0 {
		t.Fatalf("commit %d", code)
	}
	// Kafka writes OffsetCommitValue v1, the version with an expire timestamp.
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(h.written[0].Value); err != nil || v.Version != 1 || v.ExpireTimestamp != t0.UnixMilli()+60_000 {
		t.Fatalf("value %+v %v", v, err)
	}
	ld := newLoader()
	if err := ld.add(h.written[0]); err != nil {
		t.Fatal(err)
	}
	g := loadGroup("g", ld.groups["g"], h.lim, h.now)
	g.expireOffsets(t0.Add(time.Minute - time.Millisecond))
	if len(g.offsets) != 1 {
		t.Fatal("expired before its expire timestamp")
	}
	g.expireOffsets(t0.Add(time.Minute))
	if len(g.offsets) != 0 || !g.is(stateDead) {
		t.Fatal("not expired at its expire timestamp")
	}
}

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig()
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	var zero Config
	if err := zero.Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	bad := DefaultConfig()
	bad.MinSessionTimeout = time.Hour
	if err := bad.Validate(); err == nil {
		t.Fatal("min session timeout above max accepted")
	}
}
