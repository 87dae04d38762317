package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestSingleMemberJoinSyncHeartbeat(t *testing.T) {
	h := newHarness(t, nil)
	w := h.join("")
	if h.answered(w) || !h.g.is(statePreparingRebalance) {
		t.Fatalf("join answered at once or state %v", h.g.state)
	}
	h.advance(h.lim.initialDelay - time.Millisecond)
	if h.answered(w) {
		t.Fatal("answered before the initial rebalance delay")
	}
	h.advance(time.Millisecond)
	r := h.joinResp(w)
	if r.ErrorCode != 0 || r.Generation != 1 || r.LeaderID != r.MemberID || r.MemberID != "c-uuid1" ||
		r.Protocol == nil || *r.Protocol != "range" || len(r.Members) != 1 {
		t.Fatalf("join response %+v", r)
	}
	if !h.g.is(stateCompletingRebalance) {
		t.Fatalf("state %v", h.g.state)
	}
	if code := h.heartbeat(r.MemberID, 1); code != 0 {
		t.Fatalf("heartbeat while completing: %d", code)
	}

	sw := h.sync(r.MemberID, 1, map[string]string{r.MemberID: "mine"})
	if h.answered(sw) {
		t.Fatal("leader's sync answered before its assignment is durable")
	}
	h.flush(nil)
	sr := h.syncResp(sw)
	if sr.ErrorCode != 0 || string(sr.MemberAssignment) != "mine" || !h.g.is(stateStable) {
		t.Fatalf("sync %+v state %v", sr, h.g.state)
	}
	// The generation was persisted as GroupMetadataKey v2 / GroupMetadataValue v3.
	if len(h.written) != 1 {
		t.Fatalf("%d records written", len(h.written))
	}
	var k kmsg.GroupMetadataKey
	var v kmsg.GroupMetadataValue
	if err := k.ReadFrom(h.written[0].Key); err != nil || k.Version != 2 || k.Group != "g" {
		t.Fatalf("key %+v %v", k, err)
	}
	if err := v.ReadFrom(h.written[0].Value); err != nil || v.Version != 3 || v.Generation != 1 || *v.Leader != r.MemberID ||
		len(v.Members) != 1 || string(v.Members[0].Assignment) != "mine" || v.ProtocolType != "consumer" {
		t.Fatalf("value %+v %v", v, err)
	}

	if code := h.heartbeat(r.MemberID, 1); code != 0 {
		t.Fatalf("heartbeat: %d", code)
	}
	if code := h.heartbeat(r.MemberID, 2); code != kerr.IllegalGeneration.Code {
		t.Fatalf("heartbeat bad generation: %d", code)
	}
	if code := h.heartbeat("nobody", 1); code != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat unknown member: %d", code)
	}
	// A follower-style rejoin with the same metadata in Stable is just answered; here it is the
	// leader, so it starts a rebalance.
	// It is the only member and it rejoined: the rebalance completes at once.
	w2 := h.join(r.MemberID)
	if h.joinResp(w2).Generation != 2 || !h.g.is(stateCompletingRebalance) {
		t.Fatalf("rejoin %+v state %v", h.joinResp(w2), h.g.state)
	}
}

func TestMemberIDRequired(t *testing.T) {
	h := newHarness(t, nil)
	w := h.join("", withVersion(4))
	r := h.joinResp(w)
	if r.ErrorCode != kerr.MemberIDRequired.Code || r.MemberID != "c-uuid1" || r.Generation != -1 {
		t.Fatalf("first join %+v", r)
	}
	if !h.g.is(stateEmpty) || len(h.g.pending) != 1 {
		t.Fatalf("state %v pending %v", h.g.state, h.g.pending)
	}
	w2 := h.join("c-uuid1", withVersion(4))
	h.advance(h.lim.initialDelay)
	if r := h.joinResp(w2); r.ErrorCode != 0 || r.MemberID != "c-uuid1" || r.Generation != 1 {
		t.Fatalf("second join %+v", r)
	}
	// A member id nobody handed out is refused.
	if r := h.joinResp(h.join("made-up", withVersion(4))); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("made-up id: %+v", r)
	}
	// A pending member that never comes back is forgotten after its session timeout.
	h.join("", withVersion(4))
	if len(h.g.pending) != 1 {
		t.Fatalf("pending %v", h.g.pending)
	}
	h.advance(10 * time.Second)
	if len(h.g.pending) != 0 {
		t.Fatalf("pending member not expired: %v", h.g.pending)
	}
}

func TestTwoMembersLeaderFollower(t *testing.T) {
	h := newHarness(t, nil)
	wa := h.join("")
	h.advance(time.Second)
	wb := h.join("")
	// The initial delay (3s) ends at 3s, sees a new member and waits 3s more.
	h.advance(2 * time.Second)
	if h.answered(wa) || h.answered(wb) {
		t.Fatal("rebalance completed without extending the initial delay")
	}
	h.advance(3 * time.Second)
	ra, rb := h.joinResp(wa), h.joinResp(wb)
	if ra.LeaderID != ra.MemberID || rb.LeaderID != ra.MemberID || len(ra.Members) != 2 || len(rb.Members) != 0 {
		t.Fatalf("leader %+v follower %+v", ra, rb)
	}
	if ra.Generation != 1 || rb.Generation != 1 {
		t.Fatal("generation")
	}
	fw := h.sync(rb.MemberID, 1, nil)
	if h.answered(fw) {
		t.Fatal("follower answered before the leader's assignment")
	}
	lw := h.sync(ra.MemberID, 1, map[string]string{ra.MemberID: "A", rb.MemberID: "B"})
	h.flush(nil)
	if a, b := h.syncResp(lw), h.syncResp(fw); string(a.MemberAssignment) != "A" || string(b.MemberAssignment) != "B" {
		t.Fatalf("assignments %q %q", a.MemberAssignment, b.MemberAssignment)
	}
	// A follower syncing again in Stable gets its assignment at once.
	if r := h.syncResp(h.sync(rb.MemberID, 1, nil)); string(r.MemberAssignment) != "B" {
		t.Fatalf("resync %+v", r)
	}
	// A follower rejoining with the same metadata is answered with the current generation.
	if r := h.joinResp(h.join(rb.MemberID)); r.Generation != 1 || r.LeaderID != ra.MemberID || !h.g.is(stateStable) {
		t.Fatalf("follower rejoin %+v state %v", r, h.g.state)
	}
}

func TestLeaderAssignmentStoreFails(t *testing.T) {
	h := newHarness(t, nil)
	ids, _ := h.stableGroup(2)
	wa := h.join(ids[0]) // the leader rejoining starts a rebalance
	wb := h.join(ids[1])
	ra, rb := h.joinResp(wa), h.joinResp(wb)
	if ra.Generation != 2 || rb.Generation != 2 {
		t.Fatalf("generations %d %d", ra.Generation, rb.Generation)
	}
	fw := h.sync(ids[1], 2, nil)
	lw := h.sync(ids[0], 2, map[string]string{ids[0]: "A", ids[1]: "B"})
	h.flush(kerr.NotLeaderForPartition)
	for _, w := range []waiter{fw, lw} {
		if r := h.syncResp(w); r.ErrorCode != kerr.NotCoordinator.Code || len(r.MemberAssignment) != 0 {
			t.Fatalf("sync after failed store: %+v", r)
		}
	}
	if !h.g.is(statePreparingRebalance) {
		t.Fatalf("state %v", h.g.state)
	}
}
