package txn

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Coordinator is the transaction coordinator of one broker: it owns the transactional ids of the
// __transaction_state partitions this broker leads. Each id is a state machine (txn) without IO;
// the coordinator runs them under one mutex and carries out what they ask for on goroutines that
// exist only while a write is in flight. See the package documentation.
type Coordinator struct {
	cfg     Config
	lim     *limits
	store   Store
	pids    ProducerIDs
	markers MarkerWriter
	log     *slog.Logger
	root    context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup // append and marker goroutines

	mu         sync.Mutex
	closed     bool
	parts      map[int32]*partState
	txns       map[string]*entry
	nextWaiter waiter
}

// partState is a __transaction_state partition this coordinator leads (or is loading).
type partState struct {
	id      int32
	epoch   int32 // the coordinator epoch: the partition's leader epoch
	loading bool
	ctx     context.Context // canceled when the partition is resigned: in-flight writes stop
	cancel  context.CancelFunc
}

// entry is one transactional id with what the runtime keeps for it.
type entry struct {
	t       *txn
	part    *partState
	waiters map[waiter]chan result

	timerAt   time.Time
	timerStop func() bool
	timerSeq  uint64
}

// NewCoordinator returns a coordinator that leads no partition yet (see Elected). Zero fields of
// cfg take Kafka's defaults; it panics if cfg does not Validate.
func NewCoordinator(cfg Config, store Store, pids ProducerIDs, markers MarkerWriter) *Coordinator {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	cfg = cfg.withDefaults()
	root, stop := context.WithCancel(context.Background())
	return &Coordinator{
		cfg: cfg, lim: &limits{expiration: cfg.IDExpiration, retryBackoff: cfg.RetryBackoff, endHold: cfg.EndTxnHold,
			valueVersion: min(cfg.TransactionVersion, 1)},
		store: store, pids: pids, markers: markers, log: cfg.Logger, root: root, stop: stop,
		parts: map[int32]*partState{}, txns: map[string]*entry{},
	}
}

// PartitionFor returns the __transaction_state partition of a transactional id, by the topic's
// current partition count (FindCoordinator key type 1 names that partition's leader).
func (c *Coordinator) PartitionFor(transactionalID string) int32 {
	return PartitionFor(transactionalID, c.cfg.partitionCount())
}

// Elected tells the coordinator that this broker now leads __transaction_state partition
// `partition` at leader epoch coordinatorEpoch. It replays the partition and loads its
// transactional ids, answering their requests with COORDINATOR_LOAD_IN_PROGRESS meanwhile, and
// returns when they are loaded (call it in a goroutine to keep serving), or, with a Store that is
// a ReplayWaiter and a replay that read records not yet committed, once replayed: the loading then
// ends on a goroutine when they are committed (or fails when the wait does). Transactions found in
// PrepareCommit or PrepareAbort get their markers sent again and are completed. If the replay
// fails (or ctx ends, or the partition is resigned meanwhile) the partition stays unowned, Elected
// returns the error, and the broker should call Elected again. Electing a partition already led
// at the same epoch does nothing; at another epoch it is reloaded.
func (c *Coordinator) Elected(ctx context.Context, partition, coordinatorEpoch int32) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	if old := c.parts[partition]; old != nil {
		if old.epoch == coordinatorEpoch {
			c.mu.Unlock()
			return nil
		}
		c.resignLocked(old)
	}
	pctx, cancel := context.WithCancel(c.root)
	ps := &partState{id: partition, epoch: coordinatorEpoch, loading: true, ctx: pctx, cancel: cancel}
	c.parts[partition] = ps
	c.mu.Unlock()

	start := time.Now()
	ld := newLoader()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	defer context.AfterFunc(pctx, stopLoad)() // a resign or Close stops the replay
	err := c.store.Replay(loadCtx, partition, func(r Record) error {
		if err := ld.add(r); err != nil {
			c.log.Warn("txn: skipping record while loading", "partition", partition, "err", err)
		}
		return nil
	})
	var wait func(context.Context) error
	if w, ok := c.store.(ReplayWaiter); ok && err == nil {
		wait, err = w.ReplayCommitted(partition)
	}
	if wait == nil || err != nil {
		return c.finishLoad(ps, ld, start, err)
	}
	// What was replayed is not all committed yet: the partition stays loading until it is, on
	// a goroutine, since the broker elects under its metadata lock and the high watermark moves
	// with the followers' fetches. A resign or Close cancels pctx.
	c.mu.Lock()
	if c.closed || c.parts[partition] != ps {
		c.mu.Unlock()
		return nil
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		c.finishLoad(ps, ld, start, wait(pctx))
	}()
	return nil
}

