package txn

import (
	"context"
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

// memStore is an in-memory Store: a log per partition.
type memStore struct {
	mu       sync.Mutex
	logs     map[int32][]Record
	appendFn func(partition int32, recs []Record) error // optional hook: an error fails the append
	replayFn func(ctx context.Context) error            // optional hook before a replay
	// commitWait, when set, is the wait ReplayCommitted returns: the replayed records are not
	// committed yet (a new leader whose followers still have to fetch them).
	commitWait func(ctx context.Context, partition int32) error
}

func (s *memStore) ReplayCommitted(partition int32) (func(context.Context) error, error) {
	s.mu.Lock()
	fn := s.commitWait
	s.mu.Unlock()
	if fn == nil {
		return nil, nil
	}
	return func(ctx context.Context) error { return fn(ctx, partition) }, nil
}

func newMemStore() *memStore { return &memStore{logs: map[int32][]Record{}} }

func (s *memStore) Append(ctx context.Context, partition int32, recs []Record) error {
	s.mu.Lock()
	fn := s.appendFn
	s.mu.Unlock()
	if fn != nil {
		if err := fn(partition, recs); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		s.logs[partition] = append(s.logs[partition], Record{Key: slices.Clone(r.Key), Value: slices.Clone(r.Value)})
	}
	return nil
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
	for _, r := range recs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// states decodes partition's records for id, in order ("tombstone" for a deletion).
func (s *memStore) states(t *testing.T, partition int32, id string) []string {
	t.Helper()
	s.mu.Lock()
	recs := slices.Clone(s.logs[partition])
	s.mu.Unlock()
	var out []string
	for _, r := range recs {
		ld := newLoader()
		if err := ld.add(r); err != nil {
			t.Fatalf("undecodable record: %v", err)
		}
		m, ok := ld.txns[id]
		switch {
		case ok:
			out = append(out, m.state.String())
		case r.Value == nil && string(r.Key) == string(recordKey(id)):
			out = append(out, "tombstone")
		}
	}
	return out
}

// fakeMarkers is a MarkerWriter that records every call; answer decides its codes (nil: all 0).
// With block set, calls wait until their ctx ends (a leader that never answers).
type fakeMarkers struct {
	mu     sync.Mutex
	calls  []Markers
	answer func(Markers) map[TopicPartition]int16
	block  bool
}

func (f *fakeMarkers) WriteMarkers(ctx context.Context, m Markers) map[TopicPartition]int16 {
	f.mu.Lock()
	f.calls = append(f.calls, m)
	answer, block := f.answer, f.block
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return nil
	}
	if answer != nil {
		return answer(m)
	}
	codes := map[TopicPartition]int16{}
	for _, tp := range m.Partitions {
		codes[tp] = 0
	}
	return codes
}

func (f *fakeMarkers) all() []Markers {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// fakePIDs hands out producer ids from 1000 up.
type fakePIDs struct {
	mu   sync.Mutex
	next int64
	err  error
}

func (p *fakePIDs) NextProducerID(context.Context) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return 0, p.err
	}
	if p.next == 0 {
		p.next = 1000
	}
	p.next++
	return p.next - 1, nil
}

// harness drives one transactional id's state machine step by step.
type harness struct {
	t       *testing.T
	tx      *txn
	now     time.Time
	nextW   waiter
	replies map[waiter]result
	appends []appendReq // asked for, not yet completed
	markers []markerReq // asked for, not yet answered
	written []Record    // completed appends, in order
}

func testLimits() *limits {
	return &limits{expiration: DefaultIDExpiration, retryBackoff: DefaultRetryBackoff}
}

// newHarness starts with a new transactional id "tx" with producer id 1000 (no epoch yet) and a
// 60s timeout, at coordinator epoch 5.
func newHarness(t *testing.T) *harness {
	h := &harness{t: t, now: t0, replies: map[waiter]result{}}
	h.tx = newTxn("tx", testLimits(), 5, 1000, 60000, h.now)
	return h
}

func (h *harness) collect() {
	h.t.Helper()
	out := h.tx.take()
	for _, r := range out.replies {
		if _, dup := h.replies[r.to]; dup {
			h.t.Fatalf("waiter %d answered twice", r.to)
		}
		h.replies[r.to] = r.res
	}
	h.appends = append(h.appends, out.appends...)
	h.markers = append(h.markers, out.markers...)
}

