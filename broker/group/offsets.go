package group

import (
	"cmp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// codeFromAppend marks a partition whose code is the append's outcome.
const codeFromAppend = int16(-32768)

// commitState is an OffsetCommit or TxnOffsetCommit in progress: the partitions asked for, the
// code already known for each, and the offsets to write.
type commitState struct {
	version int16
	txn     bool // a TxnOffsetCommit: answer with a TxnOffsetCommitResponse
	topics  []commitTopic
	codes   [][]int16
	items   []commitItem
}

type commitTopic struct {
	topic      string
	id         [16]byte // OffsetCommit v10+
	partitions []int32
}

type commitItem struct {
	tp topicPartition
	e  offsetEntry
}

// commitPartition is one partition of either request.
type commitPartition struct {
	partition   int32
	offset      int64
	leaderEpoch int32
	metadata    *string
	timestamp   int64 // OffsetCommit v1's commit timestamp; -1: now
}

// newCommitState sorts the partitions of req: unknown topics, oversized metadata, and the rest,
// whose entries it builds as Kafka's KafkaApis does (commit time now unless a v1 request gives
// one; an explicit expiry for v2-v4 requests with a retention time).
func newCommitState(req *kmsg.OffsetCommitRequest, lim *limits, now time.Time) *commitState {
	st := &commitState{version: req.Version}
	expire := int64(-1)
	if req.RetentionTimeMillis != -1 && req.Version >= 2 && req.Version <= 4 {
		expire = now.UnixMilli() + req.RetentionTimeMillis
	}
	for _, t := range req.Topics {
		ps := make([]commitPartition, len(t.Partitions))
		for i, p := range t.Partitions {
			ps[i] = commitPartition{p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, -1}
			if req.Version == 1 {
				ps[i].timestamp = p.Timestamp
			}
		}
		st.add(t.Topic, t.TopicID, ps, lim, now, expire)
	}
	return st
}

// newTxnCommitState is newCommitState for a TxnOffsetCommit (Kafka's convertTxnOffsets: commit
// time now, no expiry).
func newTxnCommitState(req *kmsg.TxnOffsetCommitRequest, lim *limits, now time.Time) *commitState {
	st := &commitState{version: req.Version, txn: true}
	for _, t := range req.Topics {
		ps := make([]commitPartition, len(t.Partitions))
		for i, p := range t.Partitions {
			ps[i] = commitPartition{p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, -1}
		}
		st.add(t.Topic, [16]byte{}, ps, lim, now, -1)
	}
	return st
}

func (st *commitState) add(topic string, id [16]byte, ps []commitPartition, lim *limits, now time.Time, expire int64) {
	ct := commitTopic{topic: topic, id: id, partitions: make([]int32, len(ps))}
	codes := make([]int16, len(ps))
	for i, p := range ps {
		ct.partitions[i] = p.partition
		switch {
		case lim.topicExists != nil && !lim.topicExists(topic, p.partition):
			codes[i] = kerr.UnknownTopicOrPartition.Code
		case p.metadata != nil && utf16Len(*p.metadata) > lim.maxMetadataBytes:
			codes[i] = kerr.OffsetMetadataTooLarge.Code
		default:
			codes[i] = codeFromAppend
			e := offsetEntry{offset: p.offset, leaderEpoch: p.leaderEpoch, commitTime: now.UnixMilli(), expireTime: expire, logOffset: -1}
			if p.metadata != nil {
				e.metadata = *p.metadata
			}
			if p.timestamp != -1 {
				e.commitTime = p.timestamp
			}
			st.items = append(st.items, commitItem{topicPartition{topic, p.partition}, e})
		}
	}
	st.topics = append(st.topics, ct)
	st.codes = append(st.codes, codes)
}

// known reports whether any partition is of an existing topic: if none is, Kafka answers without
// asking the coordinator at all.
func (st *commitState) known() bool {
	for _, cs := range st.codes {
		for _, c := range cs {
			if c != kerr.UnknownTopicOrPartition.Code {
				return true
			}
		}
	}
	return false
}

// response gives the partitions written the append's outcome c.
func (st *commitState) response(c int16) *kmsg.OffsetCommitResponse {
	return st.build(c, false).(*kmsg.OffsetCommitResponse)
}

// groupError gives every partition of an existing topic the group-level error c.
func (st *commitState) groupError(c int16) *kmsg.OffsetCommitResponse {
	return st.build(c, true).(*kmsg.OffsetCommitResponse)
}

// txnResponse and txnGroupError are response and groupError for a TxnOffsetCommit.
func (st *commitState) txnResponse(c int16) *kmsg.TxnOffsetCommitResponse {
	return st.build(c, false).(*kmsg.TxnOffsetCommitResponse)
}

func (st *commitState) txnGroupError(c int16) *kmsg.TxnOffsetCommitResponse {
	return st.build(c, true).(*kmsg.TxnOffsetCommitResponse)
}

// build answers with code c for the partitions written (group: also for those with oversized
// metadata), as an OffsetCommitResponse or, for a TxnOffsetCommit, a TxnOffsetCommitResponse.
func (st *commitState) build(c int16, group bool) kmsg.Response {
	code := func(ti, pi int) int16 {
		if k := st.codes[ti][pi]; k != codeFromAppend && (!group || k != kerr.OffsetMetadataTooLarge.Code) {
			return k
		}
		return c
	}
	if st.txn {
		r := kmsg.NewPtrTxnOffsetCommitResponse()
		r.Version = st.version
		for ti, t := range st.topics {
			rt := kmsg.NewTxnOffsetCommitResponseTopic()
			rt.Topic = t.topic
			for pi, p := range t.partitions {
				rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, code(ti, pi)
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
		return r
	}
	r := kmsg.NewPtrOffsetCommitResponse()
	r.Version = st.version
	for ti, t := range st.topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.topic
		rt.TopicID = t.id
		for pi, p := range t.partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p, code(ti, pi)
			rt.Partitions = append(rt.Partitions, rp)
		}
		r.Topics = append(r.Topics, rt)
	}
	return r
}

// validateOffsetCommit is Kafka's check of who may commit: members of the current generation, or
// anyone with generation -1 while the group is Empty (simple consumers, admin tools). A
// transactional commit without a member id, instance id and generation (TxnOffsetCommit v0-v2,
// which cannot send them) is accepted whatever the group's state.
func (g *group) validateOffsetCommit(generation int32, memberID string, instanceID *string, txn bool) int16 {
	switch {
	case g.is(stateDead):
		return g.deadCode()
	case generation < 0 && g.is(stateEmpty):
		return 0
	case generation >= 0 || memberID != "" || instanceID != nil:
		if c := g.validateCurrentMember(memberID, instanceID); c != 0 {
			return c
		}
		if generation != g.generation {
			return kerr.IllegalGeneration.Code
		}
		return 0
	case !txn && !g.is(stateEmpty):
		return kerr.UnknownMemberID.Code
	}
	return 0
}

// commitOffsets handles an OffsetCommit; it answers once the offsets are durable.
func (g *group) commitOffsets(now time.Time, w waiter, req *kmsg.OffsetCommitRequest) {
	g.now = now
	st := newCommitState(req, g.lim, now)
	if c := g.validateOffsetCommit(req.Generation, req.MemberID, req.InstanceID, false); c != 0 {
		g.respond(w, st.groupError(c))
		return
	}
	switch g.state {
	case stateCompletingRebalance:
		// The member has its new generation but not its assignment yet.
		g.respond(w, st.groupError(kerr.RebalanceInProgress.Code))
		return
	case stateStable, statePreparingRebalance:
		m := g.members[req.MemberID]
		g.scheduleHeartbeat(m, ms(m.sessionTimeout))
	}
	if len(st.items) == 0 {
		g.respond(w, st.response(0))
		return
	}
	recs := make([]Record, 0, len(st.items))
	for _, it := range st.items {
		g.pendingCommits[it.tp] = it.e
		recs = append(recs, Record{Key: offsetCommitKey(g.id, it.tp), Value: offsetCommitValue(it.e)})
	}
	g.emit(recs, &appendCont{kind: appendCommit, w: w, commit: st})
}

// onCommitStored is Kafka's onOffsetCommitAppend: the offsets become current unless a newer
// record (by log offset: a transactional commit completed meanwhile) replaced them.
func (g *group) onCommitStored(c *appendCont, offset int64, err error) {
	st := c.commit
	if !g.is(stateDead) {
		for _, it := range st.items {
			if err == nil {
				if _, ok := g.pendingCommits[it.tp]; ok {
					e := it.e
					e.logOffset = offset
					if cur, ok := g.offsets[it.tp]; !ok || cur.logOffset < e.logOffset {
						g.offsets[it.tp] = e
					}
				}
			}
			if p, ok := g.pendingCommits[it.tp]; ok && p == it.e {
				delete(g.pendingCommits, it.tp)
			}
		}
	}
	g.respond(c.w, st.response(storeOffsetsError(err)))
}

// fetchTopic asks for some partitions of a topic.
type fetchTopic struct {
	topic      string
	partitions []int32
}

// fetchedPartition is one partition's committed offset (offset -1 if none).
type fetchedPartition struct {
	topic       string
	partition   int32
	offset      int64
	leaderEpoch int32
	metadata    string
	code        int16
}

// fetchOffsets returns the committed offsets of the given partitions (all = every partition with
// an offset, by topic and partition). With requireStable, a partition with a commit still being
// written, or with a transactional commit waiting for its marker, answers UNSTABLE_OFFSET_COMMIT
// (KIP-447), as Kafka does; without it, the last committed offset.
func (g *group) fetchOffsets(topics []fetchTopic, all, requireStable bool) []fetchedPartition {
	var out []fetchedPartition
	if all {
		if g.is(stateDead) {
			return nil
		}
		tps := make([]topicPartition, 0, len(g.offsets))
		for tp := range g.offsets {
			tps = append(tps, tp)
		}
		slices.SortFunc(tps, func(a, b topicPartition) int {
			return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.partition, b.partition))
		})
		for _, tp := range tps {
			out = append(out, g.fetchOne(tp, requireStable))
		}
		return out
	}
	for _, t := range topics {
		for _, p := range t.partitions {
			out = append(out, g.fetchOne(topicPartition{t.topic, p}, requireStable))
		}
	}
	return out
}

