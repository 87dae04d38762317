package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestThirdMemberTriggersRebalance(t *testing.T) {
	h := newHarness(t, nil)
	ids, gen := h.stableGroup(2)
	wc := h.join("")
	if !h.g.is(statePreparingRebalance) || h.answered(wc) {
		t.Fatalf("state %v", h.g.state)
	}
	for _, id := range ids {
		if code := h.heartbeat(id, gen); code != kerr.RebalanceInProgress.Code {
			t.Fatalf("heartbeat during rebalance: %d", code)
		}
	}
	// Offsets may still be committed by the previous generation meanwhile.
	cw := h.commit(ids[1], gen, "t1", 0, 5, "")
	h.flush(nil)
	if code := h.commitCode(cw); code != 0 {
		t.Fatalf("commit during rebalance: %d", code)
	}
	wa := h.join(ids[0])
	if h.answered(wa) {
		t.Fatal("completed before every member rejoined")
	}
	wb := h.join(ids[1])
	// Everyone is back: no need to wait for the rebalance timeout.
	ra, rb, rc := h.joinResp(wa), h.joinResp(wb), h.joinResp(wc)
	if ra.Generation != gen+1 || rb.Generation != gen+1 || rc.Generation != gen+1 {
		t.Fatal("generation")
	}
	if ra.LeaderID != ids[0] || len(ra.Members) != 3 || len(rc.Members) != 0 {
		t.Fatalf("leader %+v new member %+v", ra, rc)
	}
	// Syncing with the old generation is refused.
	if r := h.syncResp(h.sync(ids[1], gen, nil)); r.ErrorCode != kerr.IllegalGeneration.Code {
		t.Fatalf("old generation sync: %+v", r)
	}
}

func TestSessionExpiry(t *testing.T) {
	h := newHarness(t, nil)
	ids, gen := h.stableGroup(2) // session timeout 10s
	for range 2 {
		h.advance(4 * time.Second)
		if code := h.heartbeat(ids[0], gen); code != 0 {
			t.Fatalf("heartbeat: %d", code)
		}
	}
	if h.g.members[ids[1]] == nil {
		t.Fatal("removed before its session timeout")
	}
	h.advance(2 * time.Second)
	// ids[1] never heartbeated: it was removed at 10s and a rebalance started.
	if h.g.members[ids[1]] != nil || !h.g.is(statePreparingRebalance) {
		t.Fatalf("member %s still there, state %v", ids[1], h.g.state)
	}
	w := h.join(ids[0])
	if r := h.joinResp(w); r.Generation != gen+1 || len(r.Members) != 1 {
		t.Fatalf("join %+v", r)
	}
	if code := h.heartbeat(ids[1], gen); code != kerr.UnknownMemberID.Code {
		t.Fatalf("expired member heartbeat: %d", code)
	}
	// No timer is left for the removed member.
	if _, ok := h.g.nextDeadline(); !ok {
		t.Fatal("no deadline at all: the remaining member's session should be running")
	}
}

func TestRebalanceTimeoutRemovesNonRejoiningMember(t *testing.T) {
	h := newHarness(t, nil)
	ids, gen := h.stableGroup(2, withTimeouts(10*time.Second, 20*time.Second))
	wc := h.join("", withTimeouts(10*time.Second, 20*time.Second))
	wa := h.join(ids[0], withTimeouts(10*time.Second, 20*time.Second))
	// ids[1] keeps heartbeating but never rejoins.
	for range 4 {
		h.advance(4 * time.Second)
		if h.answered(wa) {
			break
		}
		if code := h.heartbeat(ids[1], gen); code != kerr.RebalanceInProgress.Code {
			t.Fatalf("heartbeat: %d", code)
		}
	}
	h.advance(4 * time.Second) // 20s after the rebalance started
	ra, rc := h.joinResp(wa), h.joinResp(wc)
	if ra.Generation != gen+1 || len(ra.Members) != 2 || rc.Generation != gen+1 {
		t.Fatalf("join %+v %+v", ra, rc)
	}
	for _, m := range ra.Members {
		if m.MemberID == ids[1] {
			t.Fatal("the member that did not rejoin is still in the group")
		}
	}
	if code := h.heartbeat(ids[1], gen); code != kerr.UnknownMemberID.Code {
		t.Fatalf("removed member heartbeat: %d", code)
	}
}