func (h *harness) w() waiter { h.nextW++; return h.nextW }

func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	h.now = h.now.Add(d)
	h.tx.advance(h.now)
	h.collect()
}

// flush completes every pending append with err.
func (h *harness) flush(err error) {
	h.t.Helper()
	for len(h.appends) > 0 {
		a := h.appends[0]
		h.appends = h.appends[1:]
		if err == nil {
			h.written = append(h.written, a.rec)
		}
		h.tx.appendDone(h.now, a.seq, err)
		h.collect()
	}
}

// answerMarkers answers the oldest marker request with codes (nil: every partition written).
func (h *harness) answerMarkers(codes map[TopicPartition]int16) Markers {
	h.t.Helper()
	if len(h.markers) == 0 {
		h.t.Fatalf("no marker request (state %v)", h.tx.state)
	}
	m := h.markers[0]
	h.markers = h.markers[1:]
	if codes == nil {
		codes = map[TopicPartition]int16{}
		for _, tp := range m.m.Partitions {
			codes[tp] = 0
		}
	}
	h.tx.markersDone(h.now, m.seq, codes)
	h.collect()
	return m.m
}

func (h *harness) result(w waiter) result {
	h.t.Helper()
	r, ok := h.replies[w]
	if !ok {
		h.t.Fatalf("no answer for waiter %d (state %v, pending %v)", w, h.tx.state, h.tx.pending != nil)
	}
	return r
}

func (h *harness) code(w waiter) int16 { h.t.Helper(); return h.result(w).code }

// init runs InitProducerId and completes its write.
func (h *harness) init(expected *producerIDEpoch) result {
	h.t.Helper()
	w := h.w()
	if h.tx.initProducerID(h.now, w, 60000, expected, noProducerID) {
		h.t.Fatalf("unexpected need for a producer id")
	}
	h.collect()
	h.flush(nil)
	return h.result(w)
}

// add runs AddPartitionsToTxn with the current id and epoch and completes its write.
func (h *harness) add(parts ...TopicPartition) int16 {
	h.t.Helper()
	w := h.w()
	h.tx.addPartitions(h.now, w, h.tx.producerID, h.tx.epoch, parts)
	h.collect()
	h.flush(nil)
	return h.code(w)
}

// end runs EndTxn with the current id and epoch and completes its write.
func (h *harness) end(commit bool) result {
	h.t.Helper()
	w := h.w()
	h.tx.endTxn(h.now, w, h.tx.producerID, h.tx.epoch, commit)
	h.collect()
	h.flush(nil)
	return h.result(w)
}

// lastMeta decodes the last record written.
func (h *harness) lastMeta() (meta, bool) {
	h.t.Helper()
	if len(h.written) == 0 {
		h.t.Fatalf("nothing written")
	}
	ld := newLoader()
	if err := ld.add(h.written[len(h.written)-1]); err != nil {
		h.t.Fatal(err)
	}
	m, ok := ld.txns["tx"]
	return m, ok
}

func tp(topic string, p int32) TopicPartition { return TopicPartition{topic, p} }

// singleCoordinator is a coordinator of one __transaction_state partition, elected, with
// transactional id "tx" initialized (closed at the end of the test); it returns the
// InitProducerId answer too.
func singleCoordinator(tb testing.TB, cfg Config, store Store, markers MarkerWriter) (*Coordinator, *kmsg.InitProducerIDResponse) {
	tb.Helper()
	cfg.NumPartitions = 1
	c := NewCoordinator(cfg, store, &fakePIDs{}, markers)
	tb.Cleanup(c.Close)
	if err := c.Elected(context.Background(), 0, 1); err != nil {
		tb.Fatal(err)
	}
	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.Version, ip.TransactionalID, ip.TransactionTimeoutMillis = 4, kmsg.StringPtr("tx"), 60000
	r := c.InitProducerID(context.Background(), ip)
	if r.ErrorCode != 0 {
		tb.Fatalf("InitProducerId = %d", r.ErrorCode)
	}
	return c, r
}
