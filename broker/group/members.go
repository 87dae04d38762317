package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// syncGroup handles a SyncGroup request: the leader's assignment is persisted and handed to every
// member; followers wait for it.
func (g *group) syncGroup(now time.Time, w waiter, req *kmsg.SyncGroupRequest) {
	g.now = now
	if g.is(stateDead) {
		g.respond(w, syncError(w.version, g.deadCode()))
		return
	}
	code := g.validateCurrentMember(req.MemberID, req.InstanceID)
	switch {
	case code != 0:
	case req.Generation != g.generation:
		code = kerr.IllegalGeneration.Code
	case req.ProtocolType != nil && *req.ProtocolType != g.protocolType:
		code = kerr.InconsistentGroupProtocol.Code
	case req.Protocol != nil && (!g.hasProtocol || *req.Protocol != g.protocol):
		code = kerr.InconsistentGroupProtocol.Code
	}
	if code != 0 {
		g.respond(w, syncError(w.version, code))
		return
	}
	m := g.members[req.MemberID]
	switch g.state {
	case stateEmpty:
		g.respond(w, syncError(w.version, kerr.UnknownMemberID.Code))
	case statePreparingRebalance:
		g.respond(w, syncError(w.version, kerr.RebalanceInProgress.Code))
	case stateCompletingRebalance:
		if m.awaitingSync.id != 0 { // a retry replaces the parked request (Kafka drops the old one)
			g.invokeSync(m, syncError(0, kerr.RebalanceInProgress.Code))
		}
		m.awaitingSync = w
		g.removePendingSyncMember(m.id)
		if g.leader != m.id {
			return
		}
		assignment := make(map[string][]byte, len(g.members))
		for _, a := range req.GroupAssignment {
			assignment[a.MemberID] = a.MemberAssignment
		}
		for id := range g.members {
			if assignment[id] == nil {
				assignment[id] = []byte{}
			}
		}
		g.storeGroup(assignment, &appendCont{kind: appendSyncStore, gen: g.generation, assign: assignment})
	case stateStable:
		g.removePendingSyncMember(m.id)
		r := syncError(w.version, 0)
		r.ProtocolType = g.protocolTypePtr()
		r.Protocol = g.protocolPtr()
		r.MemberAssignment = m.assignment
		g.respond(w, r)
		g.scheduleHeartbeat(m, ms(m.sessionTimeout))
	}
}

func (g *group) onSyncStored(c *appendCont, err error) {
	// Another member may have joined meanwhile: act only if this generation is still completing.
	if !g.is(stateCompletingRebalance) || c.gen != g.generation {
		return
	}
	if err != nil {
		g.resetAndPropagateAssignmentError(storeGroupError(err))
		g.maybePrepareRebalance()
		return
	}
	for _, m := range g.members {
		m.assignment = c.assign[m.id]
	}
	g.propagateAssignment(0)
	g.transition(stateStable)
}

// heartbeat handles a Heartbeat request and returns its error code.
func (g *group) heartbeat(now time.Time, req *kmsg.HeartbeatRequest) int16 {
	g.now = now
	if g.is(stateDead) {
		return g.deadCode()
	}
	if code := g.validateCurrentMember(req.MemberID, req.InstanceID); code != 0 {
		return code
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	m := g.members[req.MemberID]
	switch g.state {
	case stateCompletingRebalance, stateStable:
		g.scheduleHeartbeat(m, ms(m.sessionTimeout))
		return 0
	case statePreparingRebalance:
		g.scheduleHeartbeat(m, ms(m.sessionTimeout))
		return kerr.RebalanceInProgress.Code
	}
	return kerr.UnknownMemberID.Code
}

// leaveGroup removes members (v3+ batches them; older versions name one member id). The result is
// in v3+ form; the caller folds it into a top-level error for older versions.
func (g *group) leaveGroup(now time.Time, w waiter, members []kmsg.LeaveGroupRequestMember) *kmsg.LeaveGroupResponse {
	g.now = now
	r := kmsg.NewPtrLeaveGroupResponse()
	r.Version = w.version
	if g.is(stateDead) {
		r.ErrorCode = g.deadCode()
		return r
	}
	for _, lm := range members {
		code := int16(0)
		switch {
		case lm.MemberID == "":
			// Admin removal by instance id (KIP-345).
			cur, ok := "", false
			if lm.InstanceID != nil {
				cur, ok = g.static[*lm.InstanceID]
			}
			if ok {
				g.removeMemberAndUpdateGroup(g.members[cur])
			} else {
				code = kerr.UnknownMemberID.Code
			}
		case g.isPending(lm.MemberID):
			g.removePendingMemberAndUpdateGroup(lm.MemberID)
		default:
			code = g.validateCurrentMember(lm.MemberID, lm.InstanceID)
			if code == 0 {
				g.removeMemberAndUpdateGroup(g.members[lm.MemberID])
			}
		}
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID = lm.MemberID
		rm.InstanceID = lm.InstanceID
		rm.ErrorCode = code
		r.Members = append(r.Members, rm)
	}
	return r
}

func (g *group) isPending(id string) bool {
	_, ok := g.pending[id]
	return ok
}

// describe is the group's DescribeGroups entry.
func (g *group) describe() kmsg.DescribeGroupsResponseGroup {
	d := kmsg.NewDescribeGroupsResponseGroup()
	d.Group = g.id
	if g.unloaded {
		d.ErrorCode = kerr.NotCoordinator.Code
		return d
	}
	d.State = g.state.String()
	d.ProtocolType = g.protocolType
	if g.is(stateDead) {
		return d
	}
	stable := g.is(stateStable)
	if stable {
		d.Protocol = g.protocol
	}
	for _, id := range g.order {
		m := g.members[id]
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID = m.id
		dm.InstanceID = m.instanceID
		dm.ClientID = m.clientID
		dm.ClientHost = m.clientHost
		dm.ProtocolMetadata, dm.MemberAssignment = []byte{}, []byte{}
		if stable { // Kafka shows metadata and assignments only for a Stable group
			dm.ProtocolMetadata = m.metadata(g.protocol)
			dm.MemberAssignment = m.assignment
		}
		d.Members = append(d.Members, dm)
	}
	return d
}
