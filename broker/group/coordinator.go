package group

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupAuthorizedOperations is what DescribeGroups v3+ reports when asked: READ, DELETE and
// DESCRIBE, every operation on a group, as Kafka does without an authorizer.
const groupAuthorizedOperations = 1<<3 | 1<<6 | 1<<8

// Start queues req (any of the request types this package handles) in its group at once and
// returns a function that waits for the answer, honouring ctx. The broker's handlers call Start
// synchronously and wait in the response future, so that the requests of one connection take
// effect in the order they were read (a consumer's OffsetCommit before its JoinGroup, say). It
// returns nil for other request types. The methods named after each API are Start and wait in
// one call.
func (c *Coordinator) Start(ctx context.Context, req kmsg.Request) func() kmsg.Response {
	switch r := req.(type) {
	case *kmsg.JoinGroupRequest:
		return erase(c.startJoinGroup(ctx, r))
	case *kmsg.SyncGroupRequest:
		return erase(c.startSyncGroup(ctx, r))
	case *kmsg.HeartbeatRequest:
		return erase(c.startHeartbeat(ctx, r))
	case *kmsg.LeaveGroupRequest:
		return erase(c.startLeaveGroup(ctx, r))
	case *kmsg.OffsetCommitRequest:
		return erase(c.startOffsetCommit(ctx, r))
	case *kmsg.OffsetFetchRequest:
		return erase(c.startOffsetFetch(ctx, r))
	case *kmsg.DescribeGroupsRequest:
		return erase(c.startDescribeGroups(ctx, r))
	case *kmsg.ListGroupsRequest:
		resp := c.ListGroups(ctx, r)
		return func() kmsg.Response { return resp }
	case *kmsg.DeleteGroupsRequest:
		return erase(c.startDeleteGroups(ctx, r))
	case *kmsg.OffsetDeleteRequest:
		return erase(c.startOffsetDelete(ctx, r))
	case *kmsg.TxnOffsetCommitRequest:
		return erase(c.startTxnOffsetCommit(ctx, r))
	}
	return nil
}

func erase[T kmsg.Response](wait func() T) func() kmsg.Response {
	return func() kmsg.Response { return wait() }
}

// await returns a function giving cl's answer, or fail(code) when there is no call (and
// COORDINATOR_NOT_AVAILABLE if ctx ends or the coordinator closes first).
func await[T kmsg.Response](ctx context.Context, c *Coordinator, cl *call, code int16, fail func(int16) T) func() T {
	if cl == nil {
		r := fail(code)
		return func() T { return r }
	}
	return func() T {
		if r, ok := c.wait(ctx, cl).(T); ok {
			return r
		}
		return fail(kerr.CoordinatorNotAvailable.Code)
	}
}

// JoinGroup handles JoinGroup v0-v9. It blocks until the rebalance the member joins completes (or
// ctx ends). The connection's client id and host come from WithClient.
func (c *Coordinator) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	return c.startJoinGroup(ctx, req)()
}

func (c *Coordinator) startJoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest) func() *kmsg.JoinGroupResponse {
	a := joinArgsFrom(req, clientFrom(ctx))
	invalid := c.lim.validJoin(&a)
	cl, code := c.dispatch(req.Group, false, func() bool { return req.MemberID == "" && invalid == 0 }, req.Version,
		func(g *group, now time.Time, w waiter) { g.joinGroup(now, w, a) })
	switch {
	case code != 0 || cl != nil:
	case invalid != 0:
		code = invalid
	default: // a member id for a group that does not exist
		code = kerr.UnknownMemberID.Code
	}
	return await(ctx, c, cl, code, func(code int16) *kmsg.JoinGroupResponse { return joinError(req.Version, req.MemberID, code) })
}

// SyncGroup handles SyncGroup v0-v5. A follower blocks until the leader's assignment is stored;
// the leader until it is durable.
func (c *Coordinator) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	return c.startSyncGroup(ctx, req)()
}

func (c *Coordinator) startSyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) func() *kmsg.SyncGroupResponse {
	fail := func(code int16) *kmsg.SyncGroupResponse { return syncError(req.Version, code) }
	if req.Version >= 5 && (req.ProtocolType == nil || req.Protocol == nil) {
		return await(ctx, c, nil, kerr.InconsistentGroupProtocol.Code, fail)
	}
	cl, code := c.dispatch(req.Group, false, nil, req.Version,
		func(g *group, now time.Time, w waiter) { g.syncGroup(now, w, req) })
	switch {
	case code == kerr.CoordinatorLoadInProgress.Code:
		// The rebalance state was lost with the old coordinator: make the member rejoin without
		// rediscovering the coordinator (older clients do not expect LOAD_IN_PROGRESS here).
		code = kerr.RebalanceInProgress.Code
	case code == 0 && cl == nil:
		code = kerr.UnknownMemberID.Code
	}
	return await(ctx, c, cl, code, fail)
}

