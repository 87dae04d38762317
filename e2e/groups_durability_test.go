package e2e

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchCommitted returns a group's committed offsets as "topic/partition=offset@epoch:metadata"
// lines, sorted.
func fetchCommitted(ctx context.Context, adm *kadm.Client, group string) ([]string, error) {
	fo, err := adm.FetchOffsets(ctx, group)
	if err == nil {
		err = fo.Error()
	}
	if err != nil {
		return nil, err
	}
	var out []string
	fo.Each(func(r kadm.OffsetResponse) {
		out = append(out, fmt.Sprintf("%s/%d=%d@%d:%s", r.Topic, r.Partition, r.At, r.LeaderEpoch, r.Metadata))
	})
	slices.Sort(out)
	return out, nil
}

// consumeGroupUntil runs a franz-go group member that consumes until it has want records,
// commits them and leaves; it returns the values read.
func consumeGroupUntil(t testing.TB, addrs []string, group, topic string, want int) []string {
	t.Helper()
	ctx := testContext(t)
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...), kgo.DisableAutoCommit()}, memberOpts(group, topic)...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []string
	for len(got) < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %v, want %d records: %v", got, want, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	return got
}

// TestGroupOffsetsSurviveKill9: a consumer group commits what it read and a simple group
// commits an offset with metadata; the node is killed with SIGKILL and restarted; both groups'
// offsets (with leader epochs and metadata) are as before, the consumer group is Empty with its
// protocol type, and a new member of it reads only what was produced after the commit.
func TestGroupOffsetsSurviveKill9(t *testing.T) {
	n := startSingle(t, groupConfig...)
	ctx := testContext(t)
	adm := kadm.NewClient(newClient(t, n.addr))
	createTopic(t, adm, "durable", 2, 1)
	prod := manualProducer(t, n.addr)
	produceTo(t, prod, "durable", 0, "b0", "b1", "b2", "b3", "b4", "b5")
	produceTo(t, prod, "durable", 1, "b6", "b7", "b8", "b9")
	if got := consumeGroupUntil(t, []string{n.addr}, "durable-g", "durable", 10); len(got) != 10 {
		t.Fatalf("consumed %v", got)
	}
	simple := kadm.Offsets{}
	simple.Add(kadm.Offset{Topic: "durable", Partition: 0, At: 3, LeaderEpoch: -1, Metadata: "checkpoint 3"})
	if err := adm.CommitAllOffsets(ctx, "durable-simple", simple); err != nil {
		t.Fatal(err)
	}
	before := map[string][]string{}
	for _, g := range []string{"durable-g", "durable-simple"} {
		off, err := fetchCommitted(ctx, adm, g)
		if err != nil {
			t.Fatal(err)
		}
		before[g] = off
	}
	// franz-go commits its member id as the metadata.
	if got := before["durable-g"]; len(got) != 2 || !strings.HasPrefix(got[0], "durable/0=6@0:kgo-") ||
		!strings.HasPrefix(got[1], "durable/1=4@0:kgo-") {
		t.Fatalf("durable-g committed %v, want offsets 6 and 4 in epoch 0", got)
	}

	n.kill()
	n.restart()
	start := time.Now()
	adm = kadm.NewClient(newClient(t, n.addr))
	for _, g := range []string{"durable-g", "durable-simple"} {
		var got []string
		eventually(t, 20*time.Second, g+"'s offsets after kill -9 and restart", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			off, err := fetchCommitted(ctx, adm, g)
			got = off
			return err == nil && len(off) > 0
		})
		if !slices.Equal(got, before[g]) {
			t.Errorf("%s after kill -9: %v, before: %v", g, got, before[g])
		}
	}
	t.Logf("offsets back %v after the restart", time.Since(start).Round(time.Millisecond))
	dg, err := adm.DescribeGroups(ctx, "durable-g")
	if g := dg["durable-g"]; err != nil || g.State != "Empty" || g.ProtocolType != "consumer" {
		t.Errorf("durable-g after restart: %v %+v", err, g)
	}
	produceTo(t, prod, "durable", 0, "after0")
	produceTo(t, prod, "durable", 1, "after1")
	got := consumeGroupUntil(t, []string{n.addr}, "durable-g", "durable", 2)
	slices.Sort(got)
	if !slices.Equal(got, []string{"after0", "after1"}) {
		t.Errorf("a new member after the restart read %v, want only [after0 after1]", got)
	}
}

