package txncheck

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Counts sums up a run.
type Counts struct {
	Committed, Aborted, Unknown int // transactions by what their producer was told
	UnknownCommitted            int // unknown-outcome transactions read whole (the rest: not at all)
	AbortFailed                 int // aborts that failed (the client was recreated)
	Recreated                   int // producer clients recreated after a failure
	Records                     int // records the producers sent
	ReadCommitted               int // records read with read_committed
	ReadUncommitted             int // records read with read_uncommitted
	ReadLive                    int // records read with read_committed during the load
	LSOSamples                  int // ListOffsets(read_committed) answers sampled during the load
	LSOChecks                   int // (sample, open transaction, partition) triples checked
}

func (n Counts) String() string {
	return fmt.Sprintf("txns committed %d, aborted %d, unknown %d (%d of them committed), aborts failed %d, clients recreated %d; records sent %d, read %d read_committed and %d read_uncommitted at the end, %d read_committed during the load; LSO samples %d, LSO checks %d",
		n.Committed, n.Aborted, n.Unknown, n.UnknownCommitted, n.AbortFailed, n.Recreated, n.Records, n.ReadCommitted, n.ReadUncommitted, n.ReadLive, n.LSOSamples, n.LSOChecks)
}

// read is where one record was read.
type read struct {
	partition int32
	offset    int64
}

// Verify ends every producer's transaction (a new InitProducerId per transactional id, as a
// restarted application's would), waits until every partition's last stable offset reaches its
// high watermark, reads every partition to its end with both isolation levels, and checks the
// reads against the ledger. Call it once Load returned and the cluster is whole again.
func (c *Checker) Verify(ctx context.Context) (Counts, []error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.cfg.Seeds...), kgo.MetadataMinAge(250*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 200 * time.Millisecond }))
	if err != nil {
		return Counts{}, []error{err}
	}
	defer cl.Close()
	for k := range c.cfg.Producers {
		if err := c.fence(ctx, cl, k); err != nil {
			return Counts{}, []error{err}
		}
	}
	end, err := c.settled(ctx, kadm.NewClient(cl))
	if err != nil {
		return Counts{}, []error{err}
	}
	rc, err := c.readAll(ctx, cl, kgo.ReadCommitted(), end)
	if err != nil {
		return Counts{}, []error{err}
	}
	ru, err := c.readAll(ctx, cl, kgo.ReadUncommitted(), end)
	if err != nil {
		return Counts{}, []error{err}
	}
	return c.check(rc, ru)
}