// Heartbeat handles Heartbeat v0-v4.
func (c *Coordinator) Heartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	return c.startHeartbeat(ctx, req)()
}

func (c *Coordinator) startHeartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) func() *kmsg.HeartbeatResponse {
	cl, code := c.dispatch(req.Group, false, nil, req.Version, func(g *group, now time.Time, w waiter) {
		r := kmsg.NewPtrHeartbeatResponse()
		r.Version = w.version
		r.ErrorCode = g.heartbeat(now, req)
		g.respond(w, r)
	})
	switch {
	case code == kerr.CoordinatorLoadInProgress.Code:
		code = 0 // Kafka answers blindly while loading
	case code == 0 && cl == nil:
		code = kerr.UnknownMemberID.Code
	}
	return await(ctx, c, cl, code, func(code int16) *kmsg.HeartbeatResponse {
		r := kmsg.NewPtrHeartbeatResponse()
		r.Version = req.Version
		r.ErrorCode = code
		return r
	})
}

// LeaveGroup handles LeaveGroup v0-v5 (v3+ removes a batch of members, by member id or, for
// administrators, by group.instance.id alone).
func (c *Coordinator) LeaveGroup(ctx context.Context, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	return c.startLeaveGroup(ctx, req)()
}

func (c *Coordinator) startLeaveGroup(ctx context.Context, req *kmsg.LeaveGroupRequest) func() *kmsg.LeaveGroupResponse {
	members := req.Members
	if req.Version < 3 {
		members = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	cl, code := c.dispatch(req.Group, false, nil, req.Version, func(g *group, now time.Time, w waiter) {
		g.respond(w, g.leaveGroup(now, w, members))
	})
	wait := await(ctx, c, cl, code, func(code int16) *kmsg.LeaveGroupResponse {
		r := kmsg.NewPtrLeaveGroupResponse()
		r.Version = req.Version
		r.ErrorCode = code
		if code == 0 { // no such group
			for _, m := range members {
				rm := kmsg.NewLeaveGroupResponseMember()
				rm.MemberID, rm.InstanceID, rm.ErrorCode = m.MemberID, m.InstanceID, kerr.UnknownMemberID.Code
				r.Members = append(r.Members, rm)
			}
		}
		return r
	})
	return func() *kmsg.LeaveGroupResponse {
		r := wait()
		if req.Version < 3 { // one member: its error becomes the top-level one
			for _, m := range r.Members {
				if r.ErrorCode == 0 {
					r.ErrorCode = m.ErrorCode
				}
			}
			r.Members = nil
		}
		return r
	}
}

// OffsetCommit handles OffsetCommit v0-v9 (topic names; v10's topic ids are not resolved). It
// answers once the offsets are durable in __consumer_offsets.
func (c *Coordinator) OffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	return c.startOffsetCommit(ctx, req)()
}

func (c *Coordinator) startOffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) func() *kmsg.OffsetCommitResponse {
	st := newCommitState(req, c.lim, c.cfg.Now())
	if !st.known() { // Kafka answers without the coordinator when no partition exists
		r := st.response(0)
		return func() *kmsg.OffsetCommitResponse { return r }
	}
	cl, code := c.dispatch(req.Group, true, func() bool { return req.Generation < 0 }, req.Version,
		func(g *group, now time.Time, w waiter) { g.commitOffsets(now, w, req) })
	if code == 0 && cl == nil { // a generation of a group that does not exist
		code = kerr.IllegalGeneration.Code
	}
	return await(ctx, c, cl, code, st.groupError)
}

// OffsetFetch handles OffsetFetch v0-v9 (v8+ asks for several groups). A group this coordinator
// does not know answers offset -1 for every partition asked, and no error.
func (c *Coordinator) OffsetFetch(ctx context.Context, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	return c.startOffsetFetch(ctx, req)()
}

