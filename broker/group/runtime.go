package group

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Coordinator is the group coordinator of one broker: it owns the groups of the __consumer_offsets
// partitions this broker leads. Each group is a state machine (group) owned by one goroutine at a
// time; see the package documentation.
type Coordinator struct {
	cfg   Config
	lim   *limits
	store Store
	log   *slog.Logger
	root  context.Context
	stop  context.CancelFunc
	done  chan struct{} // closed when Close has stopped everything

	mu          sync.Mutex
	closed      bool
	parts       map[int32]*partState
	groups      map[string]*actor
	txnGroups   map[int64]map[string]int32 // producer id → groups that may hold its offsets → their partition
	expiryStop  func() bool
	nextWaiter  atomic.Uint64
	wg          sync.WaitGroup // actor workers and append workers
	expiryTimer sync.Mutex     // serializes re-arming the expiry timer with Close
}

// partState is a __consumer_offsets partition this coordinator leads (or is loading).
type partState struct {
	id      int32
	loading bool
	ctx     context.Context // canceled when the partition is resigned: in-flight appends stop
	cancel  context.CancelFunc
	markers []txnMarker // CompleteTxn calls while loading, applied once loaded
}

// NewCoordinator returns a coordinator that leads no partition yet (see Elected). Zero fields of
// cfg take Kafka's defaults; it panics if cfg does not Validate.
func NewCoordinator(cfg Config, store Store) *Coordinator {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	cfg = cfg.withDefaults()
	root, stop := context.WithCancel(context.Background())
	c := &Coordinator{
		cfg:       cfg,
		lim:       limitsFrom(&cfg),
		store:     store,
		log:       cfg.Logger,
		root:      root,
		stop:      stop,
		done:      make(chan struct{}),
		parts:     map[int32]*partState{},
		groups:    map[string]*actor{},
		txnGroups: map[int64]map[string]int32{},
	}
	c.armExpiry()
	return c
}

func (c *Coordinator) armExpiry() {
	c.expiryTimer.Lock()
	defer c.expiryTimer.Unlock()
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if !closed {
		c.expiryStop = c.cfg.AfterFunc(c.cfg.OffsetsRetentionCheckInterval, c.expireAll)
	}
}

// expireAll is the periodic offset expiry (Kafka's offsets.retention.check.interval.ms task).
func (c *Coordinator) expireAll() {
	c.mu.Lock()
	actors := make([]*actor, 0, len(c.groups))
	for _, a := range c.groups {
		actors = append(actors, a)
	}
	c.mu.Unlock()
	for _, a := range actors {
		a.post(func(g *group, now time.Time) { g.expireOffsets(now) })
	}
	c.armExpiry()
}

// Elected tells the coordinator that this broker now leads __consumer_offsets partition
// `partition`. It replays the partition and loads its groups, answering their requests with
// COORDINATOR_LOAD_IN_PROGRESS meanwhile, and returns when they are loaded (call it in a goroutine
// to keep serving). If the replay fails (or ctx ends, or the partition is resigned meanwhile) the
// partition stays unowned: its groups get NOT_COORDINATOR (COORDINATOR_LOAD_IN_PROGRESS while
// Config.Leads still says this broker leads it), Elected returns the replay's error, and the
// broker should call Elected again. Electing a partition already led or loading does nothing.
func (c *Coordinator) Elected(ctx context.Context, partition int32) error {
	c.mu.Lock()
	if c.closed || c.parts[partition] != nil {
		c.mu.Unlock()
		return nil
	}
	pctx, cancel := context.WithCancel(c.root)
	ps := &partState{id: partition, loading: true, ctx: pctx, cancel: cancel}
	c.parts[partition] = ps
	c.mu.Unlock()

	start := time.Now()
	ld := newLoader()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	defer context.AfterFunc(pctx, stopLoad)() // a resign or Close stops the replay
	err := c.store.Replay(loadCtx, partition, func(r Record) error {
		if err := ld.add(r); err != nil {
			c.log.Warn("group: skipping record while loading", "partition", partition, "err", err)
		}
		return nil
	})

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.parts[partition] != ps {
		return nil // resigned (or closed) meanwhile
	}
	if err != nil {
		c.log.Warn("group: loading __consumer_offsets partition failed", "partition", partition, "err", err)
		delete(c.parts, partition)
		cancel()
		return err
	}
	now := c.cfg.Now()
	for id, lg := range ld.groups {
		if lg.empty() {
			continue
		}
		a := c.newActor(id, ps, loadGroup(id, lg, c.lim, now))
		c.groups[id] = a
		a.post(func(g *group, now time.Time) { g.onLoaded(now) })
		for pid := range lg.pendingTxn {
			c.addTxnGroupLocked(pid, id, partition)
		}
	}
	ps.loading = false
	for _, m := range ps.markers {
		c.completeLocked(ps, m.producerID, m.commit)
	}
	ps.markers = nil
	c.log.Info("group: loaded __consumer_offsets partition", "partition", partition,
		"groups", len(ld.groups), "took", time.Since(start))
	return nil
}

