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

// commitState is an OffsetCommit in progress: the request, the code already known for each
// partition, and the offsets to write.
type commitState struct {
	version int16
	req     *kmsg.OffsetCommitRequest
	codes   [][]int16
	items   []commitItem
}

type commitItem struct {
	tp topicPartition
	e  offsetEntry
}

// newCommitState sorts the partitions of req: unknown topics, oversized metadata, and the rest,
// whose entries it builds as Kafka's KafkaApis does (commit time now unless a v1 request gives
// one; an explicit expiry for v2-v4 requests with a retention time).
func newCommitState(req *kmsg.OffsetCommitRequest, lim *limits, now time.Time) *commitState {
	st := &commitState{version: req.Version, req: req, codes: make([][]int16, len(req.Topics))}
	for ti, t := range req.Topics {
		st.codes[ti] = make([]int16, len(t.Partitions))
		for pi, p := range t.Partitions {
			switch {
			case lim.topicExists != nil && !lim.topicExists(t.Topic, p.Partition):
				st.codes[ti][pi] = kerr.UnknownTopicOrPartition.Code
			case p.Metadata != nil && utf16Len(*p.Metadata) > lim.maxMetadataBytes:
				st.codes[ti][pi] = kerr.OffsetMetadataTooLarge.Code
			default:
				st.codes[ti][pi] = codeFromAppend
				e := offsetEntry{offset: p.Offset, leaderEpoch: p.LeaderEpoch, commitTime: now.UnixMilli(), expireTime: -1}
				if p.Metadata != nil {
					e.metadata = *p.Metadata
				}
				if p.Timestamp != -1 && req.Version == 1 {
					e.commitTime = p.Timestamp
				}
				if req.RetentionTimeMillis != -1 && req.Version >= 2 && req.Version <= 4 {
					e.expireTime = now.UnixMilli() + req.RetentionTimeMillis
				}
				st.items = append(st.items, commitItem{topicPartition{t.Topic, p.Partition}, e})
			}
		}
	}
	return st
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
func (st *commitState) response(c int16) *kmsg.OffsetCommitResponse { return st.build(c, false) }

// groupError gives every partition of an existing topic the group-level error c.
func (st *commitState) groupError(c int16) *kmsg.OffsetCommitResponse { return st.build(c, true) }

func (st *commitState) build(c int16, group bool) *kmsg.OffsetCommitResponse {
	r := kmsg.NewPtrOffsetCommitResponse()
	r.Version = st.version
	for ti, t := range st.req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		rt.TopicID = t.TopicID
		for pi, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = st.codes[ti][pi]
			if rp.ErrorCode == codeFromAppend || (group && rp.ErrorCode == kerr.OffsetMetadataTooLarge.Code) {
				rp.ErrorCode = c
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		r.Topics = append(r.Topics, rt)
	}
	return r
}

// validateOffsetCommit is Kafka's check of who may commit: members of the current generation, or
// anyone with generation -1 while the group is Empty (simple consumers, admin tools).
func (g *group) validateOffsetCommit(generation int32, memberID string, instanceID *string) int16 {
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
	case !g.is(stateEmpty):
		return kerr.UnknownMemberID.Code
	}
	return 0
}

// commitOffsets handles an OffsetCommit; it answers once the offsets are durable.
func (g *group) commitOffsets(now time.Time, w waiter, req *kmsg.OffsetCommitRequest) {
	g.now = now
	st := newCommitState(req, g.lim, now)
	if c := g.validateOffsetCommit(req.Generation, req.MemberID, req.InstanceID); c != 0 {
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

func (g *group) onCommitStored(c *appendCont, err error) {
	st := c.commit
	if !g.is(stateDead) {
		for _, it := range st.items {
			if err == nil {
				if _, ok := g.pendingCommits[it.tp]; ok {
					g.offsets[it.tp] = it.e
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
// written answers UNSTABLE_OFFSET_COMMIT, as Kafka does.
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
	if _, pending := g.pendingCommits[tp]; requireStable && pending {
		f.code = kerr.UnstableOffsetCommit.Code
		return f
	}
	if o, ok := g.offsets[tp]; ok {
		f.offset, f.leaderEpoch, f.metadata = o.offset, o.leaderEpoch, o.metadata
	}
	return f
}

// removeOffsets forgets the offsets of tps (committed or being written) and returns the ones
// that need a tombstone.
func (g *group) removeOffsets(tps []topicPartition) []topicPartition {
	var removed []topicPartition
	for _, tp := range tps {
		_, committed := g.offsets[tp]
		_, pending := g.pendingCommits[tp]
		if committed || pending {
			// A commit still being written lands before the tombstone (appends are ordered), so
			// it needs one too.
			removed = append(removed, tp)
		}
		delete(g.offsets, tp)
		delete(g.pendingCommits, tp)
	}
	return removed
}

// cleanup writes tombstones for removed offsets and, when that leaves an Empty group with nothing,
// makes it Dead and (if it ever had a generation) tombstones its metadata: Kafka's
// cleanupGroupMetadata. It reports whether it emitted an append.
func (g *group) cleanup(removed []topicPartition, c *appendCont) bool {
	if g.is(stateEmpty) && len(g.offsets) == 0 && len(g.pendingCommits) == 0 && len(g.pending) == 0 {
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
		all := make([]topicPartition, 0, len(g.offsets)+len(g.pendingCommits))
		for tp := range g.offsets {
			all = append(all, tp)
		}
		for tp := range g.pendingCommits {
			if _, ok := g.offsets[tp]; !ok {
				all = append(all, tp)
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
			if _, pending := g.pendingCommits[tp]; pending {
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
