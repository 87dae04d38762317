package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// joinArgs is a decoded JoinGroup request with its connection's client id and host.
type joinArgs struct {
	memberID             string
	instanceID           *string
	clientID, clientHost string
	rebalanceTimeout     int32 // ms
	sessionTimeout       int32 // ms
	protocolType         string
	protocols            []protocol
	requireKnownMemberID bool // v4+ dynamic members must first get an id (KIP-394)
	supportSkipAssign    bool // v9+ (KIP-814)
}

func joinArgsFrom(req *kmsg.JoinGroupRequest, ci clientInfo) joinArgs {
	a := joinArgs{
		memberID:             req.MemberID,
		instanceID:           req.InstanceID,
		clientID:             ci.id,
		clientHost:           ci.host,
		rebalanceTimeout:     req.RebalanceTimeoutMillis,
		sessionTimeout:       req.SessionTimeoutMillis,
		protocolType:         req.ProtocolType,
		requireKnownMemberID: req.Version >= 4 && req.InstanceID == nil,
		supportSkipAssign:    req.Version >= 9,
	}
	if req.Version == 0 { // v0 has no rebalance timeout: Kafka uses the session timeout
		a.rebalanceTimeout = a.sessionTimeout
	}
	for _, p := range req.Protocols {
		a.protocols = append(a.protocols, protocol{p.Name, p.Metadata})
	}
	return a
}

func joinError(version int16, memberID string, code int16) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.Version = version
	r.ErrorCode = code
	r.MemberID = memberID
	return r
}

func syncError(version int16, code int16) *kmsg.SyncGroupResponse {
	r := kmsg.NewPtrSyncGroupResponse()
	r.Version = version
	r.ErrorCode = code
	r.MemberAssignment = []byte{}
	return r
}

func (g *group) protocolTypePtr() *string {
	if g.protocolType == "" {
		return nil
	}
	return kmsg.StringPtr(g.protocolType)
}

func (g *group) protocolPtr() *string {
	if !g.hasProtocol {
		return nil
	}
	return kmsg.StringPtr(g.protocol)
}

// joinResult is a successful JoinGroup answer for the current generation.
func (g *group) joinResult(memberID string, withMembers bool, leader string, skip bool) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.Generation = g.generation
	r.ProtocolType = g.protocolTypePtr()
	r.Protocol = g.protocolPtr()
	r.LeaderID = leader
	r.SkipAssignment = skip
	r.MemberID = memberID
	if withMembers {
		for _, id := range g.order {
			m := g.members[id]
			jm := kmsg.NewJoinGroupResponseMember()
			jm.MemberID = m.id
			jm.InstanceID = m.instanceID
			jm.ProtocolMetadata = m.metadata(g.protocol)
			r.Members = append(r.Members, jm)
		}
	}
	return r
}

// validJoin checks what Kafka checks before looking at the group.
func (l *limits) validJoin(a *joinArgs) int16 {
	if s := ms(a.sessionTimeout); s < l.minSession || s > l.maxSession {
		return kerr.InvalidSessionTimeout.Code
	}
	return 0
}

// acceptJoiningMember is Kafka's check against group.max.size.
func (g *group) acceptJoiningMember(memberID string) bool {
	switch g.state {
	case statePreparingRebalance:
		m := g.members[memberID]
		return (m != nil && m.awaitingJoin.id != 0) || g.numAwaiting < g.lim.maxSize
	case stateCompletingRebalance, stateStable:
		return g.members[memberID] != nil || len(g.members) < g.lim.maxSize
	}
	return true
}

// joinGroup handles a JoinGroup request (Kafka's handleJoinGroup once the group exists). The
// answer may come at once or when the rebalance completes.
func (g *group) joinGroup(now time.Time, w waiter, a joinArgs) {
	g.now = now
	if code := g.lim.validJoin(&a); code != 0 {
		g.respond(w, joinError(w.version, a.memberID, code))
		return
	}
	switch {
	case g.is(stateDead):
		g.respond(w, joinError(w.version, a.memberID, g.deadCode()))
	case !g.acceptJoiningMember(a.memberID):
		g.remove(a.memberID)
		g.respond(w, joinError(w.version, "", kerr.GroupMaxSizeReached.Code))
	case a.memberID == "":
		g.newMemberJoin(w, &a)
	default:
		g.currentMemberJoin(w, &a)
	}
	if g.is(statePreparingRebalance) {
		g.tryCompleteJoin()
	}
}

