package minikraft_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/minikraft/minikraft"
)

// The in-process fault suite: each test writes numbered records with an idempotent acks=all
// producer while a fault is injected, then checks that every acknowledged record is read back
// exactly once.

type acked struct {
	mu   sync.Mutex
	vals map[string]bool
}

func (a *acked) add(v string) { a.mu.Lock(); a.vals[v] = true; a.mu.Unlock() }

func (a *acked) snapshot() map[string]bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]bool, len(a.vals))
	for k := range a.vals {
		out[k] = true
	}
	return out
}

// faultTopic creates a topic with 3 partitions, RF 3, min ISR 2 and waits for its leaders.
// opts are extra client options (the secured tests' TLS and SASL login), here and below.
func faultTopic(t *testing.T, c *minikraft.Cluster, name string, opts ...kgo.Opt) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(newClientT(t, append([]kgo.Opt{kgo.SeedBrokers(c.Addrs()...)}, opts...)...))
	if _, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, name); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitForLeaders(ctx, name); err != nil {
		t.Fatal(err)
	}
}

// writeDuring produces numbered records until stop is closed and returns what was acknowledged.
func writeDuring(t *testing.T, c *minikraft.Cluster, topic string, stop <-chan struct{}, opts ...kgo.Opt) map[string]bool {
	t.Helper()
	cl := newClientT(t, append([]kgo.Opt{kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.MetadataMinAge(100 * time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
		kgo.RecordDeliveryTimeout(20 * time.Second)}, opts...)...)
	a := &acked{vals: map[string]bool{}}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 100)
	for i := 0; ; i++ {
		select {
		case <-stop:
			wg.Wait()
			return a.snapshot()
		case sem <- struct{}{}:
		}
		v := strconv.Itoa(i)
		wg.Add(1)
		cl.Produce(context.Background(), &kgo.Record{Key: []byte(v), Value: []byte(v)}, func(r *kgo.Record, err error) {
			defer wg.Done()
			<-sem
			if err == nil {
				a.add(string(r.Value))
			}
		})
		time.Sleep(500 * time.Microsecond)
	}
}

// checkAllRead reads the topic back and fails on a lost acknowledged record or a duplicate.
func checkAllRead(t *testing.T, c *minikraft.Cluster, topic string, want map[string]bool, opts ...kgo.Opt) {
	t.Helper()
	if len(want) == 0 {
		t.Fatal("nothing was acknowledged")
	}
	cl := newClientT(t, append([]kgo.Opt{kgo.SeedBrokers(c.Addrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	seen := map[string]int{}
	missing := len(want)
	for missing > 0 && ctx.Err() == nil {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cl.PollFetches(pctx)
		pcancel()
		fs.EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			seen[v]++
			if seen[v] == 1 && want[v] {
				missing--
			}
		})
	}
	var lost, dups []string
	for v := range want {
		if seen[v] == 0 {
			lost = append(lost, v)
		}
	}
	for v, n := range seen {
		if n > 1 {
			dups = append(dups, v)
		}
	}
	t.Logf("acknowledged %d, read %d distinct", len(want), len(seen))
	if len(lost) > 0 {
		t.Errorf("%d acknowledged records lost, e.g. %v", len(lost), lost[:min(5, len(lost))])
	}
	if len(dups) > 0 {
		t.Errorf("%d records read twice, e.g. %v", len(dups), dups[:min(5, len(dups))])
	}
}

func leaderOf(c *minikraft.Cluster, topic string, p int) int {
	for i := range 3 {
		if n := c.Node(i); n != nil {
			return int(n.Meta().State().Topics[topic].Partitions[p].Leader)
		}
	}
	return -1
}

// runFault writes for a while, injects fault, writes on, and checks the acknowledged set.
func runFault(t *testing.T, fault func(c *minikraft.Cluster, topic string)) {
	c := minikraft.NewCluster(t, 3)
	faultTopic(t, c, "f")
	stop := make(chan struct{})
	var got map[string]bool
	done := make(chan struct{})
	go func() { defer close(done); got = writeDuring(t, c, "f", stop) }()
	time.Sleep(500 * time.Millisecond)
	fault(c, "f")
	time.Sleep(time.Second)
	close(stop)
	<-done
	checkAllRead(t, c, "f", got)
}

func TestFaultLeaderKill(t *testing.T) {
	runFault(t, func(c *minikraft.Cluster, topic string) {
		l := leaderOf(c, topic, 0)
		c.KillNode(l)
		time.Sleep(3 * time.Second)
		if err := c.RestartNode(l); err != nil {
			t.Fatal(err)
		}
	})
}

func TestFaultFollowerKill(t *testing.T) {
	runFault(t, func(c *minikraft.Cluster, topic string) {
		f := (leaderOf(c, topic, 0) + 1) % 3
		c.KillNode(f)
		time.Sleep(3 * time.Second)
		if err := c.RestartNode(f); err != nil {
			t.Fatal(err)
		}
	})
}

// TestFaultLeaderIsolated cuts partition 0's leader off from the other nodes. It must stop
// acknowledging acks=all writes (its followers cannot fetch), the others elect a new leader,
// and after healing the old leader truncates what it had not replicated.
func TestFaultLeaderIsolated(t *testing.T) {
	runFault(t, func(c *minikraft.Cluster, topic string) {
		l := leaderOf(c, topic, 0)
		c.Isolate(l)
		// While isolated, a write straight to the old leader is never acknowledged.
		cl := newClientT(t, kgo.SeedBrokers(c.Addrs()[l]), kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.DisableIdempotentWrite(), kgo.RecordRetries(0), kgo.ProduceRequestTimeout(time.Second),
			kgo.RecordPartitioner(kgo.ManualPartitioner()))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("isolated")}).FirstErr()
		cancel()
		if err == nil {
			t.Error("the isolated leader acknowledged an acks=all write")
		}
		time.Sleep(3 * time.Second)
		c.Heal(l)
	})
}

// TestFaultTornSegmentTail kills a follower, tears the tail of its partition log (a partial batch,
// as a crash in the middle of a write leaves it), restarts it, and checks it recovers and
// rejoins without serving or replicating the torn bytes.
func TestFaultTornSegmentTail(t *testing.T) {
	dir := t.TempDir()
	c := minikraft.NewCluster(t, 3, minikraft.WithDir(dir))
	faultTopic(t, c, "f")
	stop := make(chan struct{})
	var got map[string]bool
	done := make(chan struct{})
	go func() { defer close(done); got = writeDuring(t, c, "f", stop) }()
	time.Sleep(time.Second)
	f := (leaderOf(c, "f", 0) + 1) % 3
	c.KillNode(f)
	seg := filepath.Join(dir, fmt.Sprint("node-", f), "f-0", "00000000000000000000.log")
	fh, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.Write([]byte{0, 0, 0, 0, 0, 0, 0, 99, 0, 0, 1, 0, 0, 0}) // a batch header cut short
	fh.Close()
	if err := c.RestartNode(f); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	close(stop)
	<-done
	checkAllRead(t, c, "f", got)
	// The follower rejoins the ISR of every partition.
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok := true
		for _, p := range c.Node((f + 1) % 3).Meta().State().Topics["f"].Partitions {
			ok = ok && len(p.ISR) == 3
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the recovered follower did not rejoin the ISRs")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