func TestSyncTimeoutRemovesMembersThatDoNotSync(t *testing.T) {
	h := newHarness(t, nil)
	opt := withTimeouts(10*time.Second, 5*time.Second)
	wa, wb := h.join("", opt), h.join("", opt)
	for !h.answered(wa) {
		h.advance(time.Second)
	}
	ra, rb := h.joinResp(wa), h.joinResp(wb)
	lw := h.sync(ra.MemberID, 1, map[string]string{ra.MemberID: "A", rb.MemberID: "B"})
	h.flush(nil)
	if h.syncResp(lw).ErrorCode != 0 || !h.g.is(stateStable) {
		t.Fatal("leader sync")
	}
	// rb heartbeats but never sends SyncGroup: after the rebalance timeout it is removed.
	for range 4 {
		h.advance(time.Second)
		h.heartbeat(rb.MemberID, 1)
		h.heartbeat(ra.MemberID, 1)
	}
	if h.g.members[rb.MemberID] == nil {
		t.Fatal("still a member before the rebalance timeout")
	}
	h.advance(time.Second)
	if h.g.members[rb.MemberID] != nil || !h.g.is(statePreparingRebalance) {
		t.Fatalf("member that never synced still there (state %v)", h.g.state)
	}
}

func TestStaticMemberRejoinAndFencing(t *testing.T) {
	h := newHarness(t, nil)
	wa := h.join("", withInstance("a"), withVersion(5))
	wb := h.join("", withInstance("b"), withVersion(5))
	h.advance(h.lim.initialDelay)
	h.advance(h.lim.initialDelay)
	ra, rb := h.joinResp(wa), h.joinResp(wb)
	if ra.MemberID != "a-uuid1" || rb.MemberID != "b-uuid2" {
		t.Fatalf("static member ids %s %s", ra.MemberID, rb.MemberID)
	}
	h.sync(rb.MemberID, 1, nil)
	h.sync(ra.MemberID, 1, map[string]string{ra.MemberID: "A", rb.MemberID: "B"})
	h.flush(nil)

	// "a" restarts: it joins without its member id, gets a new one, and the group stays Stable.
	w := h.join("", withInstance("a"), withVersion(5))
	if h.answered(w) {
		t.Fatal("answered before the new member id is persisted")
	}
	h.flush(nil)
	r := h.joinResp(w)
	if r.ErrorCode != 0 || r.MemberID != "a-uuid3" || r.Generation != 1 || r.LeaderID != ra.MemberID || len(r.Members) != 0 {
		t.Fatalf("static rejoin %+v", r)
	}
	if !h.g.is(stateStable) || h.g.generation != 1 || h.g.leader != "a-uuid3" {
		t.Fatalf("state %v generation %d leader %s", h.g.state, h.g.generation, h.g.leader)
	}
	// It keeps its assignment.
	if sr := h.syncResp(h.sync("a-uuid3", 1, nil)); string(sr.MemberAssignment) != "A" {
		t.Fatalf("assignment after static rejoin %q", sr.MemberAssignment)
	}
	// The old instance is fenced, the new one is fine.
	if code := h.heartbeat(ra.MemberID, 1, "a"); code != kerr.FencedInstanceID.Code {
		t.Fatalf("old id heartbeat: %d", code)
	}
	if code := h.heartbeat("a-uuid3", 1, "a"); code != 0 {
		t.Fatalf("new id heartbeat: %d", code)
	}
	if r := h.joinResp(h.join(ra.MemberID, withInstance("a"), withVersion(5))); r.ErrorCode != kerr.FencedInstanceID.Code {
		t.Fatalf("old id join: %+v", r)
	}
	// v9: the leader restarting is told it leads, but to skip the assignment.
	w = h.join("", withInstance("a"), withVersion(9))
	h.flush(nil)
	if r := h.joinResp(w); !r.SkipAssignment || r.LeaderID != r.MemberID || len(r.Members) != 2 {
		t.Fatalf("v9 static leader rejoin %+v", r)
	}
	// The last record is the group with the newest id of "a".
	var v kmsg.GroupMetadataValue
	if err := v.ReadFrom(h.written[len(h.written)-1].Value); err != nil || v.Members[0].InstanceID == nil || *v.Leader != "a-uuid4" {
		t.Fatalf("persisted %+v %v", v, err)
	}
}

func TestStaticMemberSurvivesRebalanceTimeout(t *testing.T) {
	h := newHarness(t, nil)
	ids, gen := h.stableGroup(1, withInstance("s"), withVersion(5))
	wn := h.join("", withVersion(3))
	// The static member keeps heartbeating but does not rejoin before the rebalance timeout: it
	// stays in the group (a dynamic member would be removed).
	for range 15 {
		h.advance(4 * time.Second)
		h.heartbeat(ids[0], gen, "s")
	}
	r := h.joinResp(wn)
	if r.Generation != gen+1 || h.g.members[ids[0]] == nil {
		t.Fatalf("join %+v static member kept: %v", r, h.g.members[ids[0]] != nil)
	}
}

