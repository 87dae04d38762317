package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ackLog records what a producer had acknowledged and when.
type ackLog struct {
	mu      sync.Mutex
	acked   map[string]bool
	at      map[string]ackedAt // where each acknowledged record was written
	failed  int
	last    time.Time
	maxGap  time.Duration
	gapAt   time.Time
	started time.Time
}

func newAckLog() *ackLog {
	return &ackLog{acked: map[string]bool{}, at: map[string]ackedAt{}, started: time.Now(), last: time.Now()}
}

// ackedAt is the partition and offset an acknowledgement gave a record.
type ackedAt struct {
	partition int32
	offset    int64
}

func (a *ackLog) ackAt(v string, at ackedAt) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	if gap := now.Sub(a.last); gap > a.maxGap {
		a.maxGap, a.gapAt = gap, a.last
	}
	a.last = now
	a.acked[v] = true
	a.at[v] = at
}

func (a *ackLog) fail() {
	a.mu.Lock()
	a.failed++
	a.mu.Unlock()
}

// produceNumbered writes "0", "1", ... with an idempotent acks=all producer until ctx ends,
// keeping at most 200 records in flight.
func produceNumbered(ctx context.Context, cl *kgo.Client, topic string, log *ackLog) int {
	sem := make(chan struct{}, 200)
	var wg sync.WaitGroup
	n := 0
	for ; ctx.Err() == nil; n++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		v := strconv.Itoa(n)
		wg.Add(1)
		cl.Produce(context.Background(), &kgo.Record{Topic: topic, Key: []byte(v), Value: []byte(v)}, func(r *kgo.Record, err error) {
			defer wg.Done()
			<-sem
			if err != nil {
				log.fail()
				return
			}
			log.ackAt(string(r.Value), ackedAt{r.Partition, r.Offset})
		})
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	return n
}

// readAll consumes topic from the start until it has seen every acknowledged value or the
// timeout passes, and returns how many times each value was read.
func readAll(t *testing.T, addrs []string, topic string, want map[string]bool, timeout time.Duration) map[string]int {
	t.Helper()
	cl := newClient(t, addrs[0], kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	seen := map[string]int{}
	missing := len(want)
	idle := time.Now()
	for ctx.Err() == nil && (missing > 0 || time.Since(idle) < time.Second) {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		pcancel()
		fs.EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			seen[v]++
			if seen[v] == 1 && want[v] {
				missing--
			}
			idle = time.Now()
		})
	}
	return seen
}

