package group

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// eventually polls cond until it holds or 10s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// checkGoroutines fails unless the goroutine count drops back to base.
func checkGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines left: %d > %d\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}

// fakeClock is a manual clock whose timers fire when Advance passes them.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at      time.Time
	f       func()
	stopped bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ft := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, ft)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !ft.stopped
		ft.stopped = true
		return was
	}
}

// Advance moves the clock and runs the timers that became due, in order.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	keep := c.timers[:0]
	for _, ft := range c.timers {
		switch {
		case ft.stopped:
		case !ft.at.After(c.now):
			ft.stopped = true
			due = append(due, ft)
		default:
			keep = append(keep, ft)
		}
	}
	c.timers = keep
	c.mu.Unlock()
	slices.SortStableFunc(due, func(a, b *fakeTimer) int { return a.at.Compare(b.at) })
	for _, ft := range due {
		ft.f()
	}
}

// pendingTimers counts armed timers.
func (c *fakeClock) pendingTimers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, ft := range c.timers {
		if !ft.stopped {
			n++
		}
	}
	return n
}

// memStore is an in-memory Store: a log per partition.
type memStore struct {
	mu       sync.Mutex
	logs     map[int32][]Record
	appendFn func(partition int32, recs []Record) error // optional hook: an error fails the append
	replayFn func(ctx context.Context) error            // optional hook before a replay
}

func newMemStore() *memStore { return &memStore{logs: map[int32][]Record{}} }

// Append stores recs at the end of the partition's log: a record's offset is its index.
func (s *memStore) Append(ctx context.Context, partition int32, recs []Record, txn *Producer) (int64, error) {
	s.mu.Lock()
	fn := s.appendFn
	s.mu.Unlock()
	if fn != nil {
		if err := fn(partition, recs); err != nil {
			return -1, err
		}
	}
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	base := int64(len(s.logs[partition]))
	for _, r := range recs {
		stored := Record{Key: slices.Clone(r.Key), Value: slices.Clone(r.Value), ProducerID: -1}
		if txn != nil {
			stored.ProducerID, stored.Transactional = txn.ID, true
		}
		s.logs[partition] = append(s.logs[partition], stored)
	}
	return base, nil
}

// marker appends a transaction marker of the producer, as the partition leader's WriteTxnMarkers
// handler does.
func (s *memStore) marker(partition int32, producerID int64, commit bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	typ := byte(controlAbort)
	if commit {
		typ = controlCommit
	}
	s.logs[partition] = append(s.logs[partition], Record{Key: []byte{0, 0, 0, typ}, Value: []byte{0, 0, 0, 0, 0, 0}, ProducerID: producerID, Transactional: true, Control: true})
}

func (s *memStore) Replay(ctx context.Context, partition int32, fn func(Record) error) error {
	s.mu.Lock()
	hook := s.replayFn
	s.mu.Unlock()
	if hook != nil {
		if err := hook(ctx); err != nil {
			return err
		}
	}
	s.mu.Lock()
	recs := slices.Clone(s.logs[partition])
	s.mu.Unlock()
	for i, r := range recs {
		if err := ctx.Err(); err != nil {
			return err
		}
		r.Offset = int64(i)
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func (s *memStore) records(partition int32) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.logs[partition])
}

// harness drives one group's state machine step by step.
type harness struct {
	t       *testing.T
	g       *group
	lim     *limits
	now     time.Time
	nextW   uint64
	replies map[uint64]kmsg.Response
	pending []appendReq // asked for, not yet completed
	written []Record    // completed successfully, in order (Offset: the index, as in memStore)
	uuid    int
}

func testLimits() *limits {
	cfg := DefaultConfig().withDefaults()
	cfg.MinSessionTimeout = time.Second
	return limitsFrom(&cfg)
}

