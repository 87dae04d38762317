package group

import (
	"bytes"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupState is one of Kafka's classic group states.
type groupState int8

const (
	stateEmpty groupState = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

var stateNames = [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}

func (s groupState) String() string { return stateNames[s] }

// newMemberJoinTimeout bounds how long a new member may wait in a rebalance without heartbeating
// (Kafka's GroupCoordinator.NewMemberJoinTimeoutMs).
const newMemberJoinTimeout = 5 * time.Minute

// consumerProtocolType is the protocol type of Kafka consumers, whose subscriptions the
// coordinator reads for OffsetDelete and offset expiry.
const consumerProtocolType = "consumer"

// waiter identifies a parked request; the runtime maps it to the caller. version is the request's
// version, so the machine can build the response. id 0 means none.
type waiter struct {
	id      uint64
	version int16
}

// reply is a response to deliver to a waiter.
type reply struct {
	to   waiter
	resp kmsg.Response
}

// appendReq asks the runtime to persist records (as a transactional batch of txn, if not nil); it
// answers with group.appendDone(seq, offset, err). Appends of one group must complete in the
// order they were issued.
type appendReq struct {
	seq  uint64
	recs []Record
	txn  *Producer
}

// output is what a step of the machine asks the runtime to do.
type output struct {
	replies []reply
	appends []appendReq
}

type protocol struct {
	name     string
	metadata []byte
}

// member is Kafka's MemberMetadata.
type member struct {
	id               string
	instanceID       *string // group.instance.id of a static member
	clientID         string
	clientHost       string
	rebalanceTimeout int32 // ms
	sessionTimeout   int32 // ms
	protocolType     string
	protocols        []protocol // in the member's order of preference
	assignment       []byte

	awaitingJoin waiter
	awaitingSync waiter
	isNew        bool

	// Heartbeat expiry, Kafka's DelayedHeartbeat: at hbDeadline the member is removed unless it
	// heartbeated (hbSatisfied) or is parked in a JoinGroup or SyncGroup.
	hbSatisfied bool
	hbDeadline  time.Time // zero: none
}

func (m *member) static() bool { return m.instanceID != nil }

func (m *member) metadata(protocol string) []byte {
	for _, p := range m.protocols {
		if p.name == protocol {
			return p.metadata
		}
	}
	return nil
}

func (m *member) hasSatisfiedHeartbeat() bool {
	if m.isNew {
		return m.hbSatisfied
	}
	if m.awaitingJoin.id != 0 || m.awaitingSync.id != 0 {
		return true
	}
	return m.hbSatisfied
}

func (m *member) matches(ps []protocol) bool {
	if len(ps) != len(m.protocols) {
		return false
	}
	for i := range ps {
		if ps[i].name != m.protocols[i].name || !bytes.Equal(ps[i].metadata, m.protocols[i].metadata) {
			return false
		}
	}
	return true
}

// vote picks the member's most preferred protocol among the candidates.
func (m *member) vote(candidates map[string]bool) string {
	for _, p := range m.protocols {
		if candidates[p.name] {
			return p.name
		}
	}
	return ""
}

// limits are the settings a group machine needs.
type limits struct {
	initialDelay     time.Duration
	minSession       time.Duration
	maxSession       time.Duration
	maxSize          int
	retention        time.Duration
	maxMetadataBytes int
	topicExists      func(string, int32) bool
	newUUID          func() string
}

func limitsFrom(cfg *Config) *limits {
	return &limits{
		initialDelay:     cfg.InitialRebalanceDelay,
		minSession:       cfg.MinSessionTimeout,
		maxSession:       cfg.MaxSessionTimeout,
		maxSize:          cfg.MaxSize,
		retention:        cfg.OffsetsRetention,
		maxMetadataBytes: cfg.MaxMetadataBytes,
		topicExists:      cfg.TopicExists,
		newUUID:          cfg.newUUID,
	}
}

// joinTimer is Kafka's DelayedJoin / InitialDelayedJoin of a group preparing a rebalance.
type joinTimer struct {
	active    bool
	at        time.Time
	initial   bool          // InitialDelayedJoin: completes only on expiry
	delay     time.Duration // this delay (initial only)
	remaining time.Duration // what is left of the rebalance timeout (initial only)
}

// syncTimer is Kafka's DelayedSync: members that have not sent SyncGroup by then are removed.
type syncTimer struct {
	active     bool
	at         time.Time
	generation int32
}

// group is the state machine of one group (Kafka's GroupMetadata plus the GroupCoordinator logic
// that drives it). It does no IO and starts no goroutines: every method takes the current time,
// and what it wants done is collected in out (see take) and nextDeadline.
type group struct {
	id  string
	lim *limits
	now time.Time

	state        groupState
	stateTime    time.Time // Kafka's currentStateTimestamp; zero: unknown (loaded from an old record)
	protocolType string    // "" = none
	protocol     string
	hasProtocol  bool
	generation   int32
	leader       string // "" = none

	members        map[string]*member
	order          []string          // member ids in join order (Kafka iterates a hash map; we keep it stable)
	static         map[string]string // group.instance.id → member id
	pending        map[string]time.Time
	pendingSync    map[string]bool
	numAwaiting    int
	supported      map[string]int // protocol → number of members supporting it
	newMemberAdded bool
	join           joinTimer
	sync           syncTimer

	offsets        map[topicPartition]offsetEntry
	pendingCommits map[topicPartition]offsetEntry // written but not yet durable
	subscribed     map[string]bool                // topics of a consumer group's members
	subKnown       bool
	// pendingTxn holds transactional offset commits by producer id until the producer's
	// transaction marker (Kafka's pendingTransactionalOffsetCommits).
	pendingTxn map[int64]map[topicPartition]*txnOffset

	inflight map[uint64]*appendCont
	nextSeq  uint64
	unloaded bool // Dead because its partition was resigned: answer NOT_COORDINATOR

	out output
}

func newGroup(id string, lim *limits, now time.Time) *group {
	return &group{
		id:             id,
		lim:            lim,
		now:            now,
		stateTime:      now,
		members:        map[string]*member{},
		static:         map[string]string{},
		pending:        map[string]time.Time{},
		pendingSync:    map[string]bool{},
		supported:      map[string]int{},
		offsets:        map[topicPartition]offsetEntry{},
		pendingCommits: map[topicPartition]offsetEntry{},
		pendingTxn:     map[int64]map[topicPartition]*txnOffset{},
		inflight:       map[uint64]*appendCont{},
	}
}

// take returns and clears what the last steps asked for.
func (g *group) take() output {
	o := g.out
	g.out = output{}
	return o
}

func (g *group) respond(w waiter, r kmsg.Response) {
	if w.id != 0 {
		g.out.replies = append(g.out.replies, reply{w, r})
	}
}

func (g *group) is(s groupState) bool { return g.state == s }

func (g *group) transition(s groupState) {
	g.state = s
	g.stateTime = g.now
}

func (g *group) stateTimeMillis() int64 {
	if g.stateTime.IsZero() {
		return -1
	}
	return g.stateTime.UnixMilli()
}

// deadCode is the answer to a request that reaches a Dead group: it was deleted or expired
// (COORDINATOR_NOT_AVAILABLE, as Kafka) or its partition moved away (NOT_COORDINATOR).
func (g *group) deadCode() int16 {
	if g.unloaded {
		return kerr.NotCoordinator.Code
	}
	return kerr.CoordinatorNotAvailable.Code
}

// after is a deadline d from now; never in the past, so a zero timeout cannot spin.
func (g *group) after(d time.Duration) time.Time {
	if d < time.Millisecond {
		d = time.Millisecond
	}
	return g.now.Add(d)
}

func ms(v int32) time.Duration { return time.Duration(v) * time.Millisecond }

// rebalanceTimeout is the largest rebalance timeout of the members.
func (g *group) rebalanceTimeout() time.Duration {
	var t int32
	for _, m := range g.members {
		t = max(t, m.rebalanceTimeout)
	}
	return ms(t)
}

func (g *group) add(m *member, w waiter) {
	if m.instanceID != nil {
		g.static[*m.instanceID] = m.id
	}
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	if g.leader == "" {
		g.leader = m.id
	}
	g.members[m.id] = m
	g.order = append(g.order, m.id)
	g.countProtocols(m, 1)
	m.awaitingJoin = w
	if w.id != 0 {
		g.numAwaiting++
	}
	delete(g.pending, m.id)
}

// remove drops a member (or a pending member). Kafka would leave a request parked by that member
// unanswered; we answer it, so that no caller waits forever.
func (g *group) remove(id string) {
	if m := g.members[id]; m != nil {
		g.countProtocols(m, -1)
		if m.awaitingJoin.id != 0 {
			g.numAwaiting--
			g.respond(m.awaitingJoin, joinError(m.awaitingJoin.version, "", kerr.UnknownMemberID.Code))
		}
		if m.awaitingSync.id != 0 {
			g.respond(m.awaitingSync, syncError(m.awaitingSync.version, kerr.UnknownMemberID.Code))
		}
		if m.instanceID != nil {
			delete(g.static, *m.instanceID)
		}
		delete(g.members, id)
		for i, oid := range g.order {
			if oid == id {
				g.order = append(g.order[:i:i], g.order[i+1:]...)
				break
			}
		}
	}
	if g.leader == id {
		g.leader = ""
		if len(g.order) > 0 {
			g.leader = g.order[0]
		}
	}
	delete(g.pending, id)
	delete(g.pendingSync, id)
}

// countProtocols adds (delta 1) or removes (-1) m's votes in the count of supported protocols.
func (g *group) countProtocols(m *member, delta int) {
	for _, p := range m.protocols {
		if g.supported[p.name] += delta; g.supported[p.name] == 0 {
			delete(g.supported, p.name)
		}
	}
}

// updateMember replaces a member's protocols and timeouts and parks (or unparks) its JoinGroup.
func (g *group) updateMember(m *member, ps []protocol, rebalance, session int32, w waiter) {
	g.countProtocols(m, -1)
	m.protocols = ps
	g.countProtocols(m, 1)
	m.rebalanceTimeout, m.sessionTimeout = rebalance, session
	switch {
	case w.id != 0 && m.awaitingJoin.id == 0:
		g.numAwaiting++
	case w.id == 0 && m.awaitingJoin.id != 0:
		g.numAwaiting--
	case w.id != 0 && m.awaitingJoin.id != 0:
		// A second JoinGroup replaces the first; Kafka drops the first silently, we tell it to rejoin.
		g.respond(m.awaitingJoin, joinError(m.awaitingJoin.version, m.id, kerr.RebalanceInProgress.Code))
	}
	m.awaitingJoin = w
}

func (g *group) invokeJoin(m *member, r *kmsg.JoinGroupResponse) {
	if m.awaitingJoin.id == 0 {
		return
	}
	r.Version = m.awaitingJoin.version
	g.respond(m.awaitingJoin, r)
	m.awaitingJoin = waiter{}
	g.numAwaiting--
}

func (g *group) invokeSync(m *member, r *kmsg.SyncGroupResponse) bool {
	if m.awaitingSync.id == 0 {
		return false
	}
	r.Version = m.awaitingSync.version
	g.respond(m.awaitingSync, r)
	m.awaitingSync = waiter{}
	return true
}

func (g *group) hasAllMembersJoined() bool {
	return len(g.members) == g.numAwaiting && len(g.pending) == 0
}

// supportsProtocols is Kafka's GroupMetadata.supportsProtocols.
func (g *group) supportsProtocols(protocolType string, ps []protocol) bool {
	if g.is(stateEmpty) {
		return protocolType != "" && len(ps) > 0
	}
	if g.protocolType != protocolType {
		return false
	}
	for _, p := range ps {
		if g.supported[p.name] == len(g.members) {
			return true
		}
	}
	return false
}

// selectProtocol picks the protocol every member supports that most members prefer; ties go to
// the one the earliest member prefers (Kafka leaves ties to hash-map order).
func (g *group) selectProtocol() string {
	candidates := map[string]bool{}
	for p, n := range g.supported {
		if n == len(g.members) {
			candidates[p] = true
		}
	}
	votes := map[string]int{}
	top := 0
	for _, id := range g.order {
		p := g.members[id].vote(candidates)
		votes[p]++
		top = max(top, votes[p])
	}
	for _, id := range g.order {
		if p := g.members[id].vote(candidates); votes[p] == top {
			return p
		}
	}
	return ""
}

// computeSubscribed collects the topics of a consumer group's subscriptions. Like Kafka it reads
// only the version-0 prefix of ConsumerProtocol metadata, and treats unparsable metadata as
// "unknown" (every topic then counts as subscribed).
func (g *group) computeSubscribed() {
	g.subscribed, g.subKnown = nil, false
	if g.protocolType != consumerProtocolType {
		return
	}
	if len(g.members) == 0 {
		g.subscribed, g.subKnown = map[string]bool{}, true
		return
	}
	if !g.hasProtocol {
		return
	}
	topics := map[string]bool{}
	for _, m := range g.members {
		md := m.metadata(g.protocol)
		if len(md) < 2 || int16(md[0])<<8|int16(md[1]) < 0 {
			return
		}
		v0 := append([]byte{0, 0}, md[2:]...)
		var cm kmsg.ConsumerMemberMetadata
		if err := cm.ReadFrom(v0); err != nil {
			return
		}
		for _, t := range cm.Topics {
			topics[t] = true
		}
	}
	g.subscribed, g.subKnown = topics, true
}

func (g *group) isSubscribedToTopic(topic string) bool {
	return !g.subKnown || g.subscribed[topic]
}

func (g *group) generateMemberID(clientID string, instanceID *string) string {
	prefix := clientID
	if instanceID != nil {
		prefix = *instanceID
	}
	return prefix + "-" + g.lim.newUUID()
}

// scheduleHeartbeat is Kafka's completeAndScheduleNextExpiration: a new session starts now. A
// member parked in JoinGroup or SyncGroup satisfies it at once, so it gets no deadline until it
// is unparked (which schedules again).
func (g *group) scheduleHeartbeat(m *member, timeout time.Duration) {
	m.hbSatisfied = false
	if m.hasSatisfiedHeartbeat() {
		m.hbDeadline = time.Time{}
		return
	}
	m.hbDeadline = g.after(timeout)
}

// nextDeadline is the earliest time a timer of the group fires.
func (g *group) nextDeadline() (time.Time, bool) {
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if g.join.active {
		consider(g.join.at)
	}
	if g.sync.active {
		consider(g.sync.at)
	}
	for _, m := range g.members {
		consider(m.hbDeadline)
	}
	for _, t := range g.pending {
		consider(t)
	}
	return next, !next.IsZero()
}

// advance fires, earliest first, every timer due at now.
func (g *group) advance(now time.Time) {
	g.now = now
	for range 100000 { // each firing clears or pushes its timer into the future; the bound is a guard
		at, ok := g.nextDeadline()
		if !ok || at.After(now) {
			return
		}
		switch {
		case g.join.active && !g.join.at.After(at):
			g.join.active = false
			g.onJoinTimer()
		case g.sync.active && !g.sync.at.After(at):
			g.sync.active = false
			g.onExpirePendingSync(g.sync.generation)
		default:
			g.fireMemberTimer(at)
		}
	}
}

func (g *group) fireMemberTimer(at time.Time) {
	for _, id := range g.order {
		m := g.members[id]
		if m.hbDeadline.IsZero() || m.hbDeadline.After(at) {
			continue
		}
		m.hbDeadline = time.Time{}
		if !m.hasSatisfiedHeartbeat() {
			g.removeMemberAndUpdateGroup(m)
		}
		return
	}
	for id, t := range g.pending {
		if !t.After(at) {
			g.removePendingMemberAndUpdateGroup(id)
			return
		}
	}
}

// appendCont is what to do once an append completes.
type appendCont struct {
	kind     appendKind
	w        waiter
	gen      int32
	assign   map[string][]byte // syncStore: the leader's assignment
	commit   *commitState      // commit
	deleted  *kmsg.DeleteGroupsResponseGroup
	offDel   *kmsg.OffsetDeleteResponse
	static   *staticReplace
	producer int64 // appendTxnCommit: the producer id
	canceled bool  // the group was unloaded; the waiter was answered already
}

type appendKind int8

const (
	appendSyncStore   appendKind = iota // the leader's SyncGroup assignment
	appendEmptyStore                    // an Empty generation
	appendStaticStore                   // a static member replaced in a Stable group
	appendCommit                        // OffsetCommit
	appendTxnCommit                     // TxnOffsetCommit
	appendTombstones                    // DeleteGroups, OffsetDelete, offset expiry
)

// emit asks the runtime to persist recs and remembers what to do when that is done.
func (g *group) emit(recs []Record, c *appendCont) { g.emitTxn(recs, nil, c) }

// emitTxn is emit of a transactional batch of txn (nil: a plain batch).
func (g *group) emitTxn(recs []Record, txn *Producer, c *appendCont) {
	g.nextSeq++
	g.inflight[g.nextSeq] = c
	g.out.appends = append(g.out.appends, appendReq{seq: g.nextSeq, recs: recs, txn: txn})
}

// storeGroup persists the current generation with assignment (Kafka's storeGroup).
func (g *group) storeGroup(assignment map[string][]byte, c *appendCont) {
	g.emit([]Record{{Key: groupMetadataKey(g.id), Value: g.groupMetadataValue(assignment)}}, c)
}

// appendDone is the runtime's answer to an appendReq: offset and err are Store.Append's result.
func (g *group) appendDone(now time.Time, seq uint64, offset int64, err error) {
	g.now = now
	c := g.inflight[seq]
	delete(g.inflight, seq)
	if c == nil || c.canceled {
		return
	}
	switch c.kind {
	case appendSyncStore:
		g.onSyncStored(c, err)
	case appendEmptyStore:
		// Kafka only warns: an Empty generation that failed to persist is harmless.
	case appendStaticStore:
		g.onStaticStored(c, err)
	case appendCommit:
		g.onCommitStored(c, offset, err)
	case appendTxnCommit:
		g.onTxnCommitStored(c, offset, err)
	case appendTombstones:
		// Kafka ignores tombstone failures: the next expiry pass writes them again.
		if c.deleted != nil {
			g.respond(c.w, &kmsg.DeleteGroupsResponse{Version: c.w.version, Groups: []kmsg.DeleteGroupsResponseGroup{*c.deleted}})
		}
		if c.offDel != nil {
			g.respond(c.w, c.offDel)
		}
	}
}

// unload drops the group because its partition is no longer ours (Kafka's onGroupUnloaded):
// every parked request is answered NOT_COORDINATOR and every timer stops.
func (g *group) unload(now time.Time) {
	g.now = now
	g.unloaded = true
	g.transition(stateDead)
	code := kerr.NotCoordinator.Code
	for _, id := range g.order {
		m := g.members[id]
		g.invokeJoin(m, joinError(0, m.id, code))
		g.invokeSync(m, syncError(0, code))
		m.hbDeadline = time.Time{}
	}
	clear(g.pending)
	clear(g.pendingSync)
	g.join.active, g.sync.active = false, false
	for _, c := range g.inflight {
		g.cancelCont(c, code)
	}
}

// cancelCont answers the waiter of an append that will not be acted upon.
func (g *group) cancelCont(c *appendCont, code int16) {
	c.canceled = true
	switch {
	case c.commit != nil:
		g.respond(c.w, c.commit.build(code, true))
	case c.deleted != nil:
		d := *c.deleted
		d.ErrorCode = code
		g.respond(c.w, &kmsg.DeleteGroupsResponse{Version: c.w.version, Groups: []kmsg.DeleteGroupsResponseGroup{d}})
	case c.offDel != nil:
		g.respond(c.w, &kmsg.OffsetDeleteResponse{Version: c.w.version, ErrorCode: code})
	}
}
