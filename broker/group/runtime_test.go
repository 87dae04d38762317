package group

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestPartitionFor(t *testing.T) {
	// Expected values from Java's String.hashCode (Utils.abs(hash) % 50).
	for id, want := range map[string]int32{
		"hello": 22, "polygenelubricants": 0, "my-group": 12, "console-consumer-83723": 24,
		"grüße": 23, "g🎉x": 34, "": 0, "echo-messages-to-stdout": 30, // negative hashes: 12, 30
	} {
		if got := PartitionFor(id, 50); got != want {
			t.Errorf("PartitionFor(%q) = %d, want %d", id, got, want)
		}
	}
}

type rig struct {
	t     *testing.T
	clk   *fakeClock
	store *memStore
	c     *Coordinator
	ctx   context.Context
}

// newRig starts a coordinator with one __consumer_offsets partition, elected.
func newRig(t *testing.T, mod func(*Config)) *rig {
	r := &rig{t: t, clk: newFakeClock(), store: newMemStore(), ctx: WithClient(context.Background(), "cli", "/10.0.0.1")}
	cfg := DefaultConfig()
	cfg.NumPartitions = 1
	cfg.Now = r.clk.Now
	cfg.AfterFunc = r.clk.AfterFunc
	if mod != nil {
		mod(&cfg)
	}
	r.c = NewCoordinator(cfg, r.store)
	r.c.Elected(context.Background(), 0)
	return r
}

func (r *rig) describe(id string) kmsg.DescribeGroupsResponseGroup {
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Version = 5
	req.Groups = []string{id}
	return r.c.DescribeGroups(r.ctx, req).Groups[0]
}

func (r *rig) listGroups(states ...string) *kmsg.ListGroupsResponse {
	req := kmsg.NewPtrListGroupsRequest()
	req.Version = 4
	req.StatesFilter = states
	return r.c.ListGroups(r.ctx, req)
}

func (r *rig) fetch(version int16, group string, topic string, partitions ...int32) *kmsg.OffsetFetchResponse {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = version
	req.Group = group
	req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: topic, Partitions: partitions}}
	return r.c.OffsetFetch(r.ctx, req)
}

func (r *rig) commit(group, member string, gen int32, topic string, partition int32, offset int64) int16 {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 8
	req.Group, req.MemberID, req.Generation = group, member, gen
	p := kmsg.NewOffsetCommitRequestTopicPartition()
	p.Partition, p.Offset, p.Metadata = partition, offset, kmsg.StringPtr("md")
	req.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: topic, Partitions: []kmsg.OffsetCommitRequestTopicPartition{p}}}
	return r.c.OffsetCommit(r.ctx, req).Topics[0].Partitions[0].ErrorCode
}