func (g *group) fetchOne(tp topicPartition, requireStable bool) fetchedPartition {
	f := fetchedPartition{topic: tp.topic, partition: tp.partition, offset: -1, leaderEpoch: -1}
	if g.is(stateDead) {
		return f
	}
	if requireStable && g.hasPendingCommit(tp) {
		f.code = kerr.UnstableOffsetCommit.Code
		return f
	}
	if o, ok := g.offsets[tp]; ok {
		f.offset, f.leaderEpoch, f.metadata = o.offset, o.leaderEpoch, o.metadata
	}
	return f
}

// hasPendingCommit reports whether tp has a commit being written or a transactional commit
// waiting for its producer's marker (Kafka's hasPendingOffsetCommitsForTopicPartition).
func (g *group) hasPendingCommit(tp topicPartition) bool {
	if _, ok := g.pendingCommits[tp]; ok {
		return true
	}
	for _, offs := range g.pendingTxn {
		if _, ok := offs[tp]; ok {
			return true
		}
	}
	return false
}

// removeOffsets forgets the offsets of tps (committed, being written, or pending in a
// transaction) and returns the ones that need a tombstone.
func (g *group) removeOffsets(tps []topicPartition) []topicPartition {
	var removed []topicPartition
	for _, tp := range tps {
		_, committed := g.offsets[tp]
		if committed || g.hasPendingCommit(tp) {
			// A commit still being written lands before the tombstone (appends are ordered), so
			// it needs one too; so does a transactional one, whose commit marker would otherwise
			// bring it back when the log is replayed (the replay drops a key's pending
			// transactional offsets at its tombstone, as Kafka 3.5+'s OffsetMetadataManager does).
			removed = append(removed, tp)
		}
		delete(g.offsets, tp)
		delete(g.pendingCommits, tp)
		for pid, offs := range g.pendingTxn {
			if delete(offs, tp); len(offs) == 0 {
				delete(g.pendingTxn, pid)
			}
		}
	}
	return removed
}