// TestGroupLiveMemberAcrossKill9: a member stays connected while its node is killed with
// SIGKILL and restarted. The group comes back from __consumer_offsets Stable with the member in
// it, so the member goes on where it committed: it reads only the new records and its next
// commit is accepted.
func TestGroupLiveMemberAcrossKill9(t *testing.T) {
	n := startSingle(t, groupConfig...)
	ctx := testContext(t)
	adm := kadm.NewClient(newClient(t, n.addr))
	createTopic(t, adm, "live", 2, 1)
	prod := manualProducer(t, n.addr)
	produceTo(t, prod, "live", 0, "before-0")
	produceTo(t, prod, "live", 1, "before-1")
	const group = "live-g"
	cl := newClient(t, n.addr, append([]kgo.Opt{kgo.DisableAutoCommit(), kgo.Balancers(kgo.RangeBalancer())},
		memberOpts(group, "live")...)...)
	pollN(t, cl, 2)
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	id, gen := cl.GroupMetadata()

	n.kill()
	n.restart()
	produceTo(t, prod, "live", 0, "after-0")
	produceTo(t, prod, "live", 1, "after-1")
	var got []string
	for _, r := range pollN(t, cl, 2) {
		got = append(got, string(r.Value))
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"after-0", "after-1"}) {
		t.Errorf("the member read %v after the restart, want [after-0 after-1]", got)
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit after the restart: %v", err)
	}
	id2, gen2 := cl.GroupMetadata()
	t.Logf("member %s generation %d before the kill, %s generation %d after", id, gen, id2, gen2)
	off, err := fetchCommitted(ctx, adm, group)
	if err != nil || len(off) != 2 {
		t.Errorf("committed after the restart: %v %v", off, err)
	}
	for p, o := range off {
		// The restart bumps the partitions' leader epochs.
		if !strings.HasPrefix(o, fmt.Sprintf("live/%d=2@", p)) || !strings.HasSuffix(o, ":"+id2) {
			t.Errorf("committed after the restart: %v, want offset 2 committed by %s", off, id2)
		}
	}
	dg, err := adm.DescribeGroups(ctx, group)
	if g := dg[group]; err != nil || g.State != "Stable" || len(g.Members) != 1 || g.Members[0].MemberID != id2 {
		t.Errorf("%s after the restart: %v %+v", group, err, g)
	}
}

// offsetsPartition is Kafka's __consumer_offsets partition of a group (50 partitions):
// abs(Java's String.hashCode) mod 50.
func offsetsPartition(group string) int32 {
	var h int32
	for _, c := range utf16.Encode([]rune(group)) {
		h = 31*h + int32(c)
	}
	switch {
	case h == math.MinInt32: // Kafka's Utils.abs
		h = 0
	case h < 0:
		h = -h
	}
	return h % 50
}

// pollN polls cl until it has n records.
func pollN(t testing.TB, cl *kgo.Client, n int) []*kgo.Record {
	t.Helper()
	ctx := testContext(t)
	var got []*kgo.Record
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("polled %d of %d records: %v", len(got), n, err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, r) })
	}
	return got
}

