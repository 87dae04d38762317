package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// groupConfig keeps the group tests fast: no initial rebalance delay (Kafka's 3 s wait for more
// members of a new group), and session timeouts down to 1 s allowed.
var groupConfig = []string{
	"--config", "group.initial.rebalance.delay.ms=0",
	"--config", "group.min.session.timeout.ms=1000",
}

// memberOpts are the group settings of the franz-go members: a rebalance is noticed within a
// heartbeat (300 ms), and a member that does not rejoin is dropped after 10 s, not 60.
func memberOpts(group string, topics ...string) []kgo.Opt {
	return []kgo.Opt{
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(6 * time.Second),
		kgo.HeartbeatInterval(300 * time.Millisecond),
		kgo.RebalanceTimeout(10 * time.Second),
	}
}

// ownership tracks which member of one group owns which partition of one topic, from the
// members' own assign, revoke and lost callbacks. A partition assigned to one member while
// another still owns it is an error: the group would have two consumers for it.
type ownership struct {
	t     testing.TB
	addr  string
	group string
	topic string
	parts int32

	mu    sync.Mutex
	owner map[int32]string
}

func newOwnership(t testing.TB, addr, group, topic string, parts int32) *ownership {
	return &ownership{t: t, addr: addr, group: group, topic: topic, parts: parts, owner: map[int32]string{}}
}

// gmember is one franz-go group member that polls in the background.
type gmember struct {
	name string
	cl   *kgo.Client
	o    *ownership
	done chan struct{}

	mu      sync.Mutex
	owned   map[int32]bool
	revoked int // partitions revoked or lost over the member's life
	records []*kgo.Record
}

// join starts a member named name; extra options come after the defaults.
func (o *ownership) join(name string, extra ...kgo.Opt) *gmember {
	o.t.Helper()
	m := &gmember{name: name, o: o, owned: map[int32]bool{}, done: make(chan struct{})}
	opts := append([]kgo.Opt{kgo.SeedBrokers(o.addr), kgo.ClientID(name)}, memberOpts(o.group, o.topic)...)
	opts = append(opts,
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) { m.assigned(a[o.topic]) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, r map[string][]int32) { m.revoke(r[o.topic]) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, r map[string][]int32) { m.revoke(r[o.topic]) }),
	)
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		o.t.Fatal(err)
	}
	m.cl = cl
	o.t.Cleanup(m.close)
	go func() {
		defer close(m.done)
		for {
			fs := cl.PollFetches(context.Background())
			if fs.IsClientClosed() {
				return
			}
			m.mu.Lock()
			fs.EachRecord(func(r *kgo.Record) { m.records = append(m.records, r) })
			m.mu.Unlock()
		}
	}()
	return m
}

func (m *gmember) assigned(ps []int32) {
	m.o.mu.Lock()
	defer m.o.mu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range ps {
		if cur := m.o.owner[p]; cur != "" && cur != m.name {
			m.o.t.Errorf("partition %d assigned to %s while %s still owns it", p, m.name, cur)
		}
		m.o.owner[p] = m.name
		m.owned[p] = true
	}
}

func (m *gmember) revoke(ps []int32) {
	m.o.mu.Lock()
	defer m.o.mu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range ps {
		if m.o.owner[p] == m.name {
			delete(m.o.owner, p)
		}
		delete(m.owned, p)
		m.revoked++
	}
}

// close closes the client: a dynamic member leaves the group, a static one (InstanceID) does not.
func (m *gmember) close() {
	m.cl.Close()
	<-m.done
}

func (m *gmember) ownedSet() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.owned))
}

func (m *gmember) revocations() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.revoked
}

func (m *gmember) generation() int32 {
	_, gen := m.cl.GroupMetadata()
	return gen
}