// joinAll runs JoinGroup v5 (with the member-id round trip) for n members concurrently and
// advances the clock until every one is answered.
func (r *rig) joinAll(group string, n int) []*kmsg.JoinGroupResponse {
	out := make([]*kmsg.JoinGroupResponse, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req := joinReq("", withVersion(5))
			req.Group = group
			first := r.c.JoinGroup(r.ctx, req)
			if first.ErrorCode != kerr.MemberIDRequired.Code {
				r.t.Errorf("first join: %+v", first)
				return
			}
			req.MemberID = first.MemberID
			out[i] = r.c.JoinGroup(r.ctx, req)
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	eventually(r.t, "every member to join", func() bool {
		select {
		case <-done:
			return true
		default:
			r.clk.Advance(100 * time.Millisecond)
			return false
		}
	})
	return out
}

func TestCoordinatorConcurrentJoin(t *testing.T) {
	base := runtime.NumGoroutine()
	r := newRig(t, nil)
	joined := r.joinAll("g", 2)
	var leader, follower *kmsg.JoinGroupResponse
	for _, j := range joined {
		if j.ErrorCode != 0 || j.Generation != 1 || j.LeaderID == "" {
			t.Fatalf("join %+v", j)
		}
		if j.LeaderID == j.MemberID {
			leader = j
		} else {
			follower = j
		}
	}
	if leader == nil || follower == nil || len(leader.Members) != 2 || len(follower.Members) != 0 {
		t.Fatalf("leader %+v follower %+v", leader, follower)
	}
	if d := r.describe("g"); d.State != "CompletingRebalance" || d.Members[0].ClientID != "cli" || d.Members[0].ClientHost != "/10.0.0.1" {
		t.Fatalf("describe %+v", d)
	}

	sync := func(j *kmsg.JoinGroupResponse, assign map[string]string) *kmsg.SyncGroupResponse {
		req := kmsg.NewPtrSyncGroupRequest()
		req.Version = 5
		req.Group, req.MemberID, req.Generation = "g", j.MemberID, j.Generation
		req.ProtocolType, req.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
		for id, a := range assign {
			req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: []byte(a)})
		}
		return r.c.SyncGroup(r.ctx, req)
	}
	followerSync := make(chan *kmsg.SyncGroupResponse, 1)
	go func() { followerSync <- sync(follower, nil) }()
	ls := sync(leader, map[string]string{leader.MemberID: "L", follower.MemberID: "F"})
	fs := <-followerSync
	if ls.ErrorCode != 0 || string(ls.MemberAssignment) != "L" || fs.ErrorCode != 0 || string(fs.MemberAssignment) != "F" ||
		fs.Protocol == nil || *fs.Protocol != "range" {
		t.Fatalf("sync leader %+v follower %+v", ls, fs)
	}
	if recs := r.store.records(0); len(recs) != 1 || recs[0].Key[1] != 2 {
		t.Fatalf("records %+v", recs)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version = 4
	hb.Group, hb.MemberID, hb.Generation = "g", follower.MemberID, 1
	if code := r.c.Heartbeat(r.ctx, hb).ErrorCode; code != 0 {
		t.Fatalf("heartbeat %d", code)
	}
	if code := r.commit("g", leader.MemberID, 1, "t", 0, 99); code != 0 {
		t.Fatalf("commit %d", code)
	}
	if f := r.fetch(7, "g", "t", 0); f.ErrorCode != 0 || f.Topics[0].Partitions[0].Offset != 99 || *f.Topics[0].Partitions[0].Metadata != "md" {
		t.Fatalf("fetch %+v", f)
	}
	if l := r.listGroups("Stable"); len(l.Groups) != 1 || l.Groups[0].ProtocolType != "consumer" {
		t.Fatalf("list %+v", l)
	}

	// A member leaving with LeaveGroup v0 (one member, top-level error).
	lv := kmsg.NewPtrLeaveGroupRequest()
	lv.Group, lv.MemberID = "g", "nobody"
	if code := r.c.LeaveGroup(r.ctx, lv).ErrorCode; code != kerr.UnknownMemberID.Code {
		t.Fatalf("leave unknown member v0: %d", code)
	}

	r.c.Close()
	if code := r.c.Heartbeat(r.ctx, hb).ErrorCode; code != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("heartbeat after close: %d", code)
	}
	checkGoroutines(t, base)
}

// TestCoordinatorRoutesByTheTopicsPartitionCount: groups are routed by the partition count of the
// existing __consumer_offsets, not offsets.topic.num.partitions, as in Kafka. A topic created
// with one partition (auto-created before minikraft gave internal topics their own settings, or
// by CreateTopics) holds every group in partition 0; routing by 50 answered NOT_COORDINATOR for
// almost every group, for ever, while FindCoordinator sent the client to partition 0's leader.
func TestCoordinatorRoutesByTheTopicsPartitionCount(t *testing.T) {
	r := newRig(t, func(c *Config) {
		c.NumPartitions = 50
		c.PartitionCount = func() int { return 1 }
	})
	defer r.c.Close()
	const group = "echo-messages-to-stdout" // partition 30 of 50
	if PartitionFor(group, 50) == 0 {
		t.Fatal("the group must not be in partition 0 of 50")
	}
	if code := r.commit(group, "", -1, "t", 0, 5); code != 0 {
		t.Fatalf("commit to a group of the only partition: %v", kerr.ErrorForCode(code))
	}
	if f := r.fetch(7, group, "t", 0); f.ErrorCode != 0 || f.Topics[0].Partitions[0].Offset != 5 {
		t.Fatalf("fetch: %+v", f)
	}
	if l := r.listGroups(); l.ErrorCode != 0 || len(l.Groups) != 1 {
		t.Fatalf("list groups: %+v", l)
	}
}