func (c *Coordinator) startOffsetFetch(ctx context.Context, req *kmsg.OffsetFetchRequest) func() *kmsg.OffsetFetchResponse {
	r := kmsg.NewPtrOffsetFetchResponse()
	r.Version = req.Version
	if req.Version >= 8 {
		calls := make([]*call, len(req.Groups))
		for i, rg := range req.Groups {
			calls[i], r.Groups = c.fetchGroup(rg, req.RequireStable, r.Groups)
		}
		return func() *kmsg.OffsetFetchResponse {
			for i, cl := range calls {
				if cl == nil {
					continue
				}
				if got, ok := c.wait(ctx, cl).(*kmsg.OffsetFetchResponse); ok {
					r.Groups[i] = got.Groups[0]
				} else {
					r.Groups[i].ErrorCode, r.Groups[i].Topics = kerr.CoordinatorNotAvailable.Code, nil
				}
			}
			return r
		}
	}
	// v0-v7: one group, and a flat list of topics; nil topics (v2+) means every partition.
	rg := kmsg.OffsetFetchRequestGroup{Group: req.Group}
	if req.Topics != nil {
		rg.Topics = make([]kmsg.OffsetFetchRequestGroupTopic, 0, len(req.Topics))
		for _, t := range req.Topics {
			rg.Topics = append(rg.Topics, kmsg.OffsetFetchRequestGroupTopic{Topic: t.Topic, Partitions: t.Partitions})
		}
	}
	cl, groups := c.fetchGroup(rg, req.RequireStable, nil)
	return func() *kmsg.OffsetFetchResponse {
		res := groups[0]
		if cl != nil {
			if got, ok := c.wait(ctx, cl).(*kmsg.OffsetFetchResponse); ok {
				res = got.Groups[0]
			} else {
				res.ErrorCode = kerr.CoordinatorNotAvailable.Code
			}
		}
		if res.ErrorCode != 0 {
			if req.Version >= 2 {
				r.ErrorCode = res.ErrorCode
				return r
			}
			// v0-v1 have no top-level error: every partition asked carries it.
			res = fetchResult(rg, nil, res.ErrorCode)
		}
		for _, t := range res.Topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
		return r
	}
}

// fetchGroup starts fetching one group's offsets: it appends the group's result to out, final
// unless the returned call is not nil (then its answer replaces it).
func (c *Coordinator) fetchGroup(rg kmsg.OffsetFetchRequestGroup, requireStable bool,
	out []kmsg.OffsetFetchResponseGroup) (*call, []kmsg.OffsetFetchResponseGroup) {
	cl, code := c.dispatch(rg.Group, true, nil, 8, func(g *group, now time.Time, w waiter) {
		g.now = now
		topics := make([]fetchTopic, 0, len(rg.Topics))
		for _, t := range rg.Topics {
			topics = append(topics, fetchTopic{t.Topic, t.Partitions})
		}
		res := fetchResult(rg, g.fetchOffsets(topics, rg.Topics == nil, requireStable), 0)
		g.respond(w, &kmsg.OffsetFetchResponse{Version: 8, Groups: []kmsg.OffsetFetchResponseGroup{res}})
	})
	res := fetchResult(rg, nil, 0)
	if code != 0 {
		res.Topics, res.ErrorCode = nil, code
	}
	return cl, append(out, res)
}

// fetchResult builds a group's answer: the fetched partitions, or (fetched == nil) offset -1 and
// error code for every partition asked.
func fetchResult(rg kmsg.OffsetFetchRequestGroup, fetched []fetchedPartition, code int16) kmsg.OffsetFetchResponseGroup {
	res := kmsg.NewOffsetFetchResponseGroup()
	res.Group = rg.Group
	if fetched == nil {
		for _, t := range rg.Topics {
			for _, p := range t.Partitions {
				fetched = append(fetched, fetchedPartition{topic: t.Topic, partition: p, offset: -1, leaderEpoch: -1, code: code})
			}
		}
	}
	for _, f := range fetched {
		if n := len(res.Topics); n == 0 || res.Topics[n-1].Topic != f.topic {
			rt := kmsg.NewOffsetFetchResponseGroupTopic()
			rt.Topic = f.topic
			res.Topics = append(res.Topics, rt)
		}
		rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = f.partition, f.offset, f.leaderEpoch, kmsg.StringPtr(f.metadata), f.code
		t := &res.Topics[len(res.Topics)-1]
		t.Partitions = append(t.Partitions, rp)
	}
	return res
}

// DescribeGroups handles DescribeGroups v0-v5. A group this coordinator leads but does not know
// is reported Dead, without error.
func (c *Coordinator) DescribeGroups(ctx context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	return c.startDescribeGroups(ctx, req)()
}