// settled reports whether live are exactly the group's members and the group is Stable, every
// live member owns a non-empty set of partitions, the sets are disjoint and cover the topic,
// and the coordinator's view of each member's assignment is what the member owns. why says
// what does not hold yet.
func (o *ownership) settled(ctx context.Context, adm *kadm.Client, live ...*gmember) (ok bool, why string) {
	seen := map[int32]string{}
	for _, m := range live {
		owned := m.ownedSet()
		if len(owned) == 0 {
			return false, m.name + " owns nothing"
		}
		for _, p := range owned {
			if other, dup := seen[p]; dup {
				return false, fmt.Sprintf("partition %d owned by %s and %s", p, other, m.name)
			}
			seen[p] = m.name
		}
	}
	if len(seen) != int(o.parts) {
		return false, fmt.Sprintf("%d of %d partitions owned", len(seen), o.parts)
	}
	dg, err := adm.DescribeGroups(ctx, o.group)
	if err != nil {
		return false, err.Error()
	}
	g := dg[o.group]
	if g.Err != nil || g.State != "Stable" || len(g.Members) != len(live) {
		return false, fmt.Sprintf("group %s, %d members, err %v", g.State, len(g.Members), g.Err)
	}
	for _, m := range live {
		id, _ := m.cl.GroupMetadata()
		i := slices.IndexFunc(g.Members, func(d kadm.DescribedGroupMember) bool { return d.MemberID == id })
		if i < 0 {
			return false, m.name + " (" + id + ") not described"
		}
		var assigned []int32
		if a, ok := g.Members[i].Assigned.AsConsumer(); ok {
			for _, t := range a.Topics {
				if t.Topic == o.topic {
					assigned = append(assigned, t.Partitions...)
				}
			}
		}
		slices.Sort(assigned)
		if !slices.Equal(assigned, m.ownedSet()) {
			return false, fmt.Sprintf("%s owns %v, coordinator says %v", m.name, m.ownedSet(), assigned)
		}
	}
	return true, ""
}

// waitSettled waits until settled holds and logs how long it took.
func (o *ownership) waitSettled(adm *kadm.Client, step string, live ...*gmember) {
	o.t.Helper()
	start := time.Now()
	var why string
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		ok, w := o.settled(ctx, adm, live...)
		cancel()
		if ok {
			break
		}
		why = w
		if time.Now().After(deadline) {
			o.t.Fatalf("%s: group not settled after 30s: %s", step, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var owned []string
	for _, m := range live {
		owned = append(owned, fmt.Sprint(m.name, m.ownedSet()))
	}
	o.t.Logf("%s: settled in %v: %v", step, time.Since(start).Round(time.Millisecond), owned)
}

// createTopic creates a topic with parts partitions and replication factor rf.
func createTopic(t testing.TB, adm *kadm.Client, topic string, parts int32, rf int16) {
	t.Helper()
	r, err := adm.CreateTopic(testContext(t), parts, rf, nil, topic)
	if err == nil {
		err = r.Err
	}
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
}

// produceTo writes values to one partition with acks=all.
func produceTo(t testing.TB, cl *kgo.Client, topic string, partition int32, values ...string) {
	t.Helper()
	var recs []*kgo.Record
	for _, v := range values {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: partition, Value: []byte(v)})
	}
	if err := cl.ProduceSync(testContext(t), recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s/%d: %v", topic, partition, err)
	}
}

// manualProducer is a client that writes each record to the partition it names.
func manualProducer(t testing.TB, addrs ...string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestGroupFranzBalancers: franz-go members join and leave one group with the eager range and
// round-robin balancers and with cooperative-sticky. After every rebalance each member owns a
// non-empty, disjoint share of the six partitions, together all of them, and the coordinator's
// stored assignment is what each member owns; no partition is ever assigned to a member while
// another still owns it. Cooperative-sticky moves only the partitions it must.
func TestGroupFranzBalancers(t *testing.T) {
	n := startSingle(t, groupConfig...)
	adm := kadm.NewClient(newClient(t, n.addr))
	for _, tc := range []struct {
		name        string
		balancer    kgo.GroupBalancer
		cooperative bool
	}{
		{"range", kgo.RangeBalancer(), false},
		{"roundrobin", kgo.RoundRobinBalancer(), false},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic, group := "bal-"+tc.name, "bal-g-"+tc.name
			createTopic(t, adm, topic, 6, 1)
			o := newOwnership(t, n.addr, group, topic, 6)
			bal := kgo.Balancers(tc.balancer)

			m1 := o.join("m1", bal)
			o.waitSettled(adm, "m1 joined", m1)
			m2 := o.join("m2", bal)
			o.waitSettled(adm, "m2 joined", m1, m2)
			if tc.cooperative {
				// m1 gave up exactly the three partitions m2 now has.
				if got := m1.revocations(); got != 3 {
					t.Errorf("m1 revoked %d partitions when m2 joined, want 3", got)
				}
			}
			before := map[*gmember][]int32{m1: m1.ownedSet(), m2: m2.ownedSet()}
			m3 := o.join("m3", bal)
			o.waitSettled(adm, "m3 joined", m1, m2, m3)
			if tc.cooperative {
				for m, b := range before {
					if now := m.ownedSet(); !isSubset(now, b) {
						t.Errorf("%s owned %v, then %v after m3 joined: not sticky", m.name, b, now)
					}
				}
			}
			before = map[*gmember][]int32{m1: m1.ownedSet(), m3: m3.ownedSet()}
			m2.close()
			o.waitSettled(adm, "m2 left", m1, m3)
			if tc.cooperative {
				for m, b := range before {
					if now := m.ownedSet(); !isSubset(b, now) {
						t.Errorf("%s owned %v, then %v after m2 left: not sticky", m.name, b, now)
					}
				}
			}
			m1.close()
			o.waitSettled(adm, "m1 left", m3)
			m3.close()
			eventually(t, 10*time.Second, "group empty after the last member left", func() bool {
				dg, err := adm.DescribeGroups(testContext(t), group)
				return err == nil && dg[group].State == "Empty" && len(dg[group].Members) == 0
			})
		})
	}
}