func TestCoordinatorRouting(t *testing.T) {
	r := newRig(t, func(c *Config) { c.NumPartitions = 2 })
	defer r.c.Close()
	var mine, other string // groups on the elected partition 0 and on partition 1
	for _, id := range []string{"a", "b", "c", "d"} {
		if PartitionFor(id, 2) == 1 {
			other = id
		} else {
			mine = id
		}
	}
	req := joinReq("")
	req.Group = other
	if code := r.c.JoinGroup(r.ctx, req).ErrorCode; code != kerr.NotCoordinator.Code {
		t.Fatalf("join on a partition not led: %d", code)
	}
	req.Group = ""
	if code := r.c.JoinGroup(r.ctx, req).ErrorCode; code != kerr.InvalidGroupID.Code {
		t.Fatalf("join with empty group id: %d", code)
	}
	if f := r.fetch(7, other, "t", 0); f.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("fetch on a partition not led: %+v", f)
	}
	if f := r.fetch(1, other, "t", 0); f.Topics[0].Partitions[0].ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("fetch v1 on a partition not led: %+v", f)
	}
	if d := r.describe(other); d.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("describe: %+v", d)
	}
	// A member id for a group that does not exist; a generation for one that does not exist.
	req = joinReq("someone")
	req.Group = mine
	if code := r.c.JoinGroup(r.ctx, req).ErrorCode; code != kerr.UnknownMemberID.Code {
		t.Fatalf("join unknown group with member id: %d", code)
	}
	if code := r.commit(mine, "m", 3, "t", 0, 1); code != kerr.IllegalGeneration.Code {
		t.Fatalf("commit to unknown group with a generation: %d", code)
	}
	// Invalid session timeouts do not create the group either.
	req = joinReq("", withTimeouts(time.Millisecond, time.Second))
	req.Group = mine
	if code := r.c.JoinGroup(r.ctx, req).ErrorCode; code != kerr.InvalidSessionTimeout.Code {
		t.Fatalf("join with a bad session timeout: %d", code)
	}
	if d := r.describe(mine); d.ErrorCode != 0 || d.State != "Dead" {
		t.Fatalf("describe unknown group: %+v", d)
	}
	// Unknown topics (TopicExists) are refused without touching the group.
	r2 := newRig(t, func(c *Config) { c.TopicExists = func(string, int32) bool { return false } })
	defer r2.c.Close()
	if code := r2.commit("g", "", -1, "t", 0, 1); code != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("commit to unknown topic: %d", code)
	}
	if l := r2.listGroups(); len(l.Groups) != 0 {
		t.Fatalf("a commit to unknown topics created a group: %+v", l)
	}
}