// TestGroupOffsetsSurviveCoordinatorFailover: on three processes __consumer_offsets has
// replication factor 3. A consumer group with a live member and a simple group, both in the same
// __consumer_offsets partition, commit; the last commits are acknowledged right before that node
// is killed with SIGKILL. The groups' new coordinator, elected from the ISR, serves the last
// acknowledged offsets, knows the member, and the member goes on consuming and committing.
func TestGroupOffsetsSurviveCoordinatorFailover(t *testing.T) {
	c := startCluster(t, 3, groupConfig...)
	ctx := testContext(t)
	adm := kadm.NewClient(newClient(t, c.nodes[0].addr, kgo.SeedBrokers(c.addrs()...)))
	createTopic(t, adm, "fo", 3, 3)
	prod := manualProducer(t, c.addrs()...)
	produceRound := func(round int) {
		for p := range int32(3) {
			produceTo(t, prod, "fo", p, fmt.Sprint("r", round, "-p", p))
		}
	}
	produceRound(0)
	produceRound(1)

	const group = "failover-g"
	member, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.addrs()...), kgo.DisableAutoCommit(),
		kgo.Balancers(kgo.RangeBalancer())}, memberOpts(group, "fo")...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(member.Close)
	pollN(t, member, 6)
	if err := member.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	memberID, _ := member.GroupMetadata()
	fc := adm.FindGroupCoordinators(ctx, group)[group]
	if fc.Err != nil {
		t.Fatal(fc.Err)
	}
	killed := fc.NodeID
	// __consumer_offsets, created by the first FindCoordinator, is replicated on all three.
	td, err := adm.ListTopicsWithInternal(ctx, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	if len(td["__consumer_offsets"].Partitions) != 50 {
		t.Fatalf("__consumer_offsets: %+v", td["__consumer_offsets"])
	}
	for _, p := range td["__consumer_offsets"].Partitions {
		if len(p.Replicas) != 3 {
			t.Fatalf("__consumer_offsets/%d has replicas %v, want 3", p.Partition, p.Replicas)
		}
	}
	// A simple group (offsets only) in the same __consumer_offsets partition.
	var simple string
	for i := 0; simple == ""; i++ {
		if name := fmt.Sprint("failover-simple-", i); offsetsPartition(name) == offsetsPartition(group) {
			simple = name
		}
	}

	// The last commits, each acknowledged, then the kill.
	produceRound(2)
	pollN(t, member, 3)
	if err := member.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	last := kadm.Offsets{}
	last.Add(kadm.Offset{Topic: "fo", Partition: 0, At: 2, LeaderEpoch: -1, Metadata: "last before the kill"})
	if err := adm.CommitAllOffsets(ctx, simple, last); err != nil {
		t.Fatal(err)
	}
	c.nodes[killed].kill()
	start := time.Now()
	want := map[string][]string{
		group:  {"fo/0=3@0:" + memberID, "fo/1=3@0:" + memberID, "fo/2=3@0:" + memberID},
		simple: {"fo/0=2@-1:last before the kill"},
	}
	var others []string
	for i, nd := range c.nodes {
		if int32(i) != killed {
			others = append(others, nd.addr)
		}
	}
	// FindCoordinator is never cached by franz-go; a sharded admin request (OffsetFetch) that
	// found the old coordinator keeps dialling it (franz-go v1.22 drops cached coordinators on
	// dial errors only for unsharded requests), so the offsets are fetched with a client made
	// once a live node is named.
	adm2 := kadm.NewClient(newClient(t, others[0], kgo.SeedBrokers(others...)))
	var newCoord int32
	eventually(t, 30*time.Second, "FindCoordinator to name a live node", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		fc := adm2.FindGroupCoordinators(ctx, group)[group]
		newCoord = fc.NodeID
		return fc.Err == nil && fc.NodeID != killed
	})
	failover := time.Since(start)
	// Both live nodes must agree on a live coordinator, which then serves the offsets. Each node
	// is asked directly, so what is checked is the brokers' answers, not a client's cache of them
	// (franz-go re-asks an arbitrary node, and one answer naming the killed node, given a
	// moment before that node's metadata moved, sends a whole sharded request to the dead node).
	var lastErr string
	eventuallyOrDump(t, 30*time.Second, "the live nodes to agree on a live coordinator that serves the group's offsets",
		func() { logCoordinatorViews(t, c, group) }, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			coord, err := agreedCoordinator(ctx, c, group)
			if err == nil {
				newCoord = coord
				var off []string
				if off, err = fetchCommittedAt(ctx, c, coord, group); err == nil && len(off) == 0 {
					err = fmt.Errorf("node %d serves no offsets for %s", coord, group)
				}
			}
			if err != nil && err.Error() != lastErr {
				lastErr = err.Error()
				t.Logf("%v after the kill: %v", time.Since(start).Round(time.Millisecond), err)
			}
			return err == nil
		})
	for _, g := range []string{group, simple} {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		got, err := fetchCommittedAt(ctx, c, newCoord, g)
		cancel()
		if err != nil || !slices.Equal(got, want[g]) {
			t.Errorf("%s after the failover: %v (%v), want %v", g, got, err, want[g])
		}
	}
	adm3 := kadm.NewClient(newClient(t, others[0], kgo.SeedBrokers(others...)))
	t.Logf("node %d (coordinator) killed; node %d named coordinator after %v, serves the offsets after %v", killed, newCoord,
		failover.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	// The member goes on: it reads what comes next and commits it to the new coordinator.
	produceRound(3)
	// Read and commit until every partition's commit is past this round's record. A count of
	// records, or the sight of each partition's record, is not enough: the member may rejoin
	// after the failover (its session may run out while the coordinator moves), and a rejoin
	// sends it back to its committed offsets, so a record seen before the rejoin is read again
	// and only a commit made after the re-read covers it (at-least-once, as with Kafka).
	var seen []string
	eventually(t, 30*time.Second, "the member to commit this round on every partition", func() bool {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		member.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
			seen = append(seen, fmt.Sprintf("%s@%d/%d", r.Value, r.Partition, r.Offset))
		})
		cancel()
		if err := member.CommitUncommittedOffsets(ctx); err != nil {
			t.Logf("commit after the failover: %v", err)
			return false
		}
		off, err := fetchCommitted(ctx, adm3, group)
		if err != nil || len(off) != 3 {
			return false
		}
		for p, o := range off {
			if !strings.HasPrefix(o, fmt.Sprintf("fo/%d=4@", p)) {
				return false
			}
		}
		return true
	})
	t.Logf("read after the failover: %v", seen)
	id, _ := member.GroupMetadata()
	off, err := fetchCommitted(ctx, adm3, group)
	if err != nil || len(off) != 3 {
		t.Errorf("after the member's commit to the new coordinator: %v %v", off, err)
	}
	for p, o := range off {
		// The leader epoch is 1 where the killed node led the partition.
		if !strings.HasPrefix(o, fmt.Sprintf("fo/%d=4@", p)) || !strings.HasSuffix(o, ":"+id) {
			t.Errorf("after the member's commit to the new coordinator: %v, want offset 4 committed by %s", off, id)
		}
	}
	dg, err := adm3.DescribeGroups(ctx, group)
	if g := dg[group]; err != nil || g.State != "Stable" || len(g.Members) != 1 || g.Members[0].MemberID != id {
		t.Errorf("%s at the new coordinator: %v %+v", group, err, g)
	}
	t.Logf("member id %s before the failover, %s after", memberID, id)
}

