package txncheck

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config says what load to run.
type Config struct {
	Seeds      []string      // client addresses of the cluster's nodes
	Topic      string        // an existing topic with Partitions partitions
	Partitions int32         // how many partitions the producers write
	Producers  int           // how many transactional producers, each with its own transactional id
	Duration   time.Duration // how long the producers run
	// TxnTimeout is the producers' transaction.timeout.ms (default 20 s): the coordinator
	// aborts a transaction left open longer, which bounds how long a crashed producer's
	// transaction holds the last stable offset back.
	TxnTimeout time.Duration
	Logf       func(format string, args ...any)
}

// Outcome is what a producer knows of how its transaction ended.
type Outcome int

const (
	// Committed: EndTransaction(commit) returned success.
	Committed Outcome = iota
	// Aborted: the producer never asked to commit, so the transaction cannot have committed
	// (it was aborted by the producer, by the coordinator's timeout, or by the fencing of a
	// recreated producer).
	Aborted
	// Unknown: the producer asked to commit and was not told it succeeded.
	Unknown
)

func (o Outcome) String() string {
	switch o {
	case Committed:
		return "committed"
	case Aborted:
		return "aborted"
	case Unknown:
		return "outcome unknown"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// txn is one transaction as its producer saw it.
type txn struct {
	producer, n int
	parts       []int32         // the partition of each record
	offs        []int64         // each record's acknowledged offset, when all were acknowledged
	first       map[int32]int64 // first acknowledged offset per partition, when all were acknowledged
	acked       time.Time       // when every record was acknowledged (zero if not)
	begin       time.Time       // when BeginTransaction was called
	end         time.Time       // when EndTransaction was first called (zero if never)
	outcome     Outcome
	abortErr    bool // the producer's abort failed (the client was recreated)
}

// lsoSample is one ListOffsets(read_committed) answer, with when it was asked and answered.
type lsoSample struct {
	sent, recv time.Time
	lso        map[int32]int64
	epoch      map[int32]int32 // the leader epoch each partition's answer came with (evidence)
}

// Checker runs the load and holds what the producers and the LSO sampler recorded.
type Checker struct {
	cfg       Config
	mu        sync.Mutex
	txns      []*txn
	samples   []lsoSample
	recreated int               // clients recreated after a failure
	live      map[string][]read // what the read_committed consumer read during the load
}

// New returns a Checker for cfg.
func New(cfg Config) *Checker {
	if cfg.TxnTimeout == 0 {
		cfg.TxnTimeout = 20 * time.Second
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	return &Checker{cfg: cfg, live: map[string][]read{}}
}

// transactionalID is producer k's transactional id.
func (c *Checker) transactionalID(k int) string { return fmt.Sprintf("txncheck-%s-%d", c.cfg.Topic, k) }

// value is the record value for record i of n in producer k's transaction t; parse reverses it.
func value(k, t, i, n int) string { return fmt.Sprintf("p%d t%d i%d n%d", k, t, i, n) }

func parse(v []byte) (k, t, i, n int, ok bool) {
	_, err := fmt.Sscanf(string(v), "p%d t%d i%d n%d", &k, &t, &i, &n)
	return k, t, i, n, err == nil
}

func (c *Checker) newProducer(k int, log *ring) (*kgo.Client, error) {
	return kgo.NewClient(
		kgo.SeedBrokers(c.cfg.Seeds...),
		kgo.WithLogger(kgo.BasicLogger(log, kgo.LogLevelInfo, nil)),
		kgo.TransactionalID(c.transactionalID(k)),
		kgo.TransactionTimeout(c.cfg.TxnTimeout),
		kgo.DefaultProduceTopic(c.cfg.Topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		// Short retry bounds: under faults some produces and EndTxns fail, and the
		// application's error handling (abort, recreate) and unknown outcomes get exercised.
		kgo.RecordDeliveryTimeout(6*time.Second),
		kgo.RetryTimeout(4*time.Second),
		kgo.ProduceRequestTimeout(5*time.Second),
		kgo.RequestTimeoutOverhead(5*time.Second),
		kgo.MetadataMinAge(250*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		kgo.DialTimeout(2*time.Second),
	)
}

// Load runs the producers and the LSO sampler for cfg.Duration (or until ctx ends).
func (c *Checker) Load(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Duration)
	defer cancel()
	var wg sync.WaitGroup
	for k := range c.cfg.Producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.produce(ctx, k)
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		c.sample(ctx)
	}()
	go func() {
		defer wg.Done()
		c.consume(ctx)
	}()
	wg.Wait()
}

// produce is producer k: transactions of 1-6 records to random partitions, two in three
// committed, the rest aborted, handling errors as an application would: a transaction that
// failed is aborted; when the abort or the commit fails, the client is closed and a new one made
// (its InitProducerId fences the old one and ends its transaction).
func (c *Checker) produce(ctx context.Context, k int) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(k)))
	var cl *kgo.Client
	log := &ring{}
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	for n := 0; ctx.Err() == nil; n++ {
		if cl == nil {
			var err error
			if cl, err = c.newProducer(k, log); err != nil {
				c.cfg.Logf("producer %d: %v", k, err)
				time.Sleep(time.Second)
				continue
			}
		}
		recreate := func(why string, err error) {
			c.cfg.Logf("producer %d txn %d: %s: %v; recreating the client; its last log lines:\n%s", k, n, why, err, log.dump())
			cl.Close()
			cl = nil
			c.mu.Lock()
			c.recreated++
			c.mu.Unlock()
		}
		t := &txn{producer: k, n: n, begin: time.Now(), first: map[int32]int64{}}
		if err := cl.BeginTransaction(); err != nil {
			recreate("begin", err)
			continue
		}
		size := 1 + rng.IntN(6)
		rs := make([]*kgo.Record, size)
		for i := range rs {
			p := rng.Int32N(c.cfg.Partitions)
			t.parts = append(t.parts, p)
			rs[i] = &kgo.Record{Partition: p, Key: fmt.Appendf(nil, "p%d", k), Value: []byte(value(k, n, i, size))}
		}
		c.mu.Lock()
		c.txns = append(c.txns, t)
		c.mu.Unlock()
		pctx, pcancel := context.WithTimeout(context.Background(), 20*time.Second)
		res := cl.ProduceSync(pctx, rs...)
		pcancel()
		perr := res.FirstErr()
		c.mu.Lock()
		if perr == nil {
			t.acked = time.Now()
			// ProduceSync's results are not in the records' order; the records themselves
			// hold their offsets.
			for _, r := range rs {
				t.offs = append(t.offs, r.Offset)
				if f, ok := t.first[r.Partition]; !ok || r.Offset < f {
					t.first[r.Partition] = r.Offset
				}
			}
		}
		c.mu.Unlock()
		// Hold the transaction open a moment, as an application doing other work would: the
		// LSO sampler gets to see it open.
		time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
		c.mu.Lock()
		commit := perr == nil && rng.IntN(3) != 0
		t.end = time.Now()
		if commit {
			t.outcome = Unknown
		} else {
			t.outcome = Aborted
		}
		c.mu.Unlock()
		// EndTransaction's context is not cancelled early: a cancelled EndTxn leaves the
		// client unsure of its state (kgo's documentation). The bound is a safety net.
		ectx, ecancel := context.WithTimeout(context.Background(), 60*time.Second)
		if commit {
			if err := cl.EndTransaction(ectx, kgo.TryCommit); err != nil {
				recreate("commit", err)
			} else {
				c.mu.Lock()
				t.outcome = Committed
				c.mu.Unlock()
			}
		} else {
			if perr != nil {
				if err := cl.AbortBufferedRecords(ectx); err != nil {
					c.cfg.Logf("producer %d txn %d: abort buffered records: %v", k, n, err)
				}
			}
			if err := cl.EndTransaction(ectx, kgo.TryAbort); err != nil {
				c.mu.Lock()
				t.abortErr = true
				c.mu.Unlock()
				recreate("abort", err)
			}
		}
		ecancel()
	}
}