// finishLoad ends the loading of ps: with err, the partition is left unowned; else its
// transactional ids are served from what ld replayed, and those in a Prepare state get their
// markers sent.
func (c *Coordinator) finishLoad(ps *partState, ld *loader, start time.Time, err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.parts[ps.id] != ps {
		return nil // resigned (or closed) meanwhile
	}
	if err != nil {
		c.log.Warn("txn: loading __transaction_state partition failed", "partition", ps.id, "err", err)
		delete(c.parts, ps.id)
		ps.cancel()
		return err
	}
	ps.loading = false
	now := c.cfg.Now()
	for id, m := range ld.txns {
		if m.state == stateDead || m.state == statePrepareEpochFence { // never written by Kafka
			c.log.Warn("txn: skipping transactional id in a transient state", "id", id, "state", m.state)
			continue
		}
		e := &entry{t: loadTxn(id, c.lim, ps.epoch, m), part: ps, waiters: map[waiter]chan result{}}
		c.txns[id] = e
		c.stepLocked(e, now, func(t *txn, now time.Time) { t.onLoaded(now) })
	}
	c.log.Info("txn: loaded __transaction_state partition", "partition", ps.id,
		"transactional_ids", len(ld.txns), "took", time.Since(start))
	return nil
}

// Resigned tells the coordinator that this broker no longer leads __transaction_state partition
// `partition`: its transactional ids are dropped, a request waiting for a write gets
// NOT_COORDINATOR, and marker writes in flight are canceled.
func (c *Coordinator) Resigned(partition int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps := c.parts[partition]; ps != nil {
		c.resignLocked(ps)
	}
}

func (c *Coordinator) resignLocked(ps *partState) {
	delete(c.parts, ps.id)
	ps.cancel()
	for id, e := range c.txns {
		if e.part == ps {
			e.t.unload()
			c.deliverLocked(e, e.t.take())
			c.dropLocked(id, e)
		}
	}
}

func (c *Coordinator) dropLocked(id string, e *entry) {
	if c.txns[id] == e {
		delete(c.txns, id)
	}
	if e.timerStop != nil {
		e.timerStop()
		e.timerStop = nil
	}
	for w, ch := range e.waiters {
		ch <- fail(kerr.NotCoordinator.Code)
		delete(e.waiters, w)
	}
}

// Close drops every transactional id (waiting requests get NOT_COORDINATOR), stops all timers and
// waits for the coordinator's goroutines to end.
func (c *Coordinator) Close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		for _, ps := range c.parts {
			c.resignLocked(ps)
		}
	}
	c.mu.Unlock()
	c.stop()
	c.wg.Wait()
}

