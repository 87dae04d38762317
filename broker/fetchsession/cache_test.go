package fetchsession

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

func parts(topic string, ids ...int32) []PartitionRequest {
	out := make([]PartitionRequest, len(ids))
	for i, id := range ids {
		out[i] = PartitionRequest{Key: Key{Topic: topic, Partition: id}, FetchOffset: 0, MaxBytes: 1 << 20, CurrentLeaderEpoch: -1, LastFetchedEpoch: -1, LogStartOffset: -1}
	}
	return out
}

// quiet is a result with nothing new: the same high watermark and log start as before.
func quiet(n int, hw int64) []Result {
	rs := make([]Result, n)
	for i := range rs {
		rs[i] = Result{HighWatermark: hw, LogStartOffset: 0}
	}
	return rs
}

func partitionIDs(ps []PartitionRequest) []int32 {
	var out []int32
	for _, p := range ps {
		out = append(out, p.Partition)
	}
	return out
}

func kept(ps []PartitionRequest, keep []bool) []int32 {
	var out []int32
	for i, p := range ps {
		if keep[i] {
			out = append(out, p.Partition)
		}
	}
	return out
}

// open makes a session for ps through a full fetch at epoch 0 and returns its id.
func open(t *testing.T, c *Cache, follower bool, ps []PartitionRequest, now time.Time) int32 {
	t.Helper()
	ctx, err := c.NewContext(Request{SessionEpoch: InitialEpoch, Follower: follower, Partitions: ps}, now)
	if err != nil {
		t.Fatal(err)
	}
	id, keep, err := ctx.Finish(quiet(len(ps), 10), now)
	if err != nil || len(keep) != len(ps) {
		t.Fatalf("full fetch: id %d keep %v err %v", id, keep, err)
	}
	return id
}

