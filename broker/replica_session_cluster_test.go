package broker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft"
	"github.com/minikraft/minikraft/wire"
)

// followerFetch is one follower Fetch as a leader saw it, and the session id it answered.
type followerFetch struct {
	follower, leader int32
	id, epoch        int32
	named            map[int32]int64 // partition -> fetch offset, for the requests' partitions
	bytes            int             // the request body
	answeredID       int32
	answered         int // partitions in the answer
}

// fetchLog records every follower Fetch that reaches the nodes of a cluster.
type fetchLog struct {
	mu      sync.Mutex
	fetches []followerFetch
}

func (l *fetchLog) watch(t *testing.T, c *minikraft.Cluster, topic string) {
	for i := range 3 {
		leader := c.Node(i).NodeID()
		remove := c.Node(i).Mux().Intercept(1, 0, func(ctx context.Context, r *wire.Request, next wire.HandlerFunc) wire.Future {
			req := r.Msg.(*kmsg.FetchRequest)
			if req.ReplicaID < 0 {
				return next(ctx, r)
			}
			f := followerFetch{
				follower: req.ReplicaID, leader: leader, id: req.SessionID, epoch: req.SessionEpoch,
				named: make(map[int32]int64), bytes: len(req.AppendTo(nil)),
			}
			for _, rt := range req.Topics {
				for _, rp := range rt.Partitions {
					if rt.Topic == topic {
						f.named[rp.Partition] = rp.FetchOffset
					}
				}
			}
			fut := next(ctx, r)
			return func() (kmsg.Response, error) {
				resp, err := fut()
				var fr *kmsg.FetchResponse
				switch v := resp.(type) {
				case *wire.FetchResponse:
					fr = v.FetchResponse
				case *kmsg.FetchResponse:
					fr = v
				}
				if fr != nil {
					f.answeredID = fr.SessionID
					for _, rt := range fr.Topics {
						f.answered += len(rt.Partitions)
					}
				}
				l.mu.Lock()
				l.fetches = append(l.fetches, f)
				l.mu.Unlock()
				return resp, err
			}
		})
		t.Cleanup(remove)
	}
}

func (l *fetchLog) since(n int) []followerFetch {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]followerFetch(nil), l.fetches[n:]...)
}

func (l *fetchLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.fetches)
}

// fetchOffsets is, per follower and partition, the fetch offset the follower last named: with
// sessions a follower names a partition only when its offset moves, so this is where it is.
func fetchOffsets(fetches []followerFetch) map[[2]int32]int64 {
	out := make(map[[2]int32]int64)
	for _, f := range fetches {
		for p, off := range f.named {
			out[[2]int32{f.follower, p}] = off
		}
	}
	return out
}