func newHarness(t *testing.T, mod func(*limits)) *harness {
	h := &harness{t: t, now: t0, replies: map[uint64]kmsg.Response{}}
	h.lim = testLimits()
	h.lim.newUUID = func() string { h.uuid++; return fmt.Sprintf("uuid%d", h.uuid) }
	if mod != nil {
		mod(h.lim)
	}
	h.g = newGroup("g", h.lim, h.now)
	return h
}

// collect takes the machine's output.
func (h *harness) collect() {
	h.t.Helper()
	out := h.g.take()
	for _, r := range out.replies {
		if _, dup := h.replies[r.to.id]; dup {
			h.t.Fatalf("waiter %d answered twice", r.to.id)
		}
		h.replies[r.to.id] = r.resp
	}
	h.pending = append(h.pending, out.appends...)
}

func (h *harness) waiter(version int16) waiter {
	h.nextW++
	return waiter{id: h.nextW, version: version}
}

// advance moves time by d and fires due timers.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	h.now = h.now.Add(d)
	h.g.advance(h.now)
	h.collect()
}

// flush completes every pending append with err.
func (h *harness) flush(err error) {
	h.t.Helper()
	for len(h.pending) > 0 {
		a := h.pending[0]
		h.pending = h.pending[1:]
		off := int64(-1)
		if err == nil {
			off = int64(len(h.written))
			for i, r := range a.recs {
				r.Offset, r.ProducerID = off+int64(i), -1
				if a.txn != nil {
					r.ProducerID, r.Transactional = a.txn.ID, true
				}
				h.written = append(h.written, r)
			}
		}
		h.g.appendDone(h.now, a.seq, off, err)
		h.collect()
	}
}

func (h *harness) answered(w waiter) bool { _, ok := h.replies[w.id]; return ok }

func (h *harness) joinResp(w waiter) *kmsg.JoinGroupResponse {
	h.t.Helper()
	r, ok := h.replies[w.id].(*kmsg.JoinGroupResponse)
	if !ok {
		h.t.Fatalf("no JoinGroup answer for waiter %d (state %v)", w.id, h.g.state)
	}
	return r
}

func (h *harness) syncResp(w waiter) *kmsg.SyncGroupResponse {
	h.t.Helper()
	r, ok := h.replies[w.id].(*kmsg.SyncGroupResponse)
	if !ok {
		h.t.Fatalf("no SyncGroup answer for waiter %d (state %v)", w.id, h.g.state)
	}
	return r
}

// joinOpt adjusts a JoinGroup.
type joinOpt func(*kmsg.JoinGroupRequest)

func withInstance(id string) joinOpt {
	return func(r *kmsg.JoinGroupRequest) { r.InstanceID = kmsg.StringPtr(id) }
}

func withVersion(v int16) joinOpt { return func(r *kmsg.JoinGroupRequest) { r.Version = v } }

func withProtocols(ptype string, names ...string) joinOpt {
	return func(r *kmsg.JoinGroupRequest) {
		r.ProtocolType = ptype
		r.Protocols = nil
		for _, n := range names {
			r.Protocols = append(r.Protocols, kmsg.JoinGroupRequestProtocol{Name: n, Metadata: subscription("t1")})
		}
	}
}

func withTimeouts(session, rebalance time.Duration) joinOpt {
	return func(r *kmsg.JoinGroupRequest) {
		r.SessionTimeoutMillis = int32(session.Milliseconds())
		r.RebalanceTimeoutMillis = int32(rebalance.Milliseconds())
	}
}

func withSubscription(topics ...string) joinOpt {
	return func(r *kmsg.JoinGroupRequest) {
		for i := range r.Protocols {
			r.Protocols[i].Metadata = subscription(topics...)
		}
	}
}

func subscription(topics ...string) []byte {
	m := kmsg.ConsumerMemberMetadata{Version: 1, Topics: topics}
	return m.AppendTo(nil)
}

// joinReq is a consumer's JoinGroup v3 (no member id round trip), session 10s, rebalance 60s.
func joinReq(memberID string, opts ...joinOpt) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = 3
	r.Group = "g"
	r.MemberID = memberID
	r.SessionTimeoutMillis = 10000
	r.RebalanceTimeoutMillis = 60000
	r.ProtocolType = "consumer"
	r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: subscription("t1")}}
	for _, o := range opts {
		o(r)
	}
	return r
}