func (g *group) newMemberJoin(w waiter, a *joinArgs) {
	if !g.supportsProtocols(a.protocolType, a.protocols) {
		g.respond(w, joinError(w.version, "", kerr.InconsistentGroupProtocol.Code))
		return
	}
	newID := g.generateMemberID(a.clientID, a.instanceID)
	switch {
	case a.instanceID != nil:
		if old, ok := g.static[*a.instanceID]; ok {
			g.updateStaticMemberAndRebalance(w, old, newID, a)
		} else {
			g.addMemberAndRebalance(w, newID, a)
		}
	case a.requireKnownMemberID:
		g.pending[newID] = g.after(ms(a.sessionTimeout))
		g.respond(w, joinError(w.version, newID, kerr.MemberIDRequired.Code))
	default:
		g.addMemberAndRebalance(w, newID, a)
	}
}

func (g *group) currentMemberJoin(w waiter, a *joinArgs) {
	if !g.supportsProtocols(a.protocolType, a.protocols) {
		g.respond(w, joinError(w.version, a.memberID, kerr.InconsistentGroupProtocol.Code))
		return
	}
	if _, ok := g.pending[a.memberID]; ok {
		if a.instanceID != nil { // Kafka throws IllegalStateException here
			g.respond(w, joinError(w.version, a.memberID, kerr.UnknownServerError.Code))
			return
		}
		g.addMemberAndRebalance(w, a.memberID, a)
		return
	}
	if code := g.validateCurrentMember(a.memberID, a.instanceID); code != 0 {
		g.respond(w, joinError(w.version, a.memberID, code))
		return
	}
	m := g.members[a.memberID]
	switch g.state {
	case statePreparingRebalance:
		g.updateMemberAndRebalance(m, a, w)
	case stateCompletingRebalance:
		if m.matches(a.protocols) {
			// The member lost the JoinGroup answer: give the same one again.
			r := g.joinResult(m.id, g.leader == m.id, g.leader, false)
			r.Version = w.version
			g.respond(w, r)
		} else {
			g.updateMemberAndRebalance(m, a, w)
		}
	case stateStable:
		if g.leader == m.id || !m.matches(a.protocols) {
			// The leader rejoining is how a consumer asks for a new assignment.
			g.updateMemberAndRebalance(m, a, w)
		} else {
			r := g.joinResult(m.id, false, g.leader, false)
			r.Version = w.version
			g.respond(w, r)
		}
	default:
		g.respond(w, joinError(w.version, a.memberID, kerr.UnknownMemberID.Code))
	}
}

// validateCurrentMember checks that memberID is in the group and, for a static member, that it is
// the id currently bound to its instance id.
func (g *group) validateCurrentMember(memberID string, instanceID *string) int16 {
	if instanceID != nil {
		cur, ok := g.static[*instanceID]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		if cur != memberID {
			return kerr.FencedInstanceID.Code
		}
	}
	if g.members[memberID] == nil {
		return kerr.UnknownMemberID.Code
	}
	return 0
}

func (g *group) addMemberAndRebalance(w waiter, memberID string, a *joinArgs) {
	m := &member{
		id:               memberID,
		instanceID:       a.instanceID,
		clientID:         a.clientID,
		clientHost:       a.clientHost,
		rebalanceTimeout: a.rebalanceTimeout,
		sessionTimeout:   a.sessionTimeout,
		protocolType:     a.protocolType,
		protocols:        a.protocols,
		assignment:       []byte{},
		isNew:            true,
	}
	if g.is(statePreparingRebalance) && g.generation == 0 {
		g.newMemberAdded = true // lets the initial rebalance delay be extended
	}
	g.add(m, w)
	// A new member cannot heartbeat before it knows its id, and a client that gave up on a long
	// rebalance may just retry: bound how long it may stay parked.
	g.scheduleHeartbeat(m, newMemberJoinTimeout)
	g.maybePrepareRebalance()
}

func (g *group) updateMemberAndRebalance(m *member, a *joinArgs, w waiter) {
	g.updateMember(m, a.protocols, a.rebalanceTimeout, a.sessionTimeout, w)
	g.maybePrepareRebalance()
}

// staticReplace remembers a static member's previous identity until its new one is persisted.
type staticReplace struct {
	instanceID        string
	oldID, newID      string
	oldLeader         string
	oldProtocols      []protocol
	oldRebalance      int32
	oldSession        int32
	supportSkipAssign bool
	generation        int32
}