// fence sends InitProducerId for producer k's transactional id until it succeeds: the
// coordinator completes or aborts the id's last transaction first.
func (c *Checker) fence(ctx context.Context, cl *kgo.Client, k int) error {
	for {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID = kmsg.StringPtr(c.transactionalID(k))
		req.TransactionTimeoutMillis = int32(c.cfg.TxnTimeout.Milliseconds())
		resp, err := req.RequestWith(ctx, cl)
		if err == nil && resp.ErrorCode == 0 {
			return nil
		}
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("InitProducerId for %s: %w", c.transactionalID(k), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// settled waits until every partition's last stable offset equals its high watermark, and
// returns the high watermarks.
func (c *Checker) settled(ctx context.Context, adm *kadm.Client) (map[int32]int64, error) {
	var last string
	for {
		hw, err1 := adm.ListEndOffsets(ctx, c.cfg.Topic)
		lso, err2 := adm.ListCommittedOffsets(ctx, c.cfg.Topic)
		if err := errors.Join(err1, err2); err == nil {
			end, ok := map[int32]int64{}, true
			for p := range c.cfg.Partitions {
				h, ok1 := hw.Lookup(c.cfg.Topic, p)
				l, ok2 := lso.Lookup(c.cfg.Topic, p)
				if !ok1 || !ok2 || h.Err != nil || l.Err != nil || h.Offset != l.Offset {
					ok = false
					last = fmt.Sprintf("partition %d: high watermark %d (%v), last stable offset %d (%v)", p, h.Offset, h.Err, l.Offset, l.Err)
					break
				}
				end[p] = h.Offset
			}
			if ok {
				return end, nil
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the last stable offsets never reached the high watermarks: %s", last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// readAll fetches every partition from 0 to end[p] with the isolation level, from the current
// leader, and returns where each record value was read.
func (c *Checker) readAll(ctx context.Context, cl *kgo.Client, iso kgo.IsolationLevel, end map[int32]int64) (map[string][]read, error) {
	adm := kadm.NewClient(cl)
	out := map[string][]read{}
	for p := range c.cfg.Partitions {
		var off int64
		var last error
		for off < end[p] {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("reading partition %d at offset %d (end %d): %v", p, off, end[p], last)
			}
			recs, next, err := c.fetch(ctx, cl, adm, iso, p, off)
			if err != nil {
				last = err
				time.Sleep(200 * time.Millisecond)
				continue
			}
			for _, r := range recs {
				out[string(r.Value)] = append(out[string(r.Value)], read{p, r.Offset})
			}
			off = next
		}
	}
	return out, nil
}

// fetch is one Fetch of partition p at off from its leader.
func (c *Checker) fetch(ctx context.Context, cl *kgo.Client, adm *kadm.Client, iso kgo.IsolationLevel, p int32, off int64) ([]*kgo.Record, int64, error) {
	td, err := adm.ListTopics(ctx, c.cfg.Topic)
	if err != nil {
		return nil, off, err
	}
	t := td[c.cfg.Topic]
	pd, ok := t.Partitions[p]
	if t.Err != nil || !ok || pd.Leader < 0 {
		return nil, off, fmt.Errorf("no leader for partition %d: %v", p, t.Err)
	}
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 500, 1, 1<<20
	req.IsolationLevel = 0
	if iso == kgo.ReadCommitted() {
		req.IsolationLevel = 1
	}
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = c.cfg.Topic, t.ID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = p, off, 1<<20, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := req.RequestWith(fctx, cl.Broker(int(pd.Leader)))
	if err != nil {
		return nil, off, err
	}
	if resp.ErrorCode != 0 {
		return nil, off, kerr.ErrorForCode(resp.ErrorCode)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return nil, off, fmt.Errorf("fetch answered %d topics", len(resp.Topics))
	}
	fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Offset: off, IsolationLevel: iso, Topic: c.cfg.Topic, Partition: p},
		&resp.Topics[0].Partitions[0], kgo.DefaultDecompressor(), nil)
	if fp.Err != nil {
		return nil, off, fp.Err
	}
	return fp.Records, next, nil
}

// check compares the reads with the ledger.
func (c *Checker) check(rc, ru map[string][]read) (Counts, []error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n Counts
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	n.Recreated, n.LSOSamples = c.recreated, len(c.samples)
	known := map[string]bool{}
	for _, t := range c.txns {
		n.Records += len(t.parts)
		if t.abortErr {
			n.AbortFailed++
		}
		seen := 0
		for i, p := range t.parts {
			v := value(t.producer, t.n, i, len(t.parts))
			known[v] = true
			rcs, rus := rc[v], ru[v]
			if len(rcs) > 0 {
				seen++
			}
			if len(rcs) > 1 {
				bad("%s read %d times with read_committed: %v", v, len(rcs), rcs)
			}
			if len(rus) > 1 {
				bad("%s read %d times with read_uncommitted: %v", v, len(rus), rus)
			}
			for _, r := range append(slices.Clone(rcs), rus...) {
				if r.partition != p {
					bad("%s sent to partition %d, read from partition %d", v, p, r.partition)
				}
			}
			// An acknowledged record (acks=all, min.insync.replicas=2) stays at its offset,
			// whatever its transaction's outcome: read_uncommitted must find it there.
			if !t.acked.IsZero() && (len(rus) != 1 || rus[0].offset != t.offs[i]) {
				bad("%s acknowledged at %d-%d, read_uncommitted found it at %v", v, p, t.offs[i], rus)
			}
			if t.outcome == Committed && len(rcs) == 0 {
				bad("%s of a committed transaction not read with read_committed", v)
			}
			if t.outcome == Aborted && len(rcs) > 0 {
				bad("%s of an aborted transaction read with read_committed at %v", v, rcs)
			}
		}
		switch t.outcome {
		case Committed:
			n.Committed++
		case Aborted:
			n.Aborted++
		case Unknown:
			n.Unknown++
			if seen == len(t.parts) {
				n.UnknownCommitted++
			} else if seen > 0 {
				bad("producer %d txn %d (outcome unknown): read_committed read %d of its %d records: %s", t.producer, t.n, seen, len(t.parts), t.where(rc, ru))
			}
		}
		n.LSOChecks += c.checkLSO(t, bad)
	}
	for v, rs := range rc {
		n.ReadCommitted += len(rs)
		if !known[v] {
			bad("read_committed read %q, which no producer sent, at %v", v, rs)
		}
	}
	for v, rs := range ru {
		n.ReadUncommitted += len(rs)
		if !known[v] {
			bad("read_uncommitted read %q, which no producer sent, at %v", v, rs)
		}
	}
	for v, rs := range c.live {
		n.ReadLive += len(rs)
		for _, r := range rs {
			if len(rc[v]) != 1 || rc[v][0] != r {
				bad("the read_committed consumer read %q at %d-%d during the load; the final read_committed read found it at %v", v, r.partition, r.offset, rc[v])
			}
		}
	}
	checkOrder("read_committed", rc, bad)
	checkOrder("read_uncommitted", ru, bad)
	return n, errs
}

// checkLSO checks t against the LSO samples: a sample asked after every record of t was
// acknowledged and answered before t's producer asked to end it must not put the last stable
// offset past t's first offset in any of its partitions. A transaction that was not committed
// may have been aborted by the coordinator's timeout, so it is checked only by samples answered
// well within its timeout.
func (c *Checker) checkLSO(t *txn, bad func(string, ...any)) int {
	if t.acked.IsZero() {
		return 0
	}
	checks := 0
	for _, s := range c.samples {
		if !s.sent.After(t.acked) || (!t.end.IsZero() && !s.recv.Before(t.end)) {
			continue
		}
		if t.outcome != Committed && s.recv.Sub(t.begin) > c.cfg.TxnTimeout/2 {
			continue
		}
		for p, first := range t.first {
			lso, ok := s.lso[p]
			if !ok {
				continue
			}
			checks++
			if lso > first {
				bad("producer %d txn %d (%s) open at %d-%d, but the last stable offset sampled then was %d (leader epoch %d; asked %v after the records were acknowledged, answered %v before the end was asked, %v after BeginTransaction)",
					t.producer, t.n, t.outcome, p, first, lso, s.epoch[p], s.sent.Sub(t.acked), t.end.Sub(s.recv), s.recv.Sub(t.begin))
			}
		}
	}
	return checks
}

// checkOrder checks that within each partition, each producer's records were read in the order
// it sent them: by transaction, then by index within the transaction.
func checkOrder(level string, reads map[string][]read, bad func(string, ...any)) {
	type at struct {
		offset int64
		t, i   int
	}
	byPart := map[[2]int][]at{} // (partition, producer) → records
	for v, rs := range reads {
		k, t, i, _, ok := parse([]byte(v))
		if !ok {
			continue
		}
		for _, r := range rs {
			key := [2]int{int(r.partition), k}
			byPart[key] = append(byPart[key], at{r.offset, t, i})
		}
	}
	for key, as := range byPart {
		slices.SortFunc(as, func(a, b at) int { return int(a.offset - b.offset) })
		for j := 1; j < len(as); j++ {
			a, b := as[j-1], as[j]
			if b.t < a.t || (b.t == a.t && b.i <= a.i) {
				bad("%s: producer %d's records out of order in partition %d: txn %d record %d at %d, then txn %d record %d at %d",
					level, key[1], key[0], a.t, a.i, a.offset, b.t, b.i, b.offset)
			}
		}
	}
}

// where says, for a failure's evidence, where each record of t was acknowledged and read.
func (t *txn) where(rc, ru map[string][]read) string {
	var b strings.Builder
	for i, p := range t.parts {
		v := value(t.producer, t.n, i, len(t.parts))
		acked := "not acknowledged"
		if i < len(t.offs) {
			acked = fmt.Sprintf("acknowledged at %d", t.offs[i])
		}
		fmt.Fprintf(&b, "[record %d to partition %d, %s, read_committed at %v, read_uncommitted at %v] ", i, p, acked, rc[v], ru[v])
	}
	return strings.TrimSpace(b.String())
}