// routeLocked checks that this coordinator serves transactionalID now and returns its entry (nil
// if it has none) and partition: Kafka's getTransactionState errors NOT_COORDINATOR and
// COORDINATOR_LOAD_IN_PROGRESS (and COORDINATOR_NOT_AVAILABLE once closed).
func (c *Coordinator) routeLocked(transactionalID string) (*entry, *partState, int16) {
	if c.closed {
		return nil, nil, kerr.CoordinatorNotAvailable.Code
	}
	p := PartitionFor(transactionalID, c.cfg.partitionCount())
	ps := c.parts[p]
	switch {
	case ps == nil && c.cfg.Leads != nil && c.cfg.Leads(p):
		return nil, nil, kerr.CoordinatorLoadInProgress.Code
	case ps == nil:
		return nil, nil, kerr.NotCoordinator.Code
	case ps.loading:
		return nil, nil, kerr.CoordinatorLoadInProgress.Code
	}
	return c.txns[transactionalID], ps, 0
}

// call runs ev on transactionalID's machine with a waiter for its answer and returns a channel
// that gets it. A missing id answers INVALID_PRODUCER_ID_MAPPING, as Kafka does for every request
// but InitProducerId.
func (c *Coordinator) call(transactionalID string, ev func(t *txn, now time.Time, w waiter)) <-chan result {
	ch := make(chan result, 1)
	c.mu.Lock()
	e, _, code := c.routeLocked(transactionalID)
	if code == 0 && e == nil {
		code = kerr.InvalidProducerIDMapping.Code
	}
	if code != 0 {
		c.mu.Unlock()
		ch <- fail(code)
		return ch
	}
	c.nextWaiter++
	w := c.nextWaiter
	e.waiters[w] = ch
	first := c.stepLockedThen(e, c.cfg.Now(), func(t *txn, now time.Time) { ev(t, now, w) })
	c.mu.Unlock()
	c.runHere(e, first)
	return ch
}

// runHere carries out w, and the writes it leads to, on the caller's goroutine (a request's),
// without c.mu, as long as each one is known not to wait on another node: a record append to
// an AppendStarter whose records are durable at once, markers to a LocalMarkerWriter that writes
// them all here. The first write that would wait goes on a goroutine of its own (goWrite), which
// goes on with what follows. The machine writes one thing at a time per id, so nothing else of
// this id is written meanwhile.
func (c *Coordinator) runHere(e *entry, w *write) {
	for w != nil {
		var done func(*txn, time.Time)
		var wait func() func(*txn, time.Time) // a wait for a write begun here
		switch {
		case w.startable():
			done, wait = w.start()
		case w.runsHere():
			done = w.run()
		default:
			c.mu.Lock()
			if c.txns[e.t.id] == e {
				c.goWrite(e, w)
			}
			c.mu.Unlock()
			return
		}
		c.mu.Lock()
		switch {
		case c.txns[e.t.id] != e:
			if wait != nil {
				go wait() // resigned or closed meanwhile: the partition's ctx ends the wait
			}
			w = nil
		case wait != nil:
			c.goWrite(e, &write{c: c, e: e, part: e.part, kind: writeCont, cont: wait})
			w = nil
		default:
			w = c.stepLockedThen(e, c.cfg.Now(), done)
		}
		c.mu.Unlock()
	}
}

// wait returns the answer, or COORDINATOR_NOT_AVAILABLE if ctx ends first (the transition, if
// one was started, still completes).
func wait(ctx context.Context, ch <-chan result) result {
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		return fail(kerr.CoordinatorNotAvailable.Code)
	}
}

// waitWithin is wait, ending after d too if d is not 0. An answer already there (the addition
// was written on the caller's goroutine: one node) costs no timer.
func waitWithin(ctx context.Context, d time.Duration, ch <-chan result) result {
	select {
	case r := <-ch:
		return r
	default:
	}
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	return wait(ctx, ch)
}

// event runs ev on e's machine if e is still current (nil just fires due timers).
func (c *Coordinator) event(e *entry, ev func(t *txn, now time.Time)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.txns[e.t.id] != e {
		return
	}
	c.stepLocked(e, c.cfg.Now(), ev)
}