func isSubset(small, big []int32) bool {
	for _, p := range small {
		if !slices.Contains(big, p) {
			return false
		}
	}
	return true
}

// TestGroupFranzStaticMembership: two static members (kgo.InstanceID). Restarting either the
// follower or the leader within the session timeout (Close does not leave for a static member)
// gets the restarted member its old partitions with no rebalance: the generation stays, the
// other member revokes nothing, and the old member id is replaced by a new one. A static member
// that does not come back is removed once its session times out.
func TestGroupFranzStaticMembership(t *testing.T) {
	n := startSingle(t, groupConfig...)
	adm := kadm.NewClient(newClient(t, n.addr))
	createTopic(t, adm, "static", 4, 1)
	o := newOwnership(t, n.addr, "static-g", "static", 4)
	opts := func(id string) []kgo.Opt {
		return []kgo.Opt{kgo.InstanceID(id), kgo.Balancers(kgo.RangeBalancer())}
	}
	a := o.join("a", opts("static-a")...)
	o.waitSettled(adm, "a joined", a)
	b := o.join("b", opts("static-b")...)
	o.waitSettled(adm, "b joined", a, b)
	gen := a.generation()
	if gen != b.generation() {
		t.Fatalf("a is in generation %d, b in %d", gen, b.generation())
	}

	// restart closes m and starts a member with the same instance id; the group must not
	// rebalance.
	restart := func(m, other *gmember, id string) *gmember {
		t.Helper()
		owned, otherRevoked := m.ownedSet(), other.revocations()
		oldID, _ := m.cl.GroupMetadata()
		m.close()
		dg, err := adm.DescribeGroups(testContext(t), "static-g")
		if err != nil || len(dg["static-g"].Members) != 2 {
			t.Fatalf("after %s closed: %v %+v; a static member's Close must not leave", m.name, err, dg["static-g"])
		}
		start := time.Now()
		m2 := o.join(m.name+"'", opts(id)...)
		o.waitSettled(adm, m.name+" restarted", m2, other)
		t.Logf("%s restarted: owns its partitions again after %v", m.name, time.Since(start).Round(time.Millisecond))
		if got := m2.ownedSet(); !slices.Equal(got, owned) {
			t.Errorf("%s owned %v before the restart, %v after", m.name, owned, got)
		}
		if g1, g2 := m2.generation(), other.generation(); g1 != gen || g2 != gen {
			t.Errorf("generation %d before %s restarted, now %d and %d: the group rebalanced", gen, m.name, g1, g2)
		}
		if got := other.revocations(); got != otherRevoked {
			t.Errorf("%s revoked partitions while %s restarted", other.name, m.name)
		}
		if newID, _ := m2.cl.GroupMetadata(); newID == oldID {
			t.Errorf("the restarted member kept member id %s", oldID)
		}
		return m2
	}
	b = restart(b, a, "static-b") // the follower
	a = restart(a, b, "static-a") // the leader (joined first)

	// b goes away for good: after its session timeout the group rebalances and a takes all.
	start := time.Now()
	b.close()
	o.waitSettled(adm, "b gone", a)
	if d := time.Since(start); d < 3*time.Second {
		t.Errorf("b's partitions moved %v after it closed, before its 6 s session timeout", d)
	}
}