// TestReplicationSurvivesKills is Kafka's replication system test, the Jepsen way: three
// processes, a topic with 3 partitions, RF 3 and min.insync.replicas=2; an idempotent acks=all
// producer writes numbered records while each node in turn is killed with SIGKILL and restarted.
// Every acknowledged record must be read back, and no record twice.
func TestReplicationSurvivesKills(t *testing.T) {
	c := startCluster(t, 3)
	adm := kadm.NewClient(newClient(t, c.nodes[0].addr, kgo.SeedBrokers(c.addrs()...)))
	ctx := testContext(t)
	if r, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, "numbers"); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	prod := newClient(t, c.nodes[0].addr, kgo.SeedBrokers(c.addrs()...),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(30*time.Second),
		kgo.ProducerLinger(5*time.Millisecond),
		// franz-go refreshes metadata at most every 5 s by default; Java's producer retries
		// after 100 ms. A failover can only be as fast as the client looks for the new leader.
		kgo.MetadataMinAge(250*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	log := newAckLog()
	pctx, stop := context.WithCancel(context.Background())
	var produced int
	done := make(chan struct{})
	go func() {
		defer close(done)
		produced = produceNumbered(pctx, prod, "numbers", log)
	}()

	// 40 s of writes: each node in turn is killed 6 s into its 12 s slot and restarted 3 s
	// later, then 4 s more with all three up.
	for _, n := range c.nodes {
		time.Sleep(6 * time.Second)
		n.kill()
		time.Sleep(3 * time.Second)
		n.restart()
		time.Sleep(3 * time.Second)
	}
	time.Sleep(4 * time.Second)
	stop()
	<-done

	log.mu.Lock()
	acked, failed, gap := len(log.acked), log.failed, log.maxGap
	log.mu.Unlock()
	t.Logf("produced %d, acknowledged %d, failed %d; longest stretch without an acknowledgement: %v",
		produced, acked, failed, gap.Round(time.Millisecond))
	if acked == 0 {
		t.Fatal("nothing acknowledged")
	}
	seen := readAll(t, c.addrs(), "numbers", log.acked, 60*time.Second)
	var missing, dups []string
	for v := range log.acked {
		if seen[v] == 0 {
			missing = append(missing, v)
		}
	}
	for v, n := range seen {
		if n > 1 {
			dups = append(dups, fmt.Sprintf("%s×%d", v, n))
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d acknowledged records lost, e.g. %v", len(missing), missing[:min(10, len(missing))])
	}
	if len(dups) > 0 {
		t.Errorf("%d records read more than once, e.g. %v", len(dups), dups[:min(10, len(dups))])
	}
}

// TestAcksAllRefusedWithoutQuorum: with two of three nodes down, acks=all writes to a
// min.insync.replicas=2 topic fail with NOT_ENOUGH_REPLICAS and nothing is acknowledged, while
// acks=1 writes still succeed on the surviving leader.
func TestAcksAllRefusedWithoutQuorum(t *testing.T) {
	c := startCluster(t, 3)
	ctx := testContext(t)
	adm := kadm.NewClient(newClient(t, c.nodes[0].addr, kgo.SeedBrokers(c.addrs()...)))
	// One partition led by node 0, so that killing 1 and 2 leaves its leader alive.
	r, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, "quorum")
	if err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	// Metadata is applied on every node, but not at the same instant: ask until the answer
	// has the partition.
	var leader int32
	eventually(t, 10*time.Second, "partition leader", func() bool {
		td, err := adm.ListTopics(ctx, "quorum")
		if err != nil || td["quorum"].Err != nil || len(td["quorum"].Partitions) != 1 {
			return false
		}
		leader = td["quorum"].Partitions[0].Leader
		return leader >= 0
	})
	// A first acks=all write proves every replica has the partition and follows it.
	first := newClient(t, c.nodes[0].addr, kgo.SeedBrokers(c.addrs()...), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err := first.ProduceSync(ctx, &kgo.Record{Topic: "quorum", Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var survivors []string
	for i, n := range c.nodes {
		if int32(i) == leader {
			survivors = append(survivors, n.addr)
			continue
		}
		n.kill()
	}
	// The metadata quorum is gone with two of three voters, so the ISR cannot shrink in the
	// metadata; the leader still refuses acks=all once its followers are past
	// replica.lag.time.max.ms. Until then writes wait and time out. Nothing is acknowledged.
	// An idempotent producer retries NOT_ENOUGH_REPLICAS forever to keep its sequence; a plain
	// one reports it.
	all := newClient(t, survivors[0], kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(0),
		kgo.DisableIdempotentWrite(), kgo.ProduceRequestTimeout(3*time.Second))
	var err2 error
	eventually(t, 20*time.Second, "NOT_ENOUGH_REPLICAS", func() bool {
		err2 = all.ProduceSync(ctx, &kgo.Record{Topic: "quorum", Value: []byte("must not be acknowledged")}).FirstErr()
		if err2 == nil {
			t.Fatal("an acks=all write was acknowledged with one live replica of min.insync.replicas=2")
		}
		return errors.Is(err2, kerr.NotEnoughReplicas)
	})
	one := newClient(t, survivors[0], kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	if err := one.ProduceSync(ctx, &kgo.Record{Topic: "quorum", Value: []byte("acks=1")}).FirstErr(); err != nil {
		t.Fatalf("acks=1 on the surviving leader: %v", err)
	}
}

// partitionLeader asks the cluster which node leads topic's partition p.
func partitionLeader(t *testing.T, c *procCluster, topic string, p int32) int32 {
	t.Helper()
	adm := kadm.NewClient(newClient(t, c.nodes[0].addr, kgo.SeedBrokers(c.addrs()...)))
	var leader int32 = -1
	eventually(t, 10*time.Second, "partition leader", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		td, err := adm.ListTopics(ctx, topic)
		if err != nil || td[topic].Err != nil {
			return false
		}
		pd, ok := td[topic].Partitions[p]
		leader = pd.Leader
		return ok && leader >= 0
	})
	return leader
}

// faultRun writes numbered records to a fresh RF 3, min ISR 2 topic while fault runs, and checks
// that every acknowledged record is read back exactly once.
func faultRun(t *testing.T, fault func(c *procCluster)) {
	c := startCluster(t, 3)
	adm := kadm.NewClient(newClient(t, c.nodes[0].addr, kgo.SeedBrokers(c.addrs()...)))
	ctx := testContext(t)
	if r, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, "faults"); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	prod := newClient(t, c.nodes[0].addr, kgo.SeedBrokers(c.addrs()...),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(30*time.Second),
		kgo.MetadataMinAge(250*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	log := newAckLog()
	pctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		produceNumbered(pctx, prod, "faults", log)
	}()
	time.Sleep(2 * time.Second)
	fault(c)
	time.Sleep(3 * time.Second)
	stop()
	<-done
	log.mu.Lock()
	acked := log.acked
	t.Logf("acknowledged %d, failed %d, longest stretch without an acknowledgement %v", len(acked), log.failed, log.maxGap.Round(time.Millisecond))
	log.mu.Unlock()
	seen := readAll(t, c.addrs(), "faults", acked, 60*time.Second)
	var lost []string
	for v := range acked {
		if seen[v] == 0 {
			lost = append(lost, v)
		}
	}
	if len(lost) > 0 {
		// Where the lost records were acknowledged, and what each partition holds now, so that
		// a failure says whether records are gone or only unreadable.
		byPart := map[int32][]int64{}
		log.mu.Lock()
		for _, v := range lost {
			at := log.at[v]
			byPart[at.partition] = append(byPart[at.partition], at.offset)
		}
		log.mu.Unlock()
		for p, offs := range byPart {
			slices.Sort(offs)
			t.Logf("partition %d: %d lost, acknowledged at offsets %d..%d", p, len(offs), offs[0], offs[len(offs)-1])
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		starts, _ := adm.ListStartOffsets(ctx, "faults")
		ends, err := adm.ListEndOffsets(ctx, "faults")
		ends.Each(func(o kadm.ListedOffset) {
			s, _ := starts.Lookup("faults", o.Partition)
			t.Logf("partition %d now: start %d, end %d, leader epoch %d, %v", o.Partition, s.Offset, o.Offset, o.LeaderEpoch, o.Err)
		})
		for i, n := range c.nodes {
			// Each node's own view of the partitions: a leaderless one shows as leader -1.
			one := kadm.NewClient(newClient(t, n.addr, kgo.SeedBrokers(n.addr)))
			if md, err := one.Metadata(ctx, "faults"); err != nil {
				t.Logf("node %d: metadata: %v", i, err)
			} else {
				for _, p := range md.Topics["faults"].Partitions.Sorted() {
					t.Logf("node %d sees partition %d: leader %d, epoch %d, replicas %v, ISR %v", i, p.Partition, p.Leader, p.LeaderEpoch, p.Replicas, p.ISR)
				}
			}
		}
		t.Fatalf("%d acknowledged records lost (e.g. %s); listing offsets: %v", len(lost), lost[0], err)
	}
	for v, n := range seen {
		if n > 1 {
			t.Fatalf("record %s read %d times", v, n)
		}
	}
}

// TestPausedLeader is Jepsen's pause: partition 0's leader is stopped with SIGSTOP for 5 s (the
// others fence it and elect a new leader), then resumed; it must not acknowledge anything it
// cannot keep, and it rejoins as a follower.
func TestPausedLeader(t *testing.T) {
	faultRun(t, func(c *procCluster) {
		l := partitionLeader(t, c, "faults", 0)
		p := c.nodes[l].cmd.Process
		p.Signal(syscall.SIGSTOP)
		time.Sleep(5 * time.Second)
		p.Signal(syscall.SIGCONT)
	})
}

// TestTornTailRestart kills a follower, appends a torn batch to its partition's segment (as a
// crash mid-write leaves it) and restarts it: recovery cuts the torn bytes, and the follower
// catches up from the leader without serving or replicating them.
func TestTornTailRestart(t *testing.T) {
	faultRun(t, func(c *procCluster) {
		l := partitionLeader(t, c, "faults", 0)
		f := c.nodes[(l+1)%3]
		f.kill()
		var dataDir string
		for i, a := range f.args {
			if a == "--data-dir" {
				dataDir = f.args[i+1]
			}
		}
		seg := filepath.Join(dataDir, "faults-0", "00000000000000000000.log")
		fh, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		fh.Write([]byte{0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 200, 0, 0, 0, 0, 2})
		fh.Close()
		f.restart()
	})
}