func TestCoordinatorLoading(t *testing.T) {
	r := newRig(t, nil)
	defer r.c.Close()
	if code := r.commit("g", "", -1, "t", 0, 5); code != 0 {
		t.Fatalf("commit %d", code)
	}
	r.c.Resigned(0)
	if f := r.fetch(7, "g", "t", 0); f.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("fetch after resign: %+v", f)
	}

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
	elected := make(chan struct{})
	go func() { r.c.Elected(context.Background(), 0); close(elected) }()
	eventually(t, "loading", func() bool { return r.fetch(7, "g", "t", 0).ErrorCode == kerr.CoordinatorLoadInProgress.Code })
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID = "g", "m"
	if code := r.c.Heartbeat(r.ctx, hb).ErrorCode; code != 0 {
		t.Fatalf("heartbeat while loading: %d", code)
	}
	sy := kmsg.NewPtrSyncGroupRequest()
	sy.Group, sy.MemberID = "g", "m"
	if code := r.c.SyncGroup(r.ctx, sy).ErrorCode; code != kerr.RebalanceInProgress.Code {
		t.Fatalf("sync while loading: %d", code)
	}
	if l := r.listGroups(); l.ErrorCode != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("list while loading: %+v", l)
	}
	close(release)
	<-elected
	if f := r.fetch(7, "g", "t", 0); f.ErrorCode != 0 || f.Topics[0].Partitions[0].Offset != 5 {
		t.Fatalf("fetch after reload: %+v", f)
	}
}

// TestCoordinatorElectionPending: between the metadata naming this broker the leader of a
// __consumer_offsets partition (Config.Leads) and the broker calling Elected, the partition's
// groups are COORDINATOR_LOAD_IN_PROGRESS, not NOT_COORDINATOR: FindCoordinator on the same
// broker already points clients here (kafka-go's reader logged "Not Coordinator For Group" from
// the broker it had just been sent to, right after a restart).
func TestCoordinatorElectionPending(t *testing.T) {
	var leads atomic.Bool
	r := newRig(t, func(c *Config) { c.Leads = func(p int32) bool { return p == 0 && leads.Load() } })
	defer r.c.Close()
	if code := r.commit("g", "", -1, "t", 0, 5); code != 0 {
		t.Fatalf("commit %d", code)
	}
	r.c.Resigned(0)
	join := func() int16 { return r.c.JoinGroup(r.ctx, joinReq("", withVersion(3))).ErrorCode }
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID = "g", "m"
	sy := kmsg.NewPtrSyncGroupRequest()
	sy.Group, sy.MemberID = "g", "m"

	// Not the leader: NOT_COORDINATOR, as before.
	if f := r.fetch(7, "g", "t", 0); f.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("fetch while another broker leads: %+v", f)
	}
	if code := join(); code != kerr.NotCoordinator.Code {
		t.Fatalf("join while another broker leads: %d", code)
	}

	// The leader by the metadata, not yet Elected: loading, as Kafka answers.
	leads.Store(true)
	if f := r.fetch(7, "g", "t", 0); f.ErrorCode != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("fetch with the election pending: %+v", f)
	}
	if code := join(); code != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("join with the election pending: %d", code)
	}
	if code := r.c.Heartbeat(r.ctx, hb).ErrorCode; code != 0 {
		t.Fatalf("heartbeat with the election pending: %d", code)
	}
	if code := r.c.SyncGroup(r.ctx, sy).ErrorCode; code != kerr.RebalanceInProgress.Code {
		t.Fatalf("sync with the election pending: %d", code)
	}
	if l := r.listGroups(); l.ErrorCode != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("list with the election pending: %+v", l)
	}

	// Elected: the group is back with its offsets.
	r.c.Elected(context.Background(), 0)
	if f := r.fetch(7, "g", "t", 0); f.ErrorCode != 0 || f.Topics[0].Partitions[0].Offset != 5 {
		t.Fatalf("fetch after the election: %+v", f)
	}
	if l := r.listGroups(); l.ErrorCode != 0 {
		t.Fatalf("list after the election: %+v", l)
	}
}