// writeDone is event for the end of a write, on the write's goroutine: the first write the step
// asks for, if any, runs on that goroutine too, once the lock is released. A transaction's writes
// follow each other (Prepare record, markers, Complete record, the next addition), and handing
// each to a new goroutine cost a wake-up of another thread per step.
func (c *Coordinator) writeDone(e *entry, ev func(t *txn, now time.Time)) {
	for {
		c.mu.Lock()
		if c.txns[e.t.id] != e {
			c.mu.Unlock()
			return
		}
		next := c.stepLockedThen(e, c.cfg.Now(), ev)
		c.mu.Unlock()
		if next == nil {
			return
		}
		ev = next.run()
	}
}

// stepLocked runs one step of e's machine and carries out its output. c.mu must be held.
func (c *Coordinator) stepLocked(e *entry, now time.Time, ev func(t *txn, now time.Time)) {
	if w := c.stepLockedThen(e, now, ev); w != nil {
		c.goWrite(e, w)
	}
}

// stepLockedThen is stepLocked, but the first write the step asks for is returned instead of
// started: the caller runs it without the lock (on a goroutine counted in c.wg) and hands what it
// returns to the machine.
func (c *Coordinator) stepLockedThen(e *entry, now time.Time, ev func(t *txn, now time.Time)) (first *write) {
	e.t.advance(now)
	if ev != nil {
		ev(e.t, now)
	}
	out := e.t.take()
	add := func(w *write) {
		if first == nil {
			first = w
		} else {
			c.goWrite(e, w)
		}
	}
	for _, a := range out.appends {
		add(c.appendWrite(e, a))
	}
	for _, m := range out.markers {
		add(c.markerWrite(e, m))
	}
	if e.t.removed {
		c.deliverLocked(e, out)
		c.dropLocked(e.t.id, e)
		return first
	}
	// The timer is armed before the answers go out: a caller that hears its answer and moves a
	// (fake) clock on finds the timer armed from the time of this step, not later.
	c.rearmLocked(e, now)
	c.deliverLocked(e, out)
	return first
}

// deliverLocked hands the machine's replies to their waiters.
func (c *Coordinator) deliverLocked(e *entry, out output) {
	for _, r := range out.replies {
		if ch := e.waiters[r.to]; ch != nil {
			ch <- r.res // buffered: each waiter gets one answer
			delete(e.waiters, r.to)
		}
	}
}

// write is a record append or a marker write of one id, built under c.mu and carried out
// without it; run returns the machine's event for its outcome. A record append to an
// AppendStarter can also be started (start), which appends without waiting: it returns the
// event if the outcome is known, else a wait that returns it. Markers to a LocalMarkerWriter
// that writes them all without waiting on another node may run on the caller's goroutine
// (runsHere). One struct for every kind, without closures: a transaction writes three records
// and its markers, and a closure per step and kind were a tenth of its allocations.
type write struct {
	c    *Coordinator
	e    *entry
	part *partState
	kind writeKind
	// An append: the record (as the one-record slice the Store takes) and the machine's
	// sequence number of the write, and the bound of a wait for it.
	recs    [1]Record
	seq     uint64
	timeout time.Duration
	m       markerReq                    // markers
	cont    func() func(*txn, time.Time) // writeCont: the rest of a write begun elsewhere
}

type writeKind uint8

const (
	writeAppend writeKind = iota
	writeMarkers
	writeCont
)

// startable reports whether start may be called: an append to an AppendStarter.
func (w *write) startable() bool {
	if w.kind != writeAppend {
		return false
	}
	_, ok := w.c.store.(AppendStarter)
	return ok
}

// runsHere reports whether run writes markers without waiting on another node.
func (w *write) runsHere() bool {
	if w.kind != writeMarkers {
		return false
	}
	local, ok := w.c.markers.(LocalMarkerWriter)
	return ok && local.WritesAtOnce(w.m.m)
}