// cleanup writes tombstones for removed offsets and, when that leaves an Empty group with nothing,
// makes it Dead and (if it ever had a generation) tombstones its metadata: Kafka's
// cleanupGroupMetadata. It reports whether it emitted an append.
func (g *group) cleanup(removed []topicPartition, c *appendCont) bool {
	if g.is(stateEmpty) && len(g.offsets) == 0 && len(g.pendingCommits) == 0 && len(g.pendingTxn) == 0 && len(g.pending) == 0 {
		g.transition(stateDead)
	}
	var recs []Record
	for _, tp := range removed {
		recs = append(recs, Record{Key: offsetCommitKey(g.id, tp)})
	}
	if g.is(stateDead) && g.generation > 0 {
		recs = append(recs, Record{Key: groupMetadataKey(g.id)})
	}
	if len(recs) == 0 {
		return false
	}
	g.emit(recs, c)
	return true
}

// deleteGroup handles one group of a DeleteGroups request: only an Empty group can go.
func (g *group) deleteGroup(now time.Time, w waiter) {
	g.now = now
	d := kmsg.NewDeleteGroupsResponseGroup()
	d.Group = g.id
	switch g.state {
	case stateDead:
		d.ErrorCode = kerr.GroupIDNotFound.Code
		if g.unloaded {
			d.ErrorCode = kerr.NotCoordinator.Code
		}
	case stateEmpty:
		g.transition(stateDead)
		clear(g.pending) // members still to rejoin with an id will find the group gone
		// Every offset goes, pending transactional ones too (Kafka 3.5+'s deleteAllOffsets; 3.4
		// dropped them from memory without a tombstone, so a later commit marker brought them
		// back on the next load).
		all := make([]topicPartition, 0, len(g.offsets)+len(g.pendingCommits))
		seen := map[topicPartition]bool{}
		add := func(tp topicPartition) {
			if !seen[tp] {
				seen[tp] = true
				all = append(all, tp)
			}
		}
		for tp := range g.offsets {
			add(tp)
		}
		for tp := range g.pendingCommits {
			add(tp)
		}
		for _, offs := range g.pendingTxn {
			for tp := range offs {
				add(tp)
			}
		}
		if g.cleanup(g.removeOffsets(all), &appendCont{kind: appendTombstones, w: w, deleted: &d}) {
			return // answered once the tombstones are written
		}
	default:
		d.ErrorCode = kerr.NonEmptyGroup.Code
	}
	g.respond(w, &kmsg.DeleteGroupsResponse{Version: w.version, Groups: []kmsg.DeleteGroupsResponseGroup{d}})
}