func TestCoordinatorResignAnswersParkedJoins(t *testing.T) {
	base := runtime.NumGoroutine()
	r := newRig(t, nil)
	joined := r.joinAll("g", 1)
	m := joined[0]
	// A second member parks in the rebalance it starts; the first must rejoin.
	parked := make(chan *kmsg.JoinGroupResponse, 1)
	go func() {
		req := joinReq("", withVersion(3))
		parked <- r.c.JoinGroup(r.ctx, req)
	}()
	eventually(t, "the second member to park", func() bool { return r.describe("g").State == "PreparingRebalance" })
	r.c.Resigned(0)
	if j := <-parked; j.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("parked join after resign: %+v", j)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation = "g", m.MemberID, m.Generation
	if code := r.c.Heartbeat(r.ctx, hb).ErrorCode; code != kerr.NotCoordinator.Code {
		t.Fatalf("heartbeat after resign: %d", code)
	}
	// Elected again: nothing was persisted (no SyncGroup), so the group is gone.
	r.c.Elected(context.Background(), 0)
	if d := r.describe("g"); d.State != "Dead" {
		t.Fatalf("describe after re-election %+v", d)
	}
	r.c.Close()
	checkGoroutines(t, base)
}

func TestCoordinatorReplayAfterRestart(t *testing.T) {
	r := newRig(t, nil)
	j := r.joinAll("g", 1)[0]
	sy := kmsg.NewPtrSyncGroupRequest()
	sy.Version = 3
	sy.Group, sy.MemberID, sy.Generation = "g", j.MemberID, j.Generation
	sy.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: j.MemberID, MemberAssignment: []byte("x")}}
	if s := r.c.SyncGroup(r.ctx, sy); s.ErrorCode != 0 {
		t.Fatalf("sync %+v", s)
	}
	if code := r.commit("g", j.MemberID, j.Generation, "t", 2, 77); code != 0 {
		t.Fatalf("commit %d", code)
	}
	if code := r.commit("simple", "", -1, "t", 0, 5); code != 0 {
		t.Fatalf("simple commit %d", code)
	}
	r.c.Close()

	// A new coordinator on the same log: the group and both groups' offsets come back.
	r2 := &rig{t: t, clk: r.clk, store: r.store, ctx: r.ctx}
	cfg := DefaultConfig()
	cfg.NumPartitions, cfg.Now, cfg.AfterFunc = 1, r.clk.Now, r.clk.AfterFunc
	r2.c = NewCoordinator(cfg, r.store)
	defer r2.c.Close()
	r2.c.Elected(context.Background(), 0)
	d := r2.describe("g")
	if d.State != "Stable" || len(d.Members) != 1 || d.Members[0].MemberID != j.MemberID || string(d.Members[0].MemberAssignment) != "x" || d.Protocol != "range" {
		t.Fatalf("describe after reload %+v", d)
	}
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 8
	req.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "g"}, {Group: "simple"}, {Group: "unknown", Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0}}}}}
	f := r2.c.OffsetFetch(r2.ctx, req)
	if len(f.Groups) != 3 || f.Groups[0].Topics[0].Partitions[0].Offset != 77 || f.Groups[1].Topics[0].Partitions[0].Offset != 5 {
		t.Fatalf("fetch after reload %+v", f)
	}
	if u := f.Groups[2]; u.ErrorCode != 0 || u.Topics[0].Partitions[0].Offset != -1 {
		t.Fatalf("unknown group %+v", u)
	}
	// The loaded member must heartbeat: it has not, so after its session timeout it is gone.
	eventually(t, "the loaded member to expire", func() bool {
		r.clk.Advance(time.Second)
		return r2.describe("g").State == "Empty"
	})
	// Its session timer went with it: only the coordinators' expiry timers remain.
	eventually(t, "the member's timer to stop", func() bool { return r.clk.pendingTimers() == 1 })
}

func TestOffsetFetchUnknownGroup(t *testing.T) {
	r := newRig(t, nil)
	defer r.c.Close()
	for _, v := range []int16{1, 5, 7} {
		f := r.fetch(v, "nope", "t", 0, 1)
		if f.ErrorCode != 0 || len(f.Topics) != 1 || len(f.Topics[0].Partitions) != 2 {
			t.Fatalf("v%d: %+v", v, f)
		}
		for _, p := range f.Topics[0].Partitions {
			if p.Offset != -1 || p.ErrorCode != 0 || p.LeaderEpoch != -1 {
				t.Fatalf("v%d partition %+v", v, p)
			}
		}
	}
	// All partitions of an unknown group: none.
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 7
	req.Group = "nope"
	if f := r.c.OffsetFetch(r.ctx, req); f.ErrorCode != 0 || len(f.Topics) != 0 {
		t.Fatalf("all partitions: %+v", f)
	}
}