// TestFollowerFetchSessions: followers replicate through fetch sessions. Each follower's first
// fetch from a leader is a full one that gets a session; once replication settles, its fetches
// are incremental and name no partition while nothing moves; a write to one partition makes the
// followers name that partition alone, and both replicate it.
func TestFollowerFetchSessions(t *testing.T) {
	const (
		topic      = "sessions"
		partitions = 60
		records    = 10
	)
	c := minikraft.NewCluster(t, 3)
	var log fetchLog
	log.watch(t, c, topic)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	kcl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer kcl.Close()
	if _, err := kadm.NewClient(kcl).CreateTopic(ctx, partitions, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitForLeaders(ctx, topic); err != nil {
		t.Fatal(err)
	}
	state := func() map[int32][2]int32 { // partition -> {leader, leader epoch}
		out := make(map[int32][2]int32)
		for _, p := range c.Node(0).Meta().State().Topics[topic].Partitions {
			out[p.ID] = [2]int32{p.Leader, p.LeaderEpoch}
		}
		return out
	}
	// produce writes n records to each partition and waits until both followers of each
	// fetch from its end.
	produce := func(parts []int32) {
		t.Helper()
		var rs []*kgo.Record
		for _, p := range parts {
			for i := range records {
				rs = append(rs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%d-%d", p, i)})
			}
		}
		if err := kcl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		ends := make(map[int32]int64)
		for _, r := range rs {
			ends[r.Partition] = max(ends[r.Partition], r.Offset+1)
		}
		for {
			offs, st, caughtUp := fetchOffsets(log.since(0)), state(), true
			for p, end := range ends {
				for f := range int32(3) {
					if f != st[p][0] && offs[[2]int32{f, p}] != end {
						caughtUp = false
					}
				}
			}
			if caughtUp {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("followers' fetch offsets %v; want the ends %v", offs, ends)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	produce([]int32{0, 1, 2})

	// Idle: incremental fetches that name nothing (but partitions whose leadership moved
	// meanwhile, which a loaded machine may cause).
	// waitPairs waits until each of the 6 follower/leader pairs made n fetches since mark
	// with a session epoch above 0 (with sessionless fetches, it fails at the deadline).
	waitPairs := func(mark, n int) {
		t.Helper()
		for {
			got := make(map[[2]int32]int)
			for _, f := range log.since(mark) {
				if f.epoch > 0 {
					got[[2]int32{f.follower, f.leader}]++
				}
			}
			least := n
			for _, k := range [][2]int32{{0, 1}, {0, 2}, {1, 0}, {1, 2}, {2, 0}, {2, 1}} {
				least = min(least, got[k])
			}
			if least == n {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("incremental follower fetches per follower/leader pair: %v; want %d each", got, n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitPairs(0, 1)
	// Each follower's first fetch from each leader was a full one (id 0, epoch 0) and was
	// granted a session.
	first := make(map[[2]int32]followerFetch)
	for _, f := range log.since(0) {
		if _, ok := first[[2]int32{f.follower, f.leader}]; !ok {
			first[[2]int32{f.follower, f.leader}] = f
		}
	}
	if len(first) != 6 {
		t.Fatalf("follower fetches seen for %d follower/leader pairs, want 6", len(first))
	}
	for k, f := range first {
		if f.id != 0 || f.epoch != 0 || f.answeredID == 0 {
			t.Errorf("follower %d's first fetch from %d: session %d epoch %d, answered session %d; want a full fetch that gets a session",
				k[0], k[1], f.id, f.epoch, f.answeredID)
		}
	}

	before, mark := state(), log.len()
	waitPairs(mark, 2)
	idle := log.since(mark)
	after := state()
	moved := func(p int32) bool { return before[p] != after[p] }
	idleBytes, idleAnswered := 0, 0
	for _, f := range idle {
		idleBytes, idleAnswered = idleBytes+f.bytes, idleAnswered+f.answered
		if f.epoch <= 0 || f.id == 0 || f.answeredID != f.id {
			t.Errorf("idle fetch of follower %d from %d: session %d epoch %d answered in session %d; want an incremental fetch",
				f.follower, f.leader, f.id, f.epoch, f.answeredID)
		}
		for p := range f.named {
			if !moved(p) {
				t.Errorf("idle fetch of follower %d from %d names partition %d, whose fetch state did not change", f.follower, f.leader, p)
			}
		}
	}
	fullBytes := 0
	for _, f := range first {
		fullBytes += f.bytes
	}
	t.Logf("%d idle follower fetches of %d bytes, answered with %.1f partitions, on average; the first, full, fetches averaged %d bytes",
		len(idle), idleBytes/len(idle), float64(idleAnswered)/float64(len(idle)), fullBytes/len(first))

	// A write to partition 3: the followers name it alone, and catch up.
	mark = log.len()
	produce([]int32{3})
	after = state()
	for _, f := range log.since(mark) {
		for p := range f.named {
			if p != 3 && !moved(p) {
				t.Errorf("fetch of follower %d from %d after a write to partition 3 names partition %d", f.follower, f.leader, p)
			}
		}
	}
}