func TestLeave(t *testing.T) {
	h := newHarness(t, nil)
	ids, gen := h.stableGroup(3)
	r := h.g.leaveGroup(h.now, h.waiter(3), []kmsg.LeaveGroupRequestMember{{MemberID: ids[2]}, {MemberID: "nobody"}})
	h.collect()
	if r.ErrorCode != 0 || r.Members[0].ErrorCode != 0 || r.Members[1].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("leave %+v", r)
	}
	if !h.g.is(statePreparingRebalance) {
		t.Fatalf("state %v", h.g.state)
	}
	wa, wb := h.join(ids[0]), h.join(ids[1])
	if ra := h.joinResp(wa); ra.Generation != gen+1 || len(ra.Members) != 2 {
		t.Fatalf("rejoin %+v", ra)
	}
	h.joinResp(wb)
	// Leaving while parked in a rebalance answers the parked JoinGroup.
	w := h.join("")
	h.g.leaveGroup(h.now, h.waiter(3), []kmsg.LeaveGroupRequestMember{{MemberID: "c-uuid4"}})
	h.collect()
	if r := h.joinResp(w); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("parked join of a leaving member: %+v", r)
	}
	// Everyone leaves: after the rebalance the group is Empty.
	h.g.leaveGroup(h.now, h.waiter(3), []kmsg.LeaveGroupRequestMember{{MemberID: ids[0]}, {MemberID: ids[1]}})
	h.collect()
	if !h.g.is(stateEmpty) || len(h.g.members) != 0 {
		t.Fatalf("state %v members %d", h.g.state, len(h.g.members))
	}
}

func TestLeaveByInstanceID(t *testing.T) {
	h := newHarness(t, nil)
	h.join("", withInstance("x"), withVersion(5))
	h.join("", withInstance("z"), withVersion(5))
	h.advance(h.lim.initialDelay)
	h.advance(h.lim.initialDelay)
	r := h.g.leaveGroup(h.now, h.waiter(4), []kmsg.LeaveGroupRequestMember{{InstanceID: kmsg.StringPtr("x")}, {InstanceID: kmsg.StringPtr("y")}})
	h.collect()
	if r.Members[0].ErrorCode != 0 || r.Members[1].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("leave by instance %+v", r.Members)
	}
	if _, ok := h.g.static["x"]; ok {
		t.Fatal("instance still mapped")
	}
}

func TestProtocolMismatch(t *testing.T) {
	h := newHarness(t, nil)
	if r := h.joinResp(h.join("", withProtocols(""))); r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("empty protocol type on an empty group: %+v", r)
	}
	if r := h.joinResp(h.join("", withProtocols("consumer"))); r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("no protocols: %+v", r)
	}
	wa := h.join("", withProtocols("consumer", "range", "roundrobin"))
	if r := h.joinResp(h.join("", withProtocols("connect", "range"))); r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("other protocol type: %+v", r)
	}
	if r := h.joinResp(h.join("", withProtocols("consumer", "sticky"))); r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("no common protocol: %+v", r)
	}
	wb := h.join("", withProtocols("consumer", "roundrobin", "range"))
	wc := h.join("", withProtocols("consumer", "sticky", "roundrobin"))
	h.advance(h.lim.initialDelay)
	h.advance(h.lim.initialDelay)
	// Only roundrobin is supported by all three.
	for _, w := range []waiter{wa, wb, wc} {
		if r := h.joinResp(w); r.ErrorCode != 0 || *r.Protocol != "roundrobin" {
			t.Fatalf("protocol %+v", r)
		}
	}
	// The leader's member list carries each member's metadata for that protocol.
	if ra := h.joinResp(wa); len(ra.Members) != 3 {
		t.Fatalf("members %+v", ra.Members)
	}
}

func TestProtocolVotes(t *testing.T) {
	h := newHarness(t, nil)
	wa := h.join("", withProtocols("consumer", "range", "roundrobin"))
	h.join("", withProtocols("consumer", "roundrobin", "range"))
	h.join("", withProtocols("consumer", "roundrobin", "range"))
	h.advance(h.lim.initialDelay)
	h.advance(h.lim.initialDelay)
	if r := h.joinResp(wa); *r.Protocol != "roundrobin" {
		t.Fatalf("2 votes for roundrobin, 1 for range: %s", *r.Protocol)
	}
	h2 := newHarness(t, nil)
	wa = h2.join("", withProtocols("consumer", "range", "roundrobin"))
	h2.join("", withProtocols("consumer", "roundrobin", "range"))
	h2.advance(h2.lim.initialDelay)
	h2.advance(h2.lim.initialDelay)
	if r := h2.joinResp(wa); *r.Protocol != "range" {
		t.Fatalf("a tie goes to the first member's preference: %s", *r.Protocol)
	}
}