func TestCoordinatorDeleteGroupsAndExpiry(t *testing.T) {
	base := runtime.NumGoroutine()
	r := newRig(t, func(c *Config) {
		c.OffsetsRetention = time.Hour
		c.OffsetsRetentionCheckInterval = time.Minute
	})
	if code := r.commit("a", "", -1, "t", 0, 1); code != 0 {
		t.Fatalf("commit %d", code)
	}
	if code := r.commit("b", "", -1, "t", 0, 1); code != 0 {
		t.Fatalf("commit %d", code)
	}
	if l := r.listGroups(); len(l.Groups) != 2 || l.Groups[0].GroupState != "Empty" {
		t.Fatalf("list %+v", l)
	}
	req := kmsg.NewPtrDeleteGroupsRequest()
	req.Version = 2
	req.Groups = []string{"a", "a", "zz"}
	d := r.c.DeleteGroups(r.ctx, req)
	if len(d.Groups) != 2 || d.Groups[0].ErrorCode != 0 || d.Groups[1].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("delete %+v", d)
	}
	if l := r.listGroups(); len(l.Groups) != 1 || l.Groups[0].Group != "b" {
		t.Fatalf("list after delete %+v", l)
	}
	if f := r.fetch(7, "a", "t", 0); f.Topics[0].Partitions[0].Offset != -1 {
		t.Fatalf("deleted group's offsets: %+v", f)
	}
	// "b" expires an hour after its commit.
	eventually(t, "group b to expire", func() bool {
		r.clk.Advance(time.Minute)
		return len(r.listGroups().Groups) == 0
	})
	// It leaves the coordinator once its tombstones are written.
	eventually(t, "group b to be forgotten", func() bool {
		r.c.mu.Lock()
		defer r.c.mu.Unlock()
		return len(r.c.groups) == 0
	})
	recs := r.store.records(0)
	if last := recs[len(recs)-1]; last.Value != nil {
		t.Fatal("no tombstone for the expired offset")
	}
	ld := newLoader()
	for _, rec := range recs {
		if err := ld.add(rec); err != nil {
			t.Fatal(err)
		}
	}
	for id, lg := range ld.groups {
		if len(lg.offsets) != 0 || lg.meta != nil {
			t.Fatalf("group %s survives in the log", id)
		}
	}
	// Nothing is left of the groups but the coordinator's expiry timer.
	if n := r.clk.pendingTimers(); n != 1 {
		t.Fatalf("%d timers left", n)
	}
	r.c.Close()
	if n := r.clk.pendingTimers(); n != 0 {
		t.Fatalf("%d timers armed after Close", n)
	}
	checkGoroutines(t, base)
}

func TestStartKeepsRequestOrder(t *testing.T) {
	r := newRig(t, nil)
	defer r.c.Close()
	j := r.joinAll("g", 1)[0]
	sy := kmsg.NewPtrSyncGroupRequest()
	sy.Group, sy.MemberID, sy.Generation = "g", j.MemberID, j.Generation
	if s := r.c.SyncGroup(r.ctx, sy); s.ErrorCode != 0 {
		t.Fatalf("sync %+v", s)
	}
	// One connection: a commit, then the (only) member rejoining. Both are queued before either
	// is awaited, so the commit sees the Stable generation it was sent for, although the rejoin
	// completes the next rebalance at once.
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version = 8
	commit.Group, commit.MemberID, commit.Generation = "g", j.MemberID, j.Generation
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 3, LeaderEpoch: -1}}}}
	waitCommit := r.c.Start(r.ctx, commit)
	join := joinReq(j.MemberID, withVersion(5))
	waitJoin := r.c.Start(r.ctx, join)
	if jr := waitJoin().(*kmsg.JoinGroupResponse); jr.ErrorCode != 0 || jr.Generation != j.Generation+1 {
		t.Fatalf("rejoin %+v", jr)
	}
	if cr := waitCommit().(*kmsg.OffsetCommitResponse); cr.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("commit queued before the rejoin: %+v", cr)
	}
	if r.c.Start(r.ctx, kmsg.NewPtrMetadataRequest()) != nil {
		t.Fatal("Start accepted a request it does not handle")
	}
}