func (c *Coordinator) startDescribeGroups(ctx context.Context, req *kmsg.DescribeGroupsRequest) func() *kmsg.DescribeGroupsResponse {
	r := kmsg.NewPtrDescribeGroupsResponse()
	r.Version = req.Version
	calls := make([]*call, len(req.Groups))
	for i, id := range req.Groups {
		var code int16
		calls[i], code = c.dispatch(id, true, nil, req.Version, func(g *group, _ time.Time, w waiter) {
			g.respond(w, &kmsg.DescribeGroupsResponse{Version: w.version, Groups: []kmsg.DescribeGroupsResponseGroup{g.describe()}})
		})
		d := kmsg.NewDescribeGroupsResponseGroup()
		d.Group, d.ErrorCode = id, code
		if code == 0 && calls[i] == nil {
			d.State = stateDead.String()
		}
		r.Groups = append(r.Groups, d)
	}
	return func() *kmsg.DescribeGroupsResponse {
		for i, cl := range calls {
			if cl == nil {
				continue
			}
			if got, ok := c.wait(ctx, cl).(*kmsg.DescribeGroupsResponse); ok {
				r.Groups[i] = got.Groups[0]
			} else {
				r.Groups[i].ErrorCode = kerr.CoordinatorNotAvailable.Code
			}
		}
		if req.Version >= 3 && req.IncludeAuthorizedOperations {
			for i := range r.Groups {
				if r.Groups[i].ErrorCode == 0 {
					r.Groups[i].AuthorizedOperations = groupAuthorizedOperations
				}
			}
		}
		return r
	}
}

// ListGroups handles ListGroups v0-v5: every group of the partitions this coordinator leads,
// filtered by state (v4+, Kafka's exact state names) and type (v5+; all groups are "classic").
// While a partition loads (or its election is pending, see Config.Leads), the groups known so far
// come with COORDINATOR_LOAD_IN_PROGRESS.
func (c *Coordinator) ListGroups(_ context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	r := kmsg.NewPtrListGroupsResponse()
	r.Version = req.Version
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		r.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return r
	}
	for _, ps := range c.parts {
		if ps.loading {
			r.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		}
	}
	for p := range int32(c.cfg.partitionCount()) {
		if c.electionPendingLocked(p) {
			r.ErrorCode = kerr.CoordinatorLoadInProgress.Code
			break
		}
	}
	if len(req.TypesFilter) > 0 && !slices.ContainsFunc(req.TypesFilter, func(t string) bool { return strings.EqualFold(t, "classic") }) {
		return r
	}
	for id, a := range c.groups {
		a.mu.Lock()
		state, ptype := a.state, a.ptype
		a.mu.Unlock()
		if state == stateDead || (len(req.StatesFilter) > 0 && !slices.Contains(req.StatesFilter, state.String())) {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = id, ptype, state.String(), "classic"
		r.Groups = append(r.Groups, lg)
	}
	slices.SortFunc(r.Groups, func(a, b kmsg.ListGroupsResponseGroup) int { return strings.Compare(a.Group, b.Group) })
	return r
}

// DeleteGroups handles DeleteGroups v0-v2: an Empty group is deleted (its offsets and metadata
// tombstoned, answered once written); others get NON_EMPTY_GROUP, unknown ones
// GROUP_ID_NOT_FOUND.
func (c *Coordinator) DeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	return c.startDeleteGroups(ctx, req)()
}

func (c *Coordinator) startDeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) func() *kmsg.DeleteGroupsResponse {
	r := kmsg.NewPtrDeleteGroupsResponse()
	r.Version = req.Version
	var calls []*call
	for _, id := range req.Groups {
		if slices.ContainsFunc(r.Groups, func(d kmsg.DeleteGroupsResponseGroup) bool { return d.Group == id }) {
			continue // Kafka answers each group once
		}
		cl, code := c.dispatch(id, true, nil, req.Version, func(g *group, now time.Time, w waiter) { g.deleteGroup(now, w) })
		d := kmsg.NewDeleteGroupsResponseGroup()
		d.Group, d.ErrorCode = id, code
		if code == 0 && cl == nil {
			d.ErrorCode = kerr.GroupIDNotFound.Code
		}
		calls = append(calls, cl)
		r.Groups = append(r.Groups, d)
	}
	return func() *kmsg.DeleteGroupsResponse {
		for i, cl := range calls {
			if cl == nil {
				continue
			}
			if got, ok := c.wait(ctx, cl).(*kmsg.DeleteGroupsResponse); ok {
				r.Groups[i] = got.Groups[0]
			} else {
				r.Groups[i].ErrorCode = kerr.CoordinatorNotAvailable.Code
			}
		}
		return r
	}
}

// OffsetDelete handles OffsetDelete v0.
func (c *Coordinator) OffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	return c.startOffsetDelete(ctx, req)()
}

func (c *Coordinator) startOffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) func() *kmsg.OffsetDeleteResponse {
	cl, code := c.dispatch(req.Group, false, nil, req.Version,
		func(g *group, now time.Time, w waiter) { g.deleteOffsets(now, w, req) })
	if code == 0 && cl == nil {
		code = kerr.GroupIDNotFound.Code
	}
	return await(ctx, c, cl, code, func(code int16) *kmsg.OffsetDeleteResponse {
		r := kmsg.NewPtrOffsetDeleteResponse()
		r.Version = req.Version
		r.ErrorCode = code
		return r
	})
}