// Resigned tells the coordinator that this broker no longer leads __consumer_offsets partition
// `partition`: its groups are dropped; requests parked in them and later ones get NOT_COORDINATOR.
func (c *Coordinator) Resigned(partition int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps := c.parts[partition]
	if ps == nil {
		return
	}
	delete(c.parts, partition)
	ps.cancel()
	for id, a := range c.groups {
		if a.part == ps {
			delete(c.groups, id)
			a.unload()
		}
	}
	c.dropTxnGroupsLocked(partition)
}

// Close drops every group (parked requests get NOT_COORDINATOR), stops all timers and waits for
// the coordinator's goroutines to end.
func (c *Coordinator) Close() {
	c.expiryTimer.Lock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.expiryTimer.Unlock()
		<-c.done
		return
	}
	c.closed = true
	if c.expiryStop != nil {
		c.expiryStop()
	}
	for id, a := range c.groups {
		delete(c.groups, id)
		a.unload()
	}
	for id, ps := range c.parts {
		delete(c.parts, id)
		ps.cancel()
	}
	clear(c.txnGroups)
	c.mu.Unlock()
	c.expiryTimer.Unlock()
	c.stop()
	c.wg.Wait()
	close(c.done)
}

// route checks that this coordinator serves groupID now and returns its actor (nil if it has no
// such group). Kafka's validateGroupStatus: INVALID_GROUP_ID, COORDINATOR_NOT_AVAILABLE,
// COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR. It must be called with c.mu held.
func (c *Coordinator) routeLocked(groupID string, allowEmptyID bool) (*actor, *partState, int16) {
	if groupID == "" && !allowEmptyID {
		return nil, nil, kerr.InvalidGroupID.Code
	}
	if c.closed {
		return nil, nil, kerr.CoordinatorNotAvailable.Code
	}
	p := PartitionFor(groupID, c.cfg.partitionCount())
	ps := c.parts[p]
	switch {
	case ps == nil && c.electionPendingLocked(p):
		return nil, nil, kerr.CoordinatorLoadInProgress.Code
	case ps == nil:
		return nil, nil, kerr.NotCoordinator.Code
	case ps.loading:
		return nil, nil, kerr.CoordinatorLoadInProgress.Code
	}
	return c.groups[groupID], ps, 0
}

// electionPendingLocked reports whether the metadata says this broker leads partition p but
// Elected has not been called for it yet (see Config.Leads). It must be called with c.mu held.
func (c *Coordinator) electionPendingLocked(p int32) bool {
	return c.parts[p] == nil && c.cfg.Leads != nil && c.cfg.Leads(p)
}

// call is one request to one group.
type call struct {
	a  *actor
	w  waiter
	ch chan kmsg.Response
}

// dispatch routes a request to its group and queues ev there, creating the group first when it
// is missing and create (if not nil) says so. It returns a coordinator-level error code, or a nil
// call and code 0 when there is no such group.
func (c *Coordinator) dispatch(groupID string, allowEmptyID bool, create func() bool, version int16,
	ev func(g *group, now time.Time, w waiter)) (*call, int16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dispatchLocked(groupID, allowEmptyID, create, version, ev)
}

// dispatchLocked is dispatch with c.mu held.
func (c *Coordinator) dispatchLocked(groupID string, allowEmptyID bool, create func() bool, version int16,
	ev func(g *group, now time.Time, w waiter)) (*call, int16) {
	a, ps, code := c.routeLocked(groupID, allowEmptyID)
	if code != 0 {
		return nil, code
	}
	if a == nil {
		if create == nil || !create() {
			return nil, 0
		}
		a = c.newActor(groupID, ps, newGroup(groupID, c.lim, c.cfg.Now()))
		c.groups[groupID] = a
	}
	cl := &call{a: a, w: waiter{id: c.nextWaiter.Add(1), version: version}, ch: make(chan kmsg.Response, 1)}
	a.enqueue(cl.w, cl.ch, func(g *group, now time.Time) { ev(g, now, cl.w) })
	return cl, 0
}

// wait returns the group's answer, or nil if ctx ended or the coordinator closed first.
func (c *Coordinator) wait(ctx context.Context, cl *call) kmsg.Response {
	select {
	case r := <-cl.ch:
		return r
	case <-ctx.Done():
	case <-c.done:
	}
	cl.a.mu.Lock()
	delete(cl.a.waiters, cl.w.id)
	cl.a.mu.Unlock()
	select {
	case r := <-cl.ch: // it may have arrived meanwhile
		return r
	default:
		return nil
	}
}

// actor runs one group: events queue up and a goroutine, started when there is something to do
// and ending when the queue is empty, applies them one at a time. So a group costs a goroutine
// only while it works; its timers are runtime timers that queue an event.
type actor struct {
	c    *Coordinator
	id   string
	part *partState
	g    *group // touched only by the running worker

	mu        sync.Mutex
	queue     []func(*group, time.Time)
	running   bool
	closed    bool // no more events: the group was dropped
	waiters   map[uint64]chan kmsg.Response
	appendQ   []appendReq
	appending bool
	state     groupState // published for ListGroups
	ptype     string

	// Worker-owned.
	timerAt   time.Time
	timerStop func() bool
	timerSeq  uint64
	removed   bool
}

