package controller

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/minikraft/minikraft/raftmeta"
)

// liveCluster registers brokers 0..n-1 through the controller (each with its own incarnation)
// and creates a topic of 6 partitions, RF n.
func liveCluster(t *testing.T, n int) (*Controller, *raftmeta.Node, map[int32][16]byte) {
	t.Helper()
	meta := startMeta(t)
	c := New(meta, nil)
	inc := map[int32][16]byte{}
	now := time.Now()
	for id := range int32(n) {
		in := [16]byte{byte(id + 1), 7}
		inc[id] = in
		br := raftmeta.Broker{ID: id, Incarnation: in,
			Listeners: []raftmeta.Endpoint{{Name: "PLAINTEXT", Host: "localhost", Port: 9092 + id, SecurityProtocol: "PLAINTEXT"}}}
		if _, err := c.RegisterBroker(ctxFor(t), br, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CreateTopic(ctxFor(t), TopicSpec{Name: "t", Partitions: 6, ReplicationFactor: int16(n)}, false); err != nil {
		t.Fatal(err)
	}
	return c, meta, inc
}

// watchStates calls check on every metadata state published until the returned stop is called.
func watchStates(meta *raftmeta.Node, check func(*raftmeta.State)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			ch := meta.Changed()
			check(meta.State())
			select {
			case <-ch:
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// TestControlledShutdownMovesLeadersBeforeFencing: a broker in controlled shutdown gives up its
// leaderships and ISR places before it is fenced, so no published metadata names a fenced
// leader (clients such as kafka-go give up on a partition whose leader is not listed).
func TestControlledShutdownMovesLeadersBeforeFencing(t *testing.T) {
	c, meta, _ := liveCluster(t, 3)
	var mu sync.Mutex
	var bad []string
	stop := watchStates(meta, func(st *raftmeta.State) {
		for _, top := range st.Topics {
			for _, p := range top.Partitions {
				if br := st.Brokers[p.Leader]; p.Leader >= 0 && br != nil && br.Fenced {
					mu.Lock()
					bad = append(bad, top.Name)
					mu.Unlock()
				}
			}
		}
	})
	if err := c.ShutdownBroker(ctxFor(t), 0); err != nil {
		t.Fatal(err)
	}
	stop()
	if len(bad) > 0 {
		t.Fatalf("%d published states named fenced broker 0 as a leader", len(bad))
	}
	st := meta.State()
	if !st.Brokers[0].Fenced {
		t.Fatal("broker 0 not fenced after its controlled shutdown")
	}
	for _, p := range st.Topics["t"].Partitions {
		if p.Leader == 0 || p.InISR(0) || p.Leader < 0 {
			t.Fatalf("partition %d: leader %d, ISR %v after broker 0 shut down", p.ID, p.Leader, p.ISR)
		}
	}
}

// TestHeartbeatCrossingShutdownDoesNotUnfence: a heartbeat of the stopping incarnation that
// arrives after its controlled shutdown leaves it fenced; a new registration (the restarted
// process) unfences it, and its heartbeats are honoured again.
func TestHeartbeatCrossingShutdownDoesNotUnfence(t *testing.T) {
	c, meta, inc := liveCluster(t, 3)
	if err := c.ShutdownBroker(ctxFor(t), 1); err != nil {
		t.Fatal(err)
	}
	if err := c.Heartbeat(ctxFor(t), 1, inc[1], time.Now()); err != nil {
		t.Fatal(err)
	}
	if !meta.State().Brokers[1].Fenced {
		t.Fatal("a heartbeat after the controlled shutdown unfenced the broker")
	}
	restarted := [16]byte{9, 9}
	br := *meta.State().Brokers[1]
	br.Incarnation, br.Fenced = restarted, false
	if _, err := c.RegisterBroker(ctxFor(t), br, time.Now()); err != nil {
		t.Fatal(err)
	}
	if meta.State().Brokers[1].Fenced {
		t.Fatal("the restarted broker is still fenced after registering")
	}
	// Fenced again by a lapsed session, the new incarnation's heartbeat unfences it.
	if err := c.Tick(ctxFor(t), time.Now().Add(time.Hour), time.Second); err != nil {
		t.Fatal(err)
	}
	if !meta.State().Brokers[1].Fenced {
		t.Fatal("a lapsed session did not fence the broker")
	}
	if err := c.Heartbeat(ctxFor(t), 1, restarted, time.Now()); err != nil {
		t.Fatal(err)
	}
	if meta.State().Brokers[1].Fenced {
		t.Fatal("a heartbeat of the running incarnation did not unfence it")
	}
}

// TestTickFencesLapsedBroker: Tick fences a broker whose session lapsed, moving its leaderships
// first; the others keep theirs.
func TestTickFencesLapsedBroker(t *testing.T) {
	c, meta, inc := liveCluster(t, 3)
	start := time.Now()
	if err := c.Tick(ctxFor(t), start, time.Second); err != nil { // a new controller starts every session
		t.Fatal(err)
	}
	// Ticks every 100ms (as the controller's loop ticks at session/8), brokers 0 and 1
	// heartbeating, broker 2 silent.
	for now := start.Add(100 * time.Millisecond); now.Before(start.Add(3 * time.Second)); now = now.Add(100 * time.Millisecond) {
		for _, id := range []int32{0, 1} {
			if err := c.Heartbeat(ctxFor(t), id, inc[id], now); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Tick(ctxFor(t), now, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	st := meta.State()
	if !st.Brokers[2].Fenced || st.Brokers[0].Fenced || st.Brokers[1].Fenced {
		t.Fatalf("fenced: 0 %v, 1 %v, 2 %v; want only 2", st.Brokers[0].Fenced, st.Brokers[1].Fenced, st.Brokers[2].Fenced)
	}
	for _, p := range st.Topics["t"].Partitions {
		if p.Leader == 2 || p.InISR(2) {
			t.Fatalf("partition %d still has broker 2: leader %d, ISR %v", p.ID, p.Leader, p.ISR)
		}
	}
}

// AwaitApplied waits for every live broker's report of the index, no longer for one that is
// fenced meanwhile, and names the brokers still behind when its time is up.
func TestAwaitApplied(t *testing.T) {
	c, meta, _ := liveCluster(t, 3)
	idx := meta.State().Index

	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	c.BrokerApplied(0, idx)
	c.BrokerApplied(1, idx-1)
	behind, err := c.AwaitApplied(short, idx, time.Minute)
	if err != nil || len(behind) != 2 || behind[1] != idx-1 || behind[2] != 0 {
		t.Fatalf("behind after the timeout: %v, %v; want brokers 1 (at %d) and 2 (at 0)", behind, err, idx-1)
	}

	done := make(chan map[int32]uint64)
	go func() {
		behind, err := c.AwaitApplied(ctxFor(t), idx, time.Minute)
		if err != nil {
			t.Error(err)
		}
		done <- behind
	}()
	c.BrokerApplied(1, idx+5)
	select {
	case b := <-done:
		t.Fatalf("answered with broker 2 live and behind: %v", b)
	case <-time.After(50 * time.Millisecond):
	}
	// Broker 2 is fenced: no longer waited for. (Fencing moves partitions: more indexes, which
	// the others have not reported, but the wait is for idx.)
	if err := c.fence(ctxFor(t), 2, "test"); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-done:
		if len(b) != 0 {
			t.Fatalf("behind: %v", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still waiting for a fenced broker")
	}

	// Broker 1, unfenced but silent for longer than stale, is not waited for either.
	idx = meta.State().Index
	c.BrokerApplied(0, idx)
	c.touch(1, time.Now().Add(-time.Minute))
	if behind, err := c.AwaitApplied(ctxFor(t), idx, time.Second); err != nil || len(behind) != 0 {
		t.Fatalf("waited for a silent broker: %v %v", behind, err)
	}
}

// TestTickElectsLeaderless: a partition left without a leader although an in-sync replica is
// unfenced (its unfence was committed but the election after it failed) gets that replica as
// leader at the next Tick; one whose only in-sync replica is fenced stays leaderless.
func TestTickElectsLeaderless(t *testing.T) {
	c, meta, _ := liveCluster(t, 3)
	st := meta.State()
	parts := append([]*raftmeta.Partition(nil), st.Topics["t"].Partitions...)
	if len(parts) < 2 {
		t.Fatalf("want two partitions, have %d", len(parts))
	}
	orphan, fencedOnly := parts[0], parts[1]
	none := raftmeta.NoLeader
	for _, p := range []*raftmeta.Partition{orphan, fencedOnly} {
		propose(t, meta, raftmeta.ChangePartition{Topic: "t", Partition: p.ID, ExpectedPartitionEpoch: p.PartitionEpoch,
			Leader: &none, ISR: []int32{p.Replicas[0]}})
	}
	fenced := fencedOnly.Replicas[0]
	if fenced == orphan.Replicas[0] {
		t.Skip("both partitions' first replicas are the same broker")
	}
	propose(t, meta, raftmeta.SetBrokerFenced{ID: fenced, Fenced: true})
	now := time.Now()
	if err := c.Tick(ctxFor(t), now, time.Hour); err != nil {
		t.Fatal(err)
	}
	st = meta.State()
	if p := st.Partition("t", orphan.ID); p.Leader != orphan.Replicas[0] {
		t.Fatalf("leaderless partition %d with an unfenced in-sync replica: leader %d after Tick, want %d", orphan.ID, p.Leader, orphan.Replicas[0])
	}
	if p := st.Partition("t", fencedOnly.ID); p.Leader != raftmeta.NoLeader {
		t.Fatalf("partition %d whose only in-sync replica is fenced got leader %d", fencedOnly.ID, p.Leader)
	}
}

// TestTickAfterAGapGivesFullSessions: a controller that did not tick for a while (it did not
// lead, or its process was paused) judges no broker by the heartbeats it saw before: every
// broker gets a full session, and only one that stays silent through it is fenced.
func TestTickAfterAGapGivesFullSessions(t *testing.T) {
	c, meta, inc := liveCluster(t, 3)
	start := time.Now()
	if err := c.Tick(ctxFor(t), start, time.Second); err != nil {
		t.Fatal(err)
	}
	resumed := start.Add(5 * time.Second) // five sessions without a tick
	if err := c.Tick(ctxFor(t), resumed, time.Second); err != nil {
		t.Fatal(err)
	}
	for id, br := range meta.State().Brokers {
		if br.Fenced {
			t.Fatalf("broker %d fenced by the first tick after a gap", id)
		}
	}
	for now := resumed.Add(100 * time.Millisecond); now.Before(resumed.Add(2 * time.Second)); now = now.Add(100 * time.Millisecond) {
		for _, id := range []int32{0, 1} {
			if err := c.Heartbeat(ctxFor(t), id, inc[id], now); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Tick(ctxFor(t), now, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	st := meta.State()
	if !st.Brokers[2].Fenced || st.Brokers[0].Fenced || st.Brokers[1].Fenced {
		t.Fatalf("fenced: 0 %v, 1 %v, 2 %v; want only the silent 2", st.Brokers[0].Fenced, st.Brokers[1].Fenced, st.Brokers[2].Fenced)
	}
}