// run carries out the write, waiting for its outcome, and returns the machine's event for it.
func (w *write) run() func(*txn, time.Time) {
	switch w.kind {
	case writeCont:
		return w.cont()
	case writeMarkers:
		codes := w.c.markers.WriteMarkers(w.part.ctx, w.m.m)
		seq := w.m.seq
		return func(t *txn, now time.Time) { t.markersDone(now, seq, codes) }
	}
	if w.startable() {
		ev, wait := w.start()
		if wait != nil {
			return wait()
		}
		return ev
	}
	ctx, cancel := context.WithTimeout(w.part.ctx, max(w.timeout, time.Second))
	defer cancel()
	return w.appended(w.c.store.Append(ctx, w.part.id, w.recs[:]))
}

// start appends the record without waiting: it returns the event if the outcome is known,
// else a wait that returns it.
func (w *write) start() (done func(*txn, time.Time), wait func() func(*txn, time.Time)) {
	waitAck, err := w.c.store.(AppendStarter).StartAppend(w.part.ctx, w.part.id, w.recs[:])
	if waitAck == nil {
		return w.appended(err), nil
	}
	return nil, func() func(*txn, time.Time) {
		ctx, cancel := context.WithTimeout(w.part.ctx, max(w.timeout, time.Second))
		defer cancel()
		return w.appended(waitAck(ctx))
	}
}

// appended is the machine's event for an append's outcome.
func (w *write) appended(err error) func(*txn, time.Time) {
	if err != nil {
		w.c.log.Warn("txn: appending to __transaction_state failed", "id", w.e.t.id, "partition", w.part.id, "err", err)
	}
	seq := w.seq
	return func(t *txn, now time.Time) { t.appendDone(now, seq, err) }
}

// goWrite carries out a write of e on a goroutine of its own, which goes on with the writes that
// follow it (writeDone). c.mu must be held (Close waits for c.wg after setting closed under it).
func (c *Coordinator) goWrite(e *entry, w *write) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.writeDone(e, w.run())
	}()
}

// appendWrite is the write of a record. It is built under c.mu (the timeout and partition are
// read there) and run without it.
func (c *Coordinator) appendWrite(e *entry, a appendReq) *write {
	timeout := time.Duration(e.t.timeoutMs) * time.Millisecond // Kafka appends with the txn's timeout
	if e.t.pending != nil {
		timeout = time.Duration(e.t.pending.to.timeoutMs) * time.Millisecond
	}
	return &write{c: c, e: e, part: e.part, kind: writeAppend, recs: [1]Record{a.rec}, seq: a.seq, timeout: timeout}
}

// markerWrite is the write of a transaction's markers. With a LocalMarkerWriter that writes m
// without waiting on another node, it may be run on the caller's goroutine (runsHere).
func (c *Coordinator) markerWrite(e *entry, m markerReq) *write {
	return &write{c: c, e: e, part: e.part, kind: writeMarkers, m: m}
}

// rearmLocked points e's one runtime timer at its machine's next deadline, or earlier: a timer
// already armed at or before that deadline stays (also when there is none), as firing early
// only runs a step with nothing due, which arms the timer again. A transaction moves its
// deadline at almost every step (the timeout, no deadline while a record is written, the
// EndTxn hold, the id's expiration), and a new timer each time cost a runtime timer, its
// closures and their garbage per step; now a busy id re-arms about once per deadline.
func (c *Coordinator) rearmLocked(e *entry, now time.Time) {
	at, ok := e.t.nextDeadline()
	if e.timerStop != nil && (!ok || !at.Before(e.timerAt)) {
		return
	}
	if e.timerStop != nil {
		e.timerStop()
		e.timerStop = nil
	}
	if !ok {
		return
	}
	e.timerSeq++
	seq := e.timerSeq
	e.timerAt = at
	e.timerStop = c.cfg.AfterFunc(max(at.Sub(now), time.Millisecond), func() {
		c.event(e, func(*txn, time.Time) {
			if e.timerSeq == seq { // it fired: the rearm below must arm a new one
				e.timerStop = nil
			}
		})
	})
}