// TestGroupAdmin: kadm's group administration against a group with a member, a simple group
// (offsets only) and an unknown group: ListGroups with and without a states filter,
// DescribeGroups (state, protocol, members with client id, host and assignment), OffsetFetch of
// an unknown group (-1 offsets, no error, v7 and v8), commit metadata round-trips, an admin
// commit to a group with members (UNKNOWN_MEMBER_ID), OffsetDelete (refused for a subscribed
// topic), DeleteGroups (NON_EMPTY_GROUP with members, then deleted once empty), and
// __consumer_offsets listed as internal.
func TestGroupAdmin(t *testing.T) {
	n := startSingle(t, groupConfig...)
	ctx := testContext(t)
	adm := kadm.NewClient(newClient(t, n.addr))
	createTopic(t, adm, "adm", 3, 1)
	createTopic(t, adm, "adm-other", 1, 1)
	prod := manualProducer(t, n.addr)
	for p := range int32(3) {
		produceTo(t, prod, "adm", p, "a", "b")
	}
	produceTo(t, prod, "adm-other", 0, "x", "y", "z")

	o := newOwnership(t, n.addr, "adm-g", "adm", 3)
	m := o.join("adm-member", kgo.Balancers(kgo.RangeBalancer()))
	o.waitSettled(adm, "member joined", m)
	memberID, _ := m.cl.GroupMetadata()

	// A simple group: an admin commit with generation -1, with metadata that must round-trip.
	simple := kadm.Offsets{}
	simple.Add(kadm.Offset{Topic: "adm", Partition: 1, At: 1, LeaderEpoch: -1, Metadata: "checkpoint ✓ 1"})
	simple.Add(kadm.Offset{Topic: "adm-other", Partition: 0, At: 3, LeaderEpoch: -1, Metadata: ""})
	if err := adm.CommitAllOffsets(ctx, "adm-simple", simple); err != nil {
		t.Fatalf("commit to a simple group: %v", err)
	}
	fo, err := adm.FetchOffsets(ctx, "adm-simple")
	if err != nil || fo.Error() != nil {
		t.Fatalf("fetch simple: %v %v", err, fo.Error())
	}
	if r, _ := fo.Lookup("adm", 1); r.At != 1 || r.Metadata != "checkpoint ✓ 1" {
		t.Errorf("simple group adm/1: %+v, want offset 1 with its metadata", r)
	}
	if r, _ := fo.Lookup("adm-other", 0); r.At != 3 || r.Metadata != "" {
		t.Errorf("simple group adm-other/0: %+v", r)
	}

	// ListGroups, unfiltered and by state.
	lg, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g := lg["adm-g"]; g.State != "Stable" || g.ProtocolType != "consumer" || g.Coordinator != 0 {
		t.Errorf("listed adm-g: %+v", g)
	}
	if g := lg["adm-simple"]; g.State != "Empty" || g.ProtocolType != "" {
		t.Errorf("listed adm-simple: %+v", g)
	}
	if lg, err = adm.ListGroups(ctx, "Empty"); err != nil || !slices.Equal(lg.Groups(), []string{"adm-simple"}) {
		t.Errorf("ListGroups(Empty): %v %v", lg.Groups(), err)
	}
	if lg, err = adm.ListGroups(ctx, "Stable", "PreparingRebalance"); err != nil || !slices.Equal(lg.Groups(), []string{"adm-g"}) {
		t.Errorf("ListGroups(Stable, PreparingRebalance): %v %v", lg.Groups(), err)
	}

	// DescribeGroups: the member, the simple group, an unknown group.
	dg, err := adm.DescribeGroups(ctx, "adm-g", "adm-simple", "adm-nope")
	if err != nil {
		t.Fatal(err)
	}
	g := dg["adm-g"]
	if g.Err != nil || g.State != "Stable" || g.ProtocolType != "consumer" || g.Protocol != "range" || len(g.Members) != 1 {
		t.Fatalf("described adm-g: %+v", g)
	}
	dm := g.Members[0]
	if dm.MemberID != memberID || dm.ClientID != "adm-member" || dm.ClientHost != "/127.0.0.1" || dm.InstanceID != nil {
		t.Errorf("described member: %+v (member id %s)", dm, memberID)
	}
	if got := g.AssignedPartitions().Sorted(); len(got) != 1 || got[0].Topic != "adm" || !slices.Equal(got[0].Partitions, []int32{0, 1, 2}) {
		t.Errorf("described assignment: %v", got)
	}
	if got := g.JoinTopics(); !slices.Equal(got, []string{"adm"}) {
		t.Errorf("described subscription: %v", got)
	}
	if g := dg["adm-simple"]; g.Err != nil || g.State != "Empty" || len(g.Members) != 0 {
		t.Errorf("described adm-simple: %+v", g)
	}
	if g := dg["adm-nope"]; g.Err != nil || g.State != "Dead" || len(g.Members) != 0 {
		t.Errorf("described an unknown group: %+v, want Dead and no error", g)
	}
	if all, err := adm.DescribeGroups(ctx); err != nil || len(all) != 2 {
		t.Errorf("DescribeGroups of every group: %v %v", slices.Sorted(maps.Keys(all)), err)
	}

	// OffsetFetch for an unknown group: -1 for every partition asked, no error, in the one-group
	// form (v7) and the many-groups form (v8).
	checkUnknown := func(cl *kgo.Client, version string) {
		t.Helper()
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Group = "adm-nope"
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic, rt.Partitions = "adm", []int32{0, 1, 2}
		req.Topics = append(req.Topics, rt)
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = "adm-nope"
		rgt := kmsg.NewOffsetFetchRequestGroupTopic()
		rgt.Topic, rgt.Partitions = "adm", []int32{0, 1, 2}
		rg.Topics = append(rg.Topics, rgt)
		req.Groups = append(req.Groups, rg)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("%s: %v", version, err)
		}
		var got []string
		check := func(code int16, topics []kmsg.OffsetFetchResponseTopic) {
			if code != 0 {
				got = append(got, fmt.Sprint("group error ", kerr.ErrorForCode(code)))
			}
			for _, tp := range topics {
				for _, p := range tp.Partitions {
					got = append(got, fmt.Sprintf("%s/%d=%d,err=%d", tp.Topic, p.Partition, p.Offset, p.ErrorCode))
				}
			}
		}
		if len(resp.Groups) > 0 {
			rg := resp.Groups[0]
			var topics []kmsg.OffsetFetchResponseTopic
			for _, tp := range rg.Topics {
				rt := kmsg.OffsetFetchResponseTopic{Topic: tp.Topic}
				for _, p := range tp.Partitions {
					rt.Partitions = append(rt.Partitions, kmsg.OffsetFetchResponseTopicPartition{Partition: p.Partition, Offset: p.Offset, ErrorCode: p.ErrorCode})
				}
				topics = append(topics, rt)
			}
			check(rg.ErrorCode, topics)
		} else {
			check(resp.ErrorCode, resp.Topics)
		}
		want := []string{"adm/0=-1,err=0", "adm/1=-1,err=0", "adm/2=-1,err=0"}
		if !slices.Equal(got, want) {
			t.Errorf("OffsetFetch %s of an unknown group: %v, want %v", version, got, want)
		}
	}
	checkUnknown(newClient(t, n.addr, kgo.MaxVersions(kversion.V2_8_0())), "v7")
	checkUnknown(newClient(t, n.addr), "v8")
	if fo, err := adm.FetchOffsetsForTopics(ctx, "adm-nope", "adm"); err != nil || fo.Error() != nil {
		t.Errorf("kadm fetch of an unknown group: %v %v", err, fo.Error())
	} else if r, _ := fo.Lookup("adm", 2); r.At != -1 {
		t.Errorf("kadm fetch of an unknown group: %+v", r)
	}

	// The member commits what it consumed and a partition of a topic it does not subscribe to.
	eventually(t, 10*time.Second, "the member consumed its 6 records", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.records) == 6
	})
	if err := m.cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	var commitErr error
	m.cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{"adm-other": {0: {Epoch: -1, Offset: 2}}},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			commitErr = err
			for _, tp := range resp.Topics {
				for _, p := range tp.Partitions {
					commitErr = errors.Join(commitErr, kerr.ErrorForCode(p.ErrorCode))
				}
			}
		})
	if commitErr != nil {
		t.Fatalf("member commit to adm-other: %v", commitErr)
	}
	fo, err = adm.FetchOffsets(ctx, "adm-g")
	if err != nil || fo.Error() != nil {
		t.Fatalf("fetch adm-g: %v %v", err, fo.Error())
	}
	for p := range int32(3) {
		if r, _ := fo.Lookup("adm", p); r.At != 2 {
			t.Errorf("adm-g adm/%d committed at %d, want 2", p, r.At)
		}
	}
	if r, _ := fo.Lookup("adm-other", 0); r.At != 2 {
		t.Errorf("adm-g adm-other/0 committed at %d, want 2", r.At)
	}

	// An admin (generation -1, no member id) cannot commit for a group with members.
	bad := kadm.Offsets{}
	bad.Add(kadm.Offset{Topic: "adm", Partition: 0, At: 0, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, "adm-g", bad); !errors.Is(err, kerr.UnknownMemberID) {
		t.Errorf("admin commit to a group with members: %v, want UNKNOWN_MEMBER_ID", err)
	}

	// OffsetDelete: refused for the subscribed topic, done for the other.
	ts := kadm.TopicsSet{}
	ts.Add("adm", 0)
	dr, err := adm.DeleteOffsets(ctx, "adm-g", ts)
	if err != nil || !errors.Is(dr["adm"][0], kerr.GroupSubscribedToTopic) {
		t.Errorf("delete offsets of a subscribed topic: %v %v, want GROUP_SUBSCRIBED_TO_TOPIC", err, dr)
	}
	ts = kadm.TopicsSet{}
	ts.Add("adm-other", 0)
	if dr, err = adm.DeleteOffsets(ctx, "adm-g", ts); err != nil || dr.Error() != nil {
		t.Errorf("delete offsets of an unsubscribed topic: %v %v", err, dr.Error())
	}
	if _, err := adm.DeleteOffsets(ctx, "adm-nope", ts); !errors.Is(err, kerr.GroupIDNotFound) {
		t.Errorf("delete offsets of an unknown group: %v, want GROUP_ID_NOT_FOUND", err)
	}
	fo, _ = adm.FetchOffsets(ctx, "adm-g")
	if _, ok := fo.Lookup("adm-other", 0); ok {
		t.Errorf("adm-other/0 still committed after OffsetDelete: %v", fo)
	}
	if r, _ := fo.Lookup("adm", 0); r.At != 2 {
		t.Errorf("adm/0 after refused OffsetDelete: %+v", r)
	}

	// DeleteGroups: refused while the member is in, done once it left; then the group is gone.
	if _, err := adm.DeleteGroup(ctx, "adm-g"); !errors.Is(err, kerr.NonEmptyGroup) {
		t.Errorf("delete a group with a member: %v, want NON_EMPTY_GROUP", err)
	}
	m.close()
	eventually(t, 10*time.Second, "adm-g Empty after its member left", func() bool {
		dg, err := adm.DescribeGroups(ctx, "adm-g")
		return err == nil && dg["adm-g"].State == "Empty"
	})
	if _, err := adm.DeleteGroup(ctx, "adm-g"); err != nil {
		t.Errorf("delete an empty group: %v", err)
	}
	if dg, err := adm.DescribeGroups(ctx, "adm-g"); err != nil || dg["adm-g"].State != "Dead" {
		t.Errorf("deleted group described: %v %+v", err, dg["adm-g"])
	}
	if fo, err := adm.FetchOffsets(ctx, "adm-g"); err != nil || len(fo) != 0 {
		t.Errorf("offsets of a deleted group: %v %v", fo, err)
	}
	if _, err := adm.DeleteGroup(ctx, "adm-g"); !errors.Is(err, kerr.GroupIDNotFound) {
		t.Errorf("delete a deleted group: %v, want GROUP_ID_NOT_FOUND", err)
	}
	if lg, err := adm.ListGroups(ctx); err != nil || !slices.Equal(lg.Groups(), []string{"adm-simple"}) {
		t.Errorf("groups after the delete: %v %v", lg.Groups(), err)
	}

	// Admin clients see __consumer_offsets as an internal topic.
	td, err := adm.ListTopicsWithInternal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := td["__consumer_offsets"]; !ok || !d.IsInternal || len(d.Partitions) != 50 {
		t.Errorf("__consumer_offsets: present %v, internal %v, %d partitions", ok, d.IsInternal, len(d.Partitions))
	}
	if td, _ := adm.ListTopics(ctx); td.Has("__consumer_offsets") {
		t.Errorf("ListTopics without internal topics lists __consumer_offsets")
	}
}