// sample asks every partition's last stable offset (ListOffsets, read_committed) in a loop.
func (c *Checker) sample(ctx context.Context) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.cfg.Seeds...), kgo.MetadataMinAge(250*time.Millisecond),
		kgo.DialTimeout(2*time.Second), kgo.RequestTimeoutOverhead(3*time.Second))
	if err != nil {
		c.cfg.Logf("lso sampler: %v", err)
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for ctx.Err() == nil {
		s := lsoSample{sent: time.Now(), lso: map[int32]int64{}, epoch: map[int32]int32{}}
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		offs, err := adm.ListCommittedOffsets(lctx, c.cfg.Topic)
		cancel()
		s.recv = time.Now()
		if err == nil {
			offs.Each(func(o kadm.ListedOffset) {
				if o.Err == nil {
					s.lso[o.Partition], s.epoch[o.Partition] = o.Offset, o.LeaderEpoch
				}
			})
			c.mu.Lock()
			c.samples = append(c.samples, s)
			c.mu.Unlock()
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ring keeps a producer client's last log lines, shown when the producer meets an error.
type ring struct {
	mu    sync.Mutex
	lines []string
}

func (r *ring) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, string(p))
	if len(r.lines) > 40 {
		r.lines = r.lines[len(r.lines)-30:]
	}
	return len(p), nil
}

func (r *ring) dump() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := strings.Join(r.lines, "")
	r.lines = nil
	return s
}

// consume reads every partition with read_committed while the load runs, as an application's
// consumer would (franz-go's consumer, dropping aborted transactions by the fetch responses'
// lists): what it reads must be what the final read finds at the same offsets.
func (c *Checker) consume(ctx context.Context) {
	parts := map[int32]kgo.Offset{}
	for p := range c.cfg.Partitions {
		parts[p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.cfg.Seeds...), kgo.MetadataMinAge(250*time.Millisecond),
		kgo.DialTimeout(2*time.Second), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{c.cfg.Topic: parts}))
	if err != nil {
		c.cfg.Logf("live consumer: %v", err)
		return
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		c.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			c.live[string(r.Value)] = append(c.live[string(r.Value)], read{r.Partition, r.Offset})
		})
		c.mu.Unlock()
	}
}