func TestCoordinatorOffsetDelete(t *testing.T) {
	r := newRig(t, nil)
	defer r.c.Close()
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = "g"
	req.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
	if code := r.c.OffsetDelete(r.ctx, req).ErrorCode; code != kerr.GroupIDNotFound.Code {
		t.Fatalf("unknown group: %d", code)
	}
	if code := r.commit("g", "", -1, "t", 0, 4); code != 0 {
		t.Fatalf("commit %d", code)
	}
	if resp := r.c.OffsetDelete(r.ctx, req); resp.ErrorCode != 0 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("offset delete %+v", resp)
	}
	if f := r.fetch(7, "g", "t", 0); f.Topics[0].Partitions[0].Offset != -1 {
		t.Fatalf("offset still there %+v", f)
	}
	req.Group = ""
	if code := r.c.OffsetDelete(r.ctx, req).ErrorCode; code != kerr.InvalidGroupID.Code {
		t.Fatalf("empty group id: %d", code)
	}
}

// TestCoordinatorElectedReportsAFailedLoad: a replay that fails leaves the partition unowned and
// Elected says so, so that the broker elects it again; the next Elected loads the groups. Before,
// Elected returned nothing, the broker took the partition as loaded, and its groups answered
// COORDINATOR_LOAD_IN_PROGRESS until the leadership moved (a flaky coordinator-failover e2e test).
func TestCoordinatorElectedReportsAFailedLoad(t *testing.T) {
	r := newRig(t, nil)
	defer r.c.Close()
	if code := r.commit("g", "", -1, "t", 0, 5); code != 0 {
		t.Fatalf("commit %d", code)
	}
	r.c.Resigned(0)
	failure := errors.New("not the leader any more")
	r.store.mu.Lock()
	r.store.replayFn = func(context.Context) error { return failure }
	r.store.mu.Unlock()
	if err := r.c.Elected(context.Background(), 0); !errors.Is(err, failure) {
		t.Fatalf("Elected with a failing replay: %v, want %v", err, failure)
	}
	r.store.mu.Lock()
	r.store.replayFn = nil
	r.store.mu.Unlock()
	if err := r.c.Elected(context.Background(), 0); err != nil {
		t.Fatalf("Elected again: %v", err)
	}
	if f := r.fetch(7, "g", "t", 0); f.ErrorCode != 0 || f.Topics[0].Partitions[0].Offset != 5 {
		t.Fatalf("fetch after the second load: %+v", f)
	}
}

// TestCoordinatorNoInitialDelay: with group.initial.rebalance.delay.ms 0 (the test fixture's) a
// new group's first JoinGroup is answered without the clock moving: the expired delay fires at
// once, as Kafka's purgatory runs an already expired InitialDelayedJoin, not after a 1 ms timer.
func TestCoordinatorNoInitialDelay(t *testing.T) {
	r := newRig(t, func(c *Config) { c.InitialRebalanceDelay = 0 })
	defer r.c.Close()
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second) // the fake clock never moves
	defer cancel()
	req := joinReq("", withVersion(5))
	first := r.c.JoinGroup(ctx, req)
	if first.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("first join: %+v", first)
	}
	req.MemberID = first.MemberID
	j := r.c.JoinGroup(ctx, req)
	if j.ErrorCode != 0 || j.Generation != 1 || j.LeaderID != j.MemberID || len(j.Members) != 1 {
		t.Fatalf("join without advancing the clock: %+v (ctx %v)", j, ctx.Err())
	}
}