// deleteOffsets handles OffsetDelete: an Empty group loses any offsets; a consumer group with
// members keeps the ones of topics it subscribes to (GROUP_SUBSCRIBED_TO_TOPIC).
func (g *group) deleteOffsets(now time.Time, w waiter, req *kmsg.OffsetDeleteRequest) {
	g.now = now
	r := kmsg.NewPtrOffsetDeleteResponse()
	r.Version = w.version
	var subscribedCheck bool
	switch {
	case g.is(stateDead):
		r.ErrorCode = kerr.GroupIDNotFound.Code
		if g.unloaded {
			r.ErrorCode = kerr.NotCoordinator.Code
		}
	case g.is(stateEmpty):
	case g.protocolType == consumerProtocolType:
		subscribedCheck = true
	default:
		r.ErrorCode = kerr.NonEmptyGroup.Code
	}
	if r.ErrorCode != 0 {
		g.respond(w, r)
		return
	}
	var eligible []topicPartition
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			switch {
			case g.lim.topicExists != nil && !g.lim.topicExists(t.Topic, p.Partition):
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case subscribedCheck && g.isSubscribedToTopic(t.Topic):
				rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			default:
				eligible = append(eligible, topicPartition{t.Topic, p.Partition})
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		r.Topics = append(r.Topics, rt)
	}
	if len(eligible) > 0 && g.cleanup(g.removeOffsets(eligible), &appendCont{kind: appendTombstones, w: w, offDel: r}) {
		return
	}
	g.respond(w, r)
}