func TestFullFetchCreatesSessionAndIncrementalSendsOnlyNews(t *testing.T) {
	c := NewCache(10, MinEvictionAge)
	id := open(t, c, false, parts("t", 0, 1, 2), t0)
	if id == InvalidSessionID {
		t.Fatal("no session created")
	}
	// Epoch 1, nothing changed in the request: every session partition is read, none answered.
	ctx, err := c.NewContext(Request{SessionID: id, SessionEpoch: 1}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got := partitionIDs(ctx.Partitions()); !slices.Equal(got, []int32{0, 1, 2}) || !ctx.Incremental() {
		t.Fatalf("incremental reads %v (incremental %v), want all three", got, ctx.Incremental())
	}
	rs := quiet(3, 10)
	rs[1].RecordBytes = 100
	rs[2].HighWatermark = 11
	sid, keep, err := ctx.Finish(rs, t0)
	if err != nil || sid != id {
		t.Fatalf("finish: %d %v", sid, err)
	}
	if got := kept(ctx.Partitions(), keep); !slices.Equal(got, []int32{1, 2}) {
		t.Fatalf("answered %v, want [1 2] (records, new high watermark)", got)
	}
	// The request updates partition 0's offset; its cached parameters are what later fetches use.
	upd := parts("t", 0)
	upd[0].FetchOffset = 42
	ctx, err = c.NewContext(Request{SessionID: id, SessionEpoch: 2, Partitions: upd}, t0)
	if err != nil {
		t.Fatal(err)
	}
	// Partition 1 returned records, so it went to the back.
	if got := partitionIDs(ctx.Partitions()); !slices.Equal(got, []int32{0, 2, 1}) {
		t.Fatalf("order %v, want [0 2 1]", got)
	}
	if ctx.Partitions()[0].FetchOffset != 42 {
		t.Fatalf("fetch offset %d, want the updated 42", ctx.Partitions()[0].FetchOffset)
	}
	rs = []Result{{HighWatermark: 10}, {HighWatermark: 11}, {HighWatermark: 10}}
	_, keep, _ = ctx.Finish(rs, t0)
	if got := kept(ctx.Partitions(), keep); len(got) != 0 {
		t.Fatalf("answered %v with nothing new", got)
	}
}

func TestFinalEpochIsSessionlessAndClosesTheSession(t *testing.T) {
	c := NewCache(10, MinEvictionAge)
	id := open(t, c, false, parts("t", 0), t0)
	// kafka-go's Client.Fetch: a full fetch at epoch -1, whatever the id.
	for _, sid := range []int32{-1, 0, id} {
		ctx, err := c.NewContext(Request{SessionID: sid, SessionEpoch: FinalEpoch, Partitions: parts("t", 0, 1)}, t0)
		if err != nil {
			t.Fatal(err)
		}
		got, keep, err := ctx.Finish(quiet(2, 10), t0)
		if err != nil || got != InvalidSessionID || !slices.Equal(keep, []bool{true, true}) {
			t.Fatalf("session %d epoch -1: id %d keep %v err %v, want a sessionless full answer", sid, got, keep, err)
		}
	}
	if _, err := c.NewContext(Request{SessionID: id, SessionEpoch: 1}, t0); !errors.Is(err, ErrSessionIDNotFound) {
		t.Fatalf("session closed by epoch -1 still answers: %v", err)
	}
	if s := c.Stats(); s.Sessions != 0 || s.Partitions != 0 {
		t.Fatalf("stats %+v after close", s)
	}
}

func TestInitialEpochReplacesTheNamedSession(t *testing.T) {
	c := NewCache(10, MinEvictionAge)
	id := open(t, c, false, parts("t", 0), t0)
	ctx, err := c.NewContext(Request{SessionID: id, SessionEpoch: InitialEpoch, Partitions: parts("t", 0, 1)}, t0)
	if err != nil {
		t.Fatal(err)
	}
	id2, keep, _ := ctx.Finish(quiet(2, 10), t0)
	if id2 == InvalidSessionID || id2 == id || len(keep) != 2 {
		t.Fatalf("new id %d (old %d) keep %v", id2, id, keep)
	}
	if s := c.Stats(); s.Sessions != 1 || s.Partitions != 2 {
		t.Fatalf("stats %+v, want the new session only", s)
	}
}

func TestSessionErrors(t *testing.T) {
	c := NewCache(10, MinEvictionAge)
	id := open(t, c, false, parts("t", 0), t0)
	for _, tc := range []struct {
		req  Request
		want error
	}{
		{Request{SessionID: id + 1, SessionEpoch: 1}, ErrSessionIDNotFound},
		{Request{SessionID: 0, SessionEpoch: 1}, ErrSessionIDNotFound},
		{Request{SessionID: id, SessionEpoch: 2}, ErrInvalidEpoch},
		{Request{SessionID: id, SessionEpoch: -2}, ErrInvalidEpoch},
		{Request{SessionID: id, SessionEpoch: 1, UsesTopicIDs: true}, ErrTopicIDMismatch},
	} {
		if _, err := c.NewContext(tc.req, t0); !errors.Is(err, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.req, err, tc.want)
		}
	}
	// The errors did not move the epoch: 1 is still the next one.
	if _, err := c.NewContext(Request{SessionID: id, SessionEpoch: 1}, t0); err != nil {
		t.Fatal(err)
	}
}