func (c *Coordinator) newActor(id string, ps *partState, g *group) *actor {
	return &actor{c: c, id: id, part: ps, g: g, waiters: map[uint64]chan kmsg.Response{}, state: g.state, ptype: g.protocolType}
}

// enqueue queues an event that will answer waiter w on ch.
func (a *actor) enqueue(w waiter, ch chan kmsg.Response, ev func(*group, time.Time)) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	if w.id != 0 {
		a.waiters[w.id] = ch
	}
	a.queue = append(a.queue, ev)
	if !a.running {
		a.running = true
		a.c.wg.Add(1)
		go a.run()
	}
	return true
}

// post queues an internal event (a timer, an append completion); nil just fires due timers.
func (a *actor) post(ev func(*group, time.Time)) {
	a.enqueue(waiter{}, nil, ev)
}

// unload queues the group's unloading and refuses further events. Called with c.mu held.
func (a *actor) unload() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.queue = append(a.queue, func(g *group, now time.Time) { g.unload(now) })
	a.closed = true
	if !a.running {
		a.running = true
		a.c.wg.Add(1)
		go a.run()
	}
}

func (a *actor) run() {
	defer a.c.wg.Done()
	for {
		a.mu.Lock()
		if len(a.queue) == 0 {
			a.running = false
			a.queue = nil
			a.mu.Unlock()
			return
		}
		ev := a.queue[0]
		a.queue[0] = nil
		a.queue = a.queue[1:]
		a.mu.Unlock()

		now := a.c.cfg.Now()
		a.g.advance(now)
		if ev != nil {
			ev(a.g, now)
		}
		a.apply(now, a.g.take())
	}
}

// apply carries out what the group asked for.
func (a *actor) apply(now time.Time, out output) {
	a.mu.Lock()
	a.state, a.ptype = a.g.state, a.g.protocolType
	if len(out.appends) > 0 {
		a.appendQ = append(a.appendQ, out.appends...)
		if !a.appending {
			a.appending = true
			a.c.wg.Add(1)
			go a.appendLoop()
		}
	}
	a.mu.Unlock()

	// A Dead group leaves the coordinator once its last records are written, so that a group
	// created again with the same id cannot have its records overtaken by the old tombstones.
	if a.g.is(stateDead) && len(a.g.inflight) == 0 && !a.removed {
		a.removed = true
		a.c.mu.Lock()
		if a.c.groups[a.id] == a {
			delete(a.c.groups, a.id)
		}
		a.mu.Lock()
		a.closed = true
		a.mu.Unlock()
		a.c.mu.Unlock()
	}

	for _, r := range out.replies {
		a.mu.Lock()
		ch := a.waiters[r.to.id]
		delete(a.waiters, r.to.id)
		a.mu.Unlock()
		if ch != nil {
			ch <- r.resp // buffered: each waiter gets one reply
		}
	}
	a.rearm(now)
}

// rearm points the group's one runtime timer at its next deadline.
func (a *actor) rearm(now time.Time) {
	at, ok := a.g.nextDeadline()
	if a.removed {
		ok = false
	}
	if ok && a.timerStop != nil && at.Equal(a.timerAt) {
		return
	}
	if a.timerStop != nil {
		a.timerStop()
		a.timerStop = nil
	}
	if !ok {
		return
	}
	if !at.After(now) {
		// Due already (a JoinGroup with group.initial.rebalance.delay.ms 0, say): fire it on
		// this goroutine now rather than through a runtime timer of zero duration, which wakes
		// up to a millisecond later (the scheduler sleeps in whole milliseconds). Run fires it
		// when it takes the nil event, after the events already queued, as the timer's would.
		a.post(nil)
		return
	}
	a.timerSeq++
	seq := a.timerSeq
	a.timerAt = at
	a.timerStop = a.c.cfg.AfterFunc(at.Sub(now), func() {
		a.post(func(*group, time.Time) {
			if a.timerSeq == seq { // it fired: the next rearm must arm a new one
				a.timerStop = nil
			}
		})
	})
}

// appendLoop writes the group's records in the order they were asked for, one batch at a time.
func (a *actor) appendLoop() {
	defer a.c.wg.Done()
	for {
		a.mu.Lock()
		if len(a.appendQ) == 0 {
			a.appending = false
			a.appendQ = nil
			a.mu.Unlock()
			return
		}
		req := a.appendQ[0]
		a.appendQ = a.appendQ[1:]
		a.mu.Unlock()

		ctx, cancel := context.WithTimeout(a.part.ctx, a.c.cfg.CommitTimeout)
		off, err := a.c.store.Append(ctx, a.part.id, req.recs, req.txn)
		cancel()
		if err != nil {
			a.c.log.Warn("group: appending to __consumer_offsets failed", "group", a.id, "partition", a.part.id, "err", err)
		}
		a.post(func(g *group, now time.Time) { g.appendDone(now, req.seq, off, err) })
	}
}