// expireOffsets drops offsets older than the retention (Kafka's removeExpiredOffsets): for an
// Empty group, counted from when it became Empty; for a Stable consumer group, only offsets of
// topics it no longer subscribes to; for a simple group, counted from each commit.
func (g *group) expireOffsets(now time.Time) {
	g.now = now
	if g.is(stateDead) {
		return
	}
	nowMs, retention := now.UnixMilli(), g.lim.retention.Milliseconds()
	var base func(offsetEntry) int64
	var keep map[string]bool
	switch {
	case g.protocolType != "" && g.is(stateEmpty):
		base = func(o offsetEntry) int64 {
			if g.stateTime.IsZero() {
				return o.commitTime
			}
			return g.stateTime.UnixMilli()
		}
	case g.protocolType == consumerProtocolType && g.subKnown && g.is(stateStable):
		base, keep = func(o offsetEntry) int64 { return o.commitTime }, g.subscribed
	case g.protocolType == "":
		base = func(o offsetEntry) int64 { return o.commitTime }
	}
	var expired []topicPartition
	if base != nil {
		for tp, o := range g.offsets {
			if keep[tp.topic] {
				continue
			}
			if g.hasPendingCommit(tp) {
				// Not while a commit is being written, nor while a transaction holds an offset
				// for it (Kafka 3.5+; 3.4 only waited for regular commits).
				continue
			}
			if (o.expireTime == -1 && nowMs-base(o) >= retention) || (o.expireTime != -1 && nowMs >= o.expireTime) {
				expired = append(expired, tp)
			}
		}
	}
	g.cleanup(g.removeOffsets(expired), &appendCont{kind: appendTombstones})
}

// loadGroup rebuilds a group from replayed records (Kafka's readGroupMessageValue + loadGroup): a
// group with members comes back Stable, one without Empty.
func loadGroup(id string, lg *loadedGroup, lim *limits, now time.Time) *group {
	g := newGroup(id, lim, now)
	g.offsets = lg.offsets
	for pid, offs := range lg.pendingTxn {
		m := make(map[topicPartition]*txnOffset, len(offs))
		for tp, e := range offs {
			m[tp] = &txnOffset{e: e, durable: true}
		}
		g.pendingTxn[pid] = m
	}
	v := lg.meta
	if v == nil {
		return g
	}
	g.protocolType = v.ProtocolType
	g.generation = v.Generation
	if v.Protocol != nil {
		g.protocol, g.hasProtocol = *v.Protocol, true
	}
	if v.Leader != nil {
		g.leader = *v.Leader
	}
	g.stateTime = time.Time{}
	if v.Version >= 2 && v.CurrentStateTimestamp != -1 {
		g.stateTime = time.UnixMilli(v.CurrentStateTimestamp)
	}
	for _, vm := range v.Members {
		m := &member{
			id:               vm.MemberID,
			instanceID:       vm.InstanceID,
			clientID:         vm.ClientID,
			clientHost:       vm.ClientHost,
			rebalanceTimeout: vm.RebalanceTimeoutMillis,
			sessionTimeout:   vm.SessionTimeoutMillis,
			protocolType:     v.ProtocolType,
			protocols:        []protocol{{g.protocol, vm.Subscription}},
			assignment:       vm.Assignment,
		}
		if v.Version == 0 {
			m.rebalanceTimeout = m.sessionTimeout
		}
		g.add(m, waiter{})
	}
	if len(g.members) > 0 {
		g.state = stateStable
	}
	g.computeSubscribed()
	return g
}

// onLoaded starts the sessions of loaded members (Kafka's onGroupLoaded).
func (g *group) onLoaded(now time.Time) {
	g.now = now
	if len(g.members) > g.lim.maxSize {
		g.prepareRebalance() // give members a chance to commit before the group shrinks
	}
	for _, id := range g.order {
		m := g.members[id]
		g.scheduleHeartbeat(m, ms(m.sessionTimeout))
	}
}