// Two requests of the same epoch (a client retrying): the first one in wins; the other, still
// waiting for data, must not answer as if the session had not moved.
func TestDuplicateEpochIsRefusedAtAnswer(t *testing.T) {
	c := NewCache(10, MinEvictionAge)
	id := open(t, c, false, parts("t", 0), t0)
	a, err := c.NewContext(Request{SessionID: id, SessionEpoch: 1}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.NewContext(Request{SessionID: id, SessionEpoch: 2}, t0); err != nil {
		t.Fatal(err)
	}
	if sid, keep, err := a.Finish(quiet(1, 10), t0); !errors.Is(err, ErrInvalidEpoch) || sid != id || keep != nil {
		t.Fatalf("stale context answered: %d %v %v", sid, keep, err)
	}
}

func TestForgottenAndAddedPartitions(t *testing.T) {
	c := NewCache(10, MinEvictionAge)
	id := open(t, c, false, parts("t", 0, 1, 2), t0)
	ctx, err := c.NewContext(Request{SessionID: id, SessionEpoch: 1, Partitions: parts("u", 7),
		Forgotten: []Key{{Topic: "t", Partition: 1}, {Topic: "t", Partition: 9}}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got := partitionIDs(ctx.Partitions()); !slices.Equal(got, []int32{0, 2, 7}) {
		t.Fatalf("reads %v, want [0 2 7]", got)
	}
	_, keep, _ := ctx.Finish(quiet(3, 10), t0)
	// The added partition is answered once even with nothing new: the client has not heard of it.
	if got := kept(ctx.Partitions(), keep); !slices.Equal(got, []int32{7}) {
		t.Fatalf("answered %v, want [7]", got)
	}
	if s := c.Stats(); s.Partitions != 3 {
		t.Fatalf("cached partitions %d, want 3", s.Partitions)
	}
	// Forgetting everything closes the session; the fetch is answered sessionless.
	ctx, err = c.NewContext(Request{SessionID: id, SessionEpoch: 2,
		Forgotten: []Key{{Topic: "t", Partition: 0}, {Topic: "t", Partition: 2}, {Topic: "u", Partition: 7}}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if sid, keep, _ := ctx.Finish(nil, t0); sid != InvalidSessionID || len(keep) != 0 || ctx.Incremental() {
		t.Fatalf("emptied session: id %d keep %v", sid, keep)
	}
	if s := c.Stats(); s.Sessions != 0 {
		t.Fatalf("emptied session still cached: %+v", s)
	}
}

func TestErrorsAreAnsweredAndResentWhenCleared(t *testing.T) {
	c := NewCache(10, MinEvictionAge)
	id := open(t, c, false, parts("t", 0, 1), t0)
	epoch := int32(1)
	step := func(rs []Result) []int32 {
		t.Helper()
		ctx, err := c.NewContext(Request{SessionID: id, SessionEpoch: epoch}, t0)
		if err != nil {
			t.Fatal(err)
		}
		epoch++
		_, keep, err := ctx.Finish(rs, t0)
		if err != nil {
			t.Fatal(err)
		}
		return kept(ctx.Partitions(), keep)
	}
	notLeader := []Result{{HighWatermark: 10}, {HighWatermark: -1, LogStartOffset: -1, ErrorCode: 6}}
	if got := step(notLeader); !slices.Equal(got, []int32{1}) {
		t.Fatalf("error answered as %v", got)
	}
	if got := step(notLeader); !slices.Equal(got, []int32{1}) {
		t.Fatalf("a persisting error must be answered each time: %v", got)
	}
	// The error clears with the same high watermark as before it: the client still must hear.
	if got := step(quiet(2, 10)); !slices.Equal(got, []int32{1}) {
		t.Fatalf("cleared error answered as %v", got)
	}
	if got := step(quiet(2, 10)); len(got) != 0 {
		t.Fatalf("nothing new, answered %v", got)
	}
	div := quiet(2, 10)
	div[0].Diverging = true
	if got := step(div); !slices.Equal(got, []int32{0}) {
		t.Fatalf("diverging epoch answered as %v", got)
	}
}

func TestDuplicatePartitionsInARequestCollapse(t *testing.T) {
	c := NewCache(10, MinEvictionAge)
	ps := append(parts("t", 0, 1), parts("t", 0)...)
	ps[2].FetchOffset = 5
	ctx, err := c.NewContext(Request{SessionEpoch: InitialEpoch, Partitions: ps}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got := ctx.Partitions(); len(got) != 2 || got[0].Partition != 0 || got[0].FetchOffset != 5 {
		t.Fatalf("partitions %+v, want 0 (offset 5) then 1", got)
	}
}

func TestEpochsWrapAndStartAtOne(t *testing.T) {
	if nextEpoch(InitialEpoch) != 1 || nextEpoch(math.MaxInt32) != 1 || nextEpoch(FinalEpoch) != FinalEpoch || nextEpoch(7) != 8 {
		t.Fatal("nextEpoch differs from Kafka's FetchMetadata.nextEpoch")
	}
}

func TestSessionsDisabledWithZeroSlots(t *testing.T) {
	c := NewCache(0, MinEvictionAge)
	if id := open(t, c, true, parts("t", 0), t0); id != InvalidSessionID {
		t.Fatalf("session %d created with no slots", id)
	}
}

// Kafka's eviction rules (FetchSessionCacheTest.testSessionCache and testPrivilegedSessionHandling,
// in spirit): a full cache admits a newcomer only by evicting a stale session, or a session worth
// less that is old enough to be evicted.
func TestEvictionRules(t *testing.T) {
	age := MinEvictionAge
	t.Run("young sessions are kept from unprivileged newcomers", func(t *testing.T) {
		c := NewCache(2, age)
		a := open(t, c, false, parts("t", 0), t0)
		b := open(t, c, false, parts("t", 0), t0)
		if id := open(t, c, false, parts("t", 0, 1, 2, 3), t0.Add(time.Second)); id != InvalidSessionID {
			t.Fatalf("evicted a young session for %d", id)
		}
		if s := c.Stats(); s.Sessions != 2 || c.sessions[a] == nil || c.sessions[b] == nil {
			t.Fatalf("stats %+v", s)
		}
	})
	t.Run("a stale session goes first", func(t *testing.T) {
		c := NewCache(2, age)
		a := open(t, c, true, parts("t", 0, 1, 2), t0) // privileged and large, but unused
		b := open(t, c, false, parts("t", 0), t0)
		use(t, c, b, 1, t0.Add(age))
		id := open(t, c, false, parts("t", 0), t0.Add(age+time.Millisecond))
		if id == InvalidSessionID || c.sessions[a] != nil || c.sessions[b] == nil {
			t.Fatalf("stale session not evicted: new %d, a kept %v", id, c.sessions[a] != nil)
		}
		if c.Stats().Evictions != 1 {
			t.Fatalf("evictions %d", c.Stats().Evictions)
		}
	})
	t.Run("a follower's session evicts a consumer's at once", func(t *testing.T) {
		c := NewCache(2, age)
		a := open(t, c, false, parts("t", 0, 1, 2, 3), t0)
		b := open(t, c, false, parts("t", 0, 1), t0)
		id := open(t, c, true, parts("t", 0), t0.Add(time.Second))
		if id == InvalidSessionID || c.sessions[a] == nil || c.sessions[b] != nil {
			t.Fatalf("privileged newcomer should evict the smaller consumer session: new %d", id)
		}
		// A young follower session is not evictable, even by another follower.
		c2 := open(t, c, true, parts("t", 0, 1, 2, 3, 4, 5), t0.Add(2*time.Second))
		if c.sessions[id] == nil || c.sessions[a] != nil || c2 == InvalidSessionID {
			t.Fatalf("second follower should evict the consumer, not the young follower")
		}
		if open(t, c, true, parts("t", 0, 1, 2, 3, 4, 5, 6), t0.Add(3*time.Second)) != InvalidSessionID {
			t.Fatal("evicted a young follower session")
		}
	})
	t.Run("more partitions win once the loser is old and used", func(t *testing.T) {
		c := NewCache(2, age)
		a := open(t, c, false, parts("t", 0, 1), t0)
		b := open(t, c, false, parts("t", 0, 1, 2), t0)
		later := t0.Add(age + time.Second)
		use(t, c, a, 1, later) // old now, and touched: evictable by all
		use(t, c, b, 1, later)
		if id := open(t, c, false, parts("t", 0, 1), later); id != InvalidSessionID {
			t.Fatal("an equal-sized newcomer evicted a session")
		}
		id := open(t, c, false, parts("t", 0, 1, 2), later)
		if id == InvalidSessionID || c.sessions[a] != nil || c.sessions[b] == nil {
			t.Fatalf("larger newcomer should evict the smallest old session (a): new %d", id)
		}
	})
}

// use makes one incremental fetch with nothing new in session id at epoch.
func use(t *testing.T, c *Cache, id, epoch int32, now time.Time) {
	t.Helper()
	ctx, err := c.NewContext(Request{SessionID: id, SessionEpoch: epoch}, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ctx.Finish(quiet(len(ctx.Partitions()), 10), now); err != nil {
		t.Fatal(err)
	}
}