// updateStaticMemberAndRebalance handles a known static member rejoining without its member id
// (typically after a restart): the new id replaces the old one, which is fenced.
func (g *group) updateStaticMemberAndRebalance(w waiter, oldID, newID string, a *joinArgs) {
	oldLeader := g.leader
	m := g.replaceStaticMember(*a.instanceID, oldID, newID)
	g.scheduleHeartbeat(m, ms(m.sessionTimeout))
	sr := &staticReplace{
		instanceID: *a.instanceID, oldID: oldID, newID: newID, oldLeader: oldLeader,
		oldProtocols: m.protocols, oldRebalance: m.rebalanceTimeout, oldSession: m.sessionTimeout,
		supportSkipAssign: a.supportSkipAssign, generation: g.generation,
	}
	g.updateMember(m, a.protocols, a.rebalanceTimeout, a.sessionTimeout, w)
	switch g.state {
	case stateStable:
		if g.hasProtocol && g.selectProtocol() == g.protocol {
			// Nothing changes for the others: persist the new id and keep the assignment.
			assignment := map[string][]byte{}
			for _, o := range g.members {
				assignment[o.id] = o.assignment
			}
			g.storeGroup(assignment, &appendCont{kind: appendStaticStore, w: w, static: sr})
		} else {
			g.maybePrepareRebalance()
		}
	case stateCompletingRebalance:
		// The leader may be assigning to the old id: start over.
		g.prepareRebalance()
	}
}

func (g *group) onStaticStored(c *appendCont, err error) {
	sr := c.static
	m := g.members[sr.newID]
	if m == nil || m.awaitingJoin != c.w || !g.is(stateStable) || g.generation != sr.generation {
		return // the group moved on; the member takes part in that instead
	}
	if err != nil {
		// Undo: the old id stays the static member's id.
		g.updateMember(m, sr.oldProtocols, sr.oldRebalance, sr.oldSession, waiter{})
		old := g.replaceStaticMember(sr.instanceID, sr.newID, sr.oldID)
		g.scheduleHeartbeat(old, ms(old.sessionTimeout))
		r := g.joinResult("", false, sr.oldLeader, false)
		r.ErrorCode = storeGroupError(err)
		r.Version = c.w.version
		g.respond(c.w, r)
		return
	}
	if sr.supportSkipAssign {
		isLeader := g.leader == m.id
		g.invokeJoin(m, g.joinResult(m.id, isLeader, g.leader, isLeader))
		return
	}
	// Older clients: answer with the old leader id so that a restarted leader does not run an
	// assignment that a Stable group would ignore.
	g.invokeJoin(m, g.joinResult(m.id, false, sr.oldLeader, false))
}

// replaceStaticMember moves a static member to a new member id, fencing requests parked with the
// old one.
func (g *group) replaceStaticMember(instanceID, oldID, newID string) *member {
	m := g.members[oldID]
	delete(g.members, oldID)
	g.invokeJoin(m, joinError(0, oldID, kerr.FencedInstanceID.Code))
	g.invokeSync(m, syncError(0, kerr.FencedInstanceID.Code))
	m.id = newID
	g.members[newID] = m
	for i, id := range g.order {
		if id == oldID {
			g.order[i] = newID
		}
	}
	if g.pendingSync[oldID] {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = true
	}
	if g.leader == oldID {
		g.leader = newID
	}
	g.static[instanceID] = newID
	return m
}

func (g *group) canRebalance() bool {
	return g.is(stateStable) || g.is(stateCompletingRebalance) || g.is(stateEmpty)
}

func (g *group) maybePrepareRebalance() {
	if g.canRebalance() {
		g.prepareRebalance()
	}
}

// prepareRebalance moves the group to PreparingRebalance. An Empty group waits the initial
// rebalance delay (extended while members keep arriving); otherwise it waits up to the rebalance
// timeout for every member to rejoin.
func (g *group) prepareRebalance() {
	if g.is(stateCompletingRebalance) {
		g.resetAndPropagateAssignmentError(kerr.RebalanceInProgress.Code)
	}
	g.removeSyncExpiration()
	if g.is(stateEmpty) {
		delay := g.lim.initialDelay
		g.join = joinTimer{active: true, at: g.initialJoinAt(delay), initial: true, delay: delay,
			remaining: max(g.rebalanceTimeout()-delay, 0)}
	} else {
		g.join = joinTimer{active: true, at: g.after(g.rebalanceTimeout())}
	}
	g.transition(statePreparingRebalance)
	g.tryCompleteJoin()
}

// tryCompleteJoin completes the rebalance early once every member has rejoined (never during the
// initial delay).
func (g *group) tryCompleteJoin() {
	if g.join.active && !g.join.initial && g.hasAllMembersJoined() {
		g.join.active = false
		g.onCompleteJoin()
	}
}

// initialJoinAt is when the initial rebalance delay of a new group ends. Kafka's delay of 0
// (group.initial.rebalance.delay.ms, the test fixture's) ends now: its purgatory runs an
// already expired InitialDelayedJoin at once, not a millisecond later. It cannot spin: the timer
// is pushed again only if a member joined since it last fired (onJoinTimer).
func (g *group) initialJoinAt(delay time.Duration) time.Time {
	if delay == 0 {
		return g.now
	}
	return g.after(delay)
}