func TestMaxSize(t *testing.T) {
	h := newHarness(t, func(l *limits) { l.maxSize = 2 })
	ids, _ := h.stableGroup(2)
	if r := h.joinResp(h.join("")); r.ErrorCode != kerr.GroupMaxSizeReached.Code || r.MemberID != "" {
		t.Fatalf("third member: %+v", r)
	}
	// Existing members are still welcome.
	if r := h.joinResp(h.join(ids[1])); r.ErrorCode != 0 {
		t.Fatalf("existing member: %+v", r)
	}
}

func TestInvalidSessionTimeout(t *testing.T) {
	h := newHarness(t, nil)
	if r := h.joinResp(h.join("", withTimeouts(500*time.Millisecond, time.Minute))); r.ErrorCode != kerr.InvalidSessionTimeout.Code {
		t.Fatalf("too short: %+v", r)
	}
	if r := h.joinResp(h.join("", withTimeouts(31*time.Minute, time.Minute))); r.ErrorCode != kerr.InvalidSessionTimeout.Code {
		t.Fatalf("too long: %+v", r)
	}
}

func TestNewMemberJoinTimeout(t *testing.T) {
	h := newHarness(t, nil)
	ids, gen := h.stableGroup(1)
	// A new member parked in a rebalance that does not complete (the old member keeps
	// heartbeating but never rejoins; the rebalance timeout is long) is dropped after 5 minutes.
	wn := h.join("", withTimeouts(10*time.Second, 10*time.Minute))
	for range 80 {
		h.advance(4 * time.Second)
		h.heartbeat(ids[0], gen)
		if h.answered(wn) {
			break
		}
	}
	if r := h.joinResp(wn); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("new member after 5 minutes: %+v", r)
	}
}

func TestUnloadAnswersParkedRequests(t *testing.T) {
	h := newHarness(t, nil)
	ids, gen := h.stableGroup(2)
	wj := h.join("")
	wa := h.join(ids[0])
	h.g.unload(h.now)
	h.collect()
	for _, w := range []waiter{wj, wa} {
		if r := h.joinResp(w); r.ErrorCode != kerr.NotCoordinator.Code {
			t.Fatalf("parked join after unload: %+v", r)
		}
	}
	if code := h.heartbeat(ids[1], gen); code != kerr.NotCoordinator.Code {
		t.Fatalf("heartbeat after unload: %d", code)
	}
	if _, ok := h.g.nextDeadline(); ok {
		t.Fatal("timers left after unload")
	}
}

func TestStaticRejoinStoreFails(t *testing.T) {
	h := newHarness(t, nil)
	wa := h.join("", withInstance("a"), withVersion(5))
	h.advance(h.lim.initialDelay)
	ra := h.joinResp(wa)
	h.sync(ra.MemberID, 1, map[string]string{ra.MemberID: "A"})
	h.flush(nil)
	w := h.join("", withInstance("a"), withVersion(5))
	h.flush(kerr.NotLeaderForPartition)
	if r := h.joinResp(w); r.ErrorCode != kerr.NotCoordinator.Code || r.MemberID != "" {
		t.Fatalf("static rejoin whose store failed: %+v", r)
	}
	// The old id is the member's again.
	if h.g.static["a"] != ra.MemberID || h.heartbeat(ra.MemberID, 1, "a") != 0 {
		t.Fatalf("old id not restored: %v", h.g.static)
	}
}

func TestRejoinWithNewMetadataWhileCompleting(t *testing.T) {
	h := newHarness(t, nil)
	ids, gen := h.stableGroup(2)
	h.join(ids[0])
	h.join(ids[1]) // generation gen+1, CompletingRebalance
	fw := h.sync(ids[1], gen+1, nil)
	// The follower asks again with the same metadata: same answer, no rebalance.
	if r := h.joinResp(h.join(ids[1])); r.Generation != gen+1 || !h.g.is(stateCompletingRebalance) {
		t.Fatalf("same-metadata rejoin %+v", r)
	}
	// With new metadata: a new rebalance; the parked SyncGroup is told so.
	h.join(ids[1], withSubscription("t1", "t2"))
	if !h.g.is(statePreparingRebalance) {
		t.Fatalf("state %v", h.g.state)
	}
	if r := h.syncResp(fw); r.ErrorCode != kerr.RebalanceInProgress.Code {
		t.Fatalf("parked sync %+v", r)
	}
}