// eventuallyOrDump is eventually, with dump called before the test fails: what each node thinks,
// for a failure that only shows once in many runs.
func eventuallyOrDump(t testing.TB, timeout time.Duration, what string, dump func(), cond func() bool) {
	t.Helper()
	if !eventuallyOK(timeout, cond) {
		dump()
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// logCoordinatorViews logs, for each running node, its own FindCoordinator answer for group and
// its view of the group's __consumer_offsets partition, then the tail of its log.
func logCoordinatorViews(t testing.TB, c *procCluster, group string) {
	t.Helper()
	p := offsetsPartition(group)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, n := range c.nodes {
		if !n.running() {
			t.Logf("node %d: not running", i)
			continue
		}
		cl := newClient(t, n.addr, kgo.SeedBrokers(n.addr))
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKeys = []string{group}
		if resp, err := cl.Broker(i).Request(ctx, req); err != nil {
			t.Logf("node %d: FindCoordinator: %v", i, err)
		} else if fc := resp.(*kmsg.FindCoordinatorResponse); len(fc.Coordinators) == 1 {
			t.Logf("node %d: FindCoordinator(%s) = node %d, error %d", i, group, fc.Coordinators[0].NodeID, fc.Coordinators[0].ErrorCode)
		}
		mreq := kmsg.NewPtrMetadataRequest()
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr("__consumer_offsets")
		mreq.Topics = append(mreq.Topics, mt)
		if resp, err := cl.Broker(i).Request(ctx, mreq); err != nil {
			t.Logf("node %d: Metadata: %v", i, err)
		} else {
			md := resp.(*kmsg.MetadataResponse)
			var brokers []int32
			for _, b := range md.Brokers {
				brokers = append(brokers, b.NodeID)
			}
			t.Logf("node %d: brokers %v, controller %d", i, brokers, md.ControllerID)
			for _, tp := range md.Topics {
				for _, pp := range tp.Partitions {
					if pp.Partition == p {
						t.Logf("node %d sees __consumer_offsets/%d: leader %d epoch %d replicas %v ISR %v error %d",
							i, p, pp.Leader, pp.LeaderEpoch, pp.Replicas, pp.ISR, pp.ErrorCode)
					}
				}
			}
		}
	}
	for i, n := range c.nodes {
		out := n.output()
		if len(out) > 6000 {
			out = out[len(out)-6000:]
		}
		t.Logf("node %d log tail:\n%s", i, out)
	}
}

// agreedCoordinator asks every running node of c for group's coordinator and returns it if all
// name the same running node without error.
func agreedCoordinator(ctx context.Context, c *procCluster, group string) (int32, error) {
	coord := int32(-1)
	for i, n := range c.nodes {
		if !n.running() {
			continue
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(n.addr))
		if err != nil {
			return -1, err
		}
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey, req.CoordinatorKeys = group, []string{group}
		resp, err := cl.Broker(i).Request(ctx, req)
		cl.Close()
		if err != nil {
			return -1, fmt.Errorf("node %d: FindCoordinator: %w", i, err)
		}
		fc := resp.(*kmsg.FindCoordinatorResponse)
		id, code := fc.NodeID, fc.ErrorCode
		if len(fc.Coordinators) == 1 {
			id, code = fc.Coordinators[0].NodeID, fc.Coordinators[0].ErrorCode
		}
		switch {
		case code != 0:
			return -1, fmt.Errorf("node %d: FindCoordinator: %v", i, kerr.ErrorForCode(code))
		case id < 0 || int(id) >= len(c.nodes) || !c.nodes[id].running():
			return -1, fmt.Errorf("node %d names node %d, which is not running, as %s's coordinator", i, id, group)
		case coord >= 0 && id != coord:
			return -1, fmt.Errorf("nodes disagree on %s's coordinator: %d and %d", group, coord, id)
		}
		coord = id
	}
	return coord, nil
}

// fetchCommittedAt is fetchCommitted sent straight to node coord, as "topic/partition=offset@epoch:metadata"
// lines, sorted.
func fetchCommittedAt(ctx context.Context, c *procCluster, coord int32, group string) ([]string, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.nodes[coord].addr))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group // up to v7
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group // v8 and later
	req.Groups = append(req.Groups, rg)
	resp, err := cl.Broker(int(coord)).Request(ctx, req)
	if err != nil {
		return nil, err
	}
	of := resp.(*kmsg.OffsetFetchResponse)
	code, topics := of.ErrorCode, of.Topics
	if len(of.Groups) == 1 {
		code = of.Groups[0].ErrorCode
		topics = topics[:0]
		for _, gt := range of.Groups[0].Topics {
			ot := kmsg.NewOffsetFetchResponseTopic()
			ot.Topic = gt.Topic
			for _, gp := range gt.Partitions {
				op := kmsg.NewOffsetFetchResponseTopicPartition()
				op.Partition, op.Offset, op.LeaderEpoch, op.Metadata, op.ErrorCode = gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata, gp.ErrorCode
				ot.Partitions = append(ot.Partitions, op)
			}
			topics = append(topics, ot)
		}
	}
	if code != 0 {
		return nil, fmt.Errorf("node %d: OffsetFetch(%s): %w", coord, group, kerr.ErrorForCode(code))
	}
	var out []string
	for _, tp := range topics {
		for _, p := range tp.Partitions {
			if p.ErrorCode != 0 {
				return nil, fmt.Errorf("node %d: OffsetFetch(%s) %s/%d: %w", coord, group, tp.Topic, p.Partition, kerr.ErrorForCode(p.ErrorCode))
			}
			md := ""
			if p.Metadata != nil {
				md = *p.Metadata
			}
			out = append(out, fmt.Sprintf("%s/%d=%d@%d:%s", tp.Topic, p.Partition, p.Offset, p.LeaderEpoch, md))
		}
	}
	slices.Sort(out)
	return out, nil
}