func (g *group) onJoinTimer() {
	j := g.join
	if j.initial && g.newMemberAdded && j.remaining != 0 {
		g.newMemberAdded = false
		delay := min(g.lim.initialDelay, j.remaining)
		g.join = joinTimer{active: true, at: g.initialJoinAt(delay), initial: true, delay: delay,
			remaining: max(j.remaining-j.delay, 0)}
		return
	}
	g.onCompleteJoin()
}

// onCompleteJoin ends PreparingRebalance: members that did not rejoin are dropped, and the next
// generation starts (or the group becomes Empty).
func (g *group) onCompleteJoin() {
	for _, id := range append([]string(nil), g.order...) {
		if m := g.members[id]; m.awaitingJoin.id == 0 && !m.static() {
			g.remove(id)
		}
	}
	if g.is(stateDead) {
		return
	}
	if !g.maybeElectNewJoinedLeader() && len(g.members) > 0 {
		// Nobody rejoined: wait again until session timeouts clear out the silent members.
		g.join = joinTimer{active: true, at: g.after(g.rebalanceTimeout())}
		g.tryCompleteJoin()
		return
	}
	g.initNextGeneration()
	if g.is(stateEmpty) {
		g.storeGroup(nil, &appendCont{kind: appendEmptyStore})
		return
	}
	for _, id := range g.order {
		m := g.members[id]
		isLeader := g.leader == id
		g.invokeJoin(m, g.joinResult(id, isLeader, g.leader, false))
		g.scheduleHeartbeat(m, ms(m.sessionTimeout))
		m.isNew = false
		g.pendingSync[id] = true
	}
	g.sync = syncTimer{active: true, at: g.after(g.rebalanceTimeout()), generation: g.generation}
}

// maybeElectNewJoinedLeader keeps the leader if it rejoined, else picks a member that did.
func (g *group) maybeElectNewJoinedLeader() bool {
	if g.leader == "" {
		return false
	}
	if g.members[g.leader].awaitingJoin.id != 0 {
		return true
	}
	for _, id := range g.order {
		if g.members[id].awaitingJoin.id != 0 {
			g.leader = id
			return true
		}
	}
	return false
}

func (g *group) initNextGeneration() {
	g.generation++
	if len(g.members) > 0 {
		g.protocol, g.hasProtocol = g.selectProtocol(), true
		g.computeSubscribed()
		g.transition(stateCompletingRebalance)
	} else {
		g.protocol, g.hasProtocol = "", false
		g.computeSubscribed()
		g.transition(stateEmpty)
	}
	clear(g.pendingSync)
}

func (g *group) removeSyncExpiration() {
	clear(g.pendingSync)
	g.sync.active = false
}

func (g *group) removePendingSyncMember(id string) {
	delete(g.pendingSync, id)
	if len(g.pendingSync) == 0 {
		g.sync.active = false
	}
}

func (g *group) onExpirePendingSync(generation int32) {
	if generation != g.generation || !(g.is(stateCompletingRebalance) || g.is(stateStable)) || len(g.pendingSync) == 0 {
		return
	}
	for _, id := range append([]string(nil), g.order...) {
		if g.pendingSync[id] {
			g.remove(id)
		}
	}
	g.prepareRebalance()
}

func (g *group) resetAndPropagateAssignmentError(code int16) {
	for _, m := range g.members {
		m.assignment = []byte{}
	}
	g.propagateAssignment(code)
}

func (g *group) propagateAssignment(code int16) {
	for _, id := range g.order {
		m := g.members[id]
		r := syncError(0, code)
		if code == 0 {
			r.ProtocolType = g.protocolTypePtr()
			r.Protocol = g.protocolPtr()
			r.MemberAssignment = m.assignment
		}
		if g.invokeSync(m, r) {
			// Sessions paused while the member waited; they start again now.
			g.scheduleHeartbeat(m, ms(m.sessionTimeout))
		}
	}
}

// removeMemberAndUpdateGroup removes a member that left or failed and rebalances.
func (g *group) removeMemberAndUpdateGroup(m *member) {
	g.invokeJoin(m, joinError(0, "", kerr.UnknownMemberID.Code))
	g.remove(m.id)
	switch g.state {
	case stateStable, stateCompletingRebalance:
		g.maybePrepareRebalance()
	case statePreparingRebalance:
		g.tryCompleteJoin()
	}
}

func (g *group) removePendingMemberAndUpdateGroup(id string) {
	g.remove(id)
	if g.is(statePreparingRebalance) {
		g.tryCompleteJoin()
	}
}