// join sends a JoinGroup from client "c" and returns its waiter.
func (h *harness) join(memberID string, opts ...joinOpt) waiter {
	h.t.Helper()
	req := joinReq(memberID, opts...)
	w := h.waiter(req.Version)
	h.g.joinGroup(h.now, w, joinArgsFrom(req, clientInfo{"c", "/127.0.0.1"}))
	h.collect()
	return w
}

func (h *harness) sync(memberID string, gen int32, assign map[string]string) waiter {
	h.t.Helper()
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 3
	req.Group = "g"
	req.MemberID = memberID
	req.Generation = gen
	for id, a := range assign {
		req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: []byte(a)})
	}
	w := h.waiter(req.Version)
	h.g.syncGroup(h.now, w, req)
	h.collect()
	return w
}

func (h *harness) heartbeat(memberID string, gen int32, instance ...string) int16 {
	h.t.Helper()
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 3
	req.Group = "g"
	req.MemberID = memberID
	req.Generation = gen
	if len(instance) > 0 {
		req.InstanceID = kmsg.StringPtr(instance[0])
	}
	code := h.g.heartbeat(h.now, req)
	h.collect()
	return code
}

func (h *harness) commit(memberID string, gen int32, topic string, partition int32, offset int64, metadata string) waiter {
	h.t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 8
	req.Group = "g"
	req.MemberID = memberID
	req.Generation = gen
	p := kmsg.NewOffsetCommitRequestTopicPartition()
	p.Partition, p.Offset, p.LeaderEpoch, p.Metadata = partition, offset, 7, kmsg.StringPtr(metadata)
	req.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: topic, Partitions: []kmsg.OffsetCommitRequestTopicPartition{p}}}
	w := h.waiter(req.Version)
	h.g.commitOffsets(h.now, w, req)
	h.collect()
	return w
}

func (h *harness) commitCode(w waiter) int16 {
	h.t.Helper()
	r, ok := h.replies[w.id].(*kmsg.OffsetCommitResponse)
	if !ok {
		h.t.Fatalf("no OffsetCommit answer for waiter %d", w.id)
	}
	return r.Topics[0].Partitions[0].ErrorCode
}

// stableGroup forms a Stable group of n dynamic members (ids uuid-based: "c-uuid1", ...) and
// returns their ids, leader first, with the generation.
func (h *harness) stableGroup(n int, opts ...joinOpt) ([]string, int32) {
	h.t.Helper()
	ws := make([]waiter, n)
	for i := range ws {
		ws[i] = h.join("", opts...)
	}
	h.advance(h.lim.initialDelay)
	if h.g.is(statePreparingRebalance) {
		h.advance(h.lim.initialDelay)
	}
	var ids []string
	var leader string
	var gen int32
	for _, w := range ws {
		r := h.joinResp(w)
		if r.ErrorCode != 0 {
			h.t.Fatalf("join: %d", r.ErrorCode)
		}
		ids = append(ids, r.MemberID)
		leader, gen = r.LeaderID, r.Generation
	}
	assign := map[string]string{}
	for _, id := range ids {
		assign[id] = "assignment-of-" + id
	}
	var sws []waiter
	for _, id := range ids {
		if id != leader {
			sws = append(sws, h.sync(id, gen, nil))
		}
	}
	sws = append(sws, h.sync(leader, gen, assign))
	h.flush(nil)
	for _, w := range sws {
		if r := h.syncResp(w); r.ErrorCode != 0 {
			h.t.Fatalf("sync: %d", r.ErrorCode)
		}
	}
	if !h.g.is(stateStable) {
		h.t.Fatalf("state %v, want Stable", h.g.state)
	}
	out := []string{leader}
	for _, id := range ids {
		if id != leader {
			out = append(out, id)
		}
	}
	return out, gen
}
