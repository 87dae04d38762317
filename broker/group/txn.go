package group

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Transactional offset commits (KIP-98, KIP-447): a TxnOffsetCommit writes its offsets to
// __consumer_offsets as a transactional batch of the producer, and the group holds them pending
// by producer id until the transaction coordinator's marker for that producer is written to the
// group's partition: a commit marker makes them the group's offsets, an abort marker drops them.
// Meanwhile OffsetFetch answers the last committed offsets, or UNSTABLE_OFFSET_COMMIT with
// RequireStable.

// TxnOffsetCommit handles TxnOffsetCommit v0-v3. It answers once the offsets are durable; they
// stay pending until CompleteTxn.
func (c *Coordinator) TxnOffsetCommit(ctx context.Context, req *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse {
	return c.startTxnOffsetCommit(ctx, req)()
}

func (c *Coordinator) startTxnOffsetCommit(ctx context.Context, req *kmsg.TxnOffsetCommitRequest) func() *kmsg.TxnOffsetCommitResponse {
	st := newTxnCommitState(req, c.lim, c.cfg.Now())
	fail := func(code int16) *kmsg.TxnOffsetCommitResponse {
		if req.Version < 2 && code == kerr.CoordinatorLoadInProgress.Code {
			// Kafka's KafkaApis: producers before 2.0 (KAFKA-7296) do not retry LOAD_IN_PROGRESS here.
			code = kerr.CoordinatorNotAvailable.Code
		}
		return st.txnGroupError(code)
	}
	if !st.known() { // Kafka answers without the coordinator when no partition exists
		r := st.txnResponse(0)
		return func() *kmsg.TxnOffsetCommitResponse { return r }
	}
	var code int16
	switch {
	case req.ProducerID < 0:
		// Kafka 3.4 would store these offsets as a regular commit (it tells the two apart by
		// the producer id alone); a transactional request without a producer is bad input.
		code = kerr.InvalidProducerIDMapping.Code
	case req.ProducerEpoch < 0:
		code = kerr.InvalidProducerEpoch.Code
	}
	if code != 0 {
		return await(ctx, c, nil, code, fail)
	}
	txn := &Producer{ID: req.ProducerID, Epoch: req.ProducerEpoch}
	c.mu.Lock()
	// Kafka creates a missing group for any TxnOffsetCommit; one with a generation or member id
	// then fails validation (UNKNOWN_MEMBER_ID), so only a generation -1 commit creates it here.
	cl, code := c.dispatchLocked(req.Group, false, func() bool { return req.Generation < 0 }, req.Version,
		func(g *group, now time.Time, w waiter) { g.txnCommitOffsets(now, w, req, txn) })
	if cl != nil {
		c.addTxnGroupLocked(txn.ID, req.Group, cl.a.part.id)
	}
	c.mu.Unlock()
	if code == 0 && cl == nil { // a member of a group that does not exist
		code = kerr.UnknownMemberID.Code
	}
	return await(ctx, c, cl, code, fail)
}

// CompleteTxn tells the coordinator that a transaction marker of producerID (commit or abort) is
// durable in __consumer_offsets partition `partition`, which this broker leads (Kafka's
// GroupCoordinator.scheduleHandleTxnCompletion, called by the WriteTxnMarkers handler once the
// marker is in the ISR). The pending offsets of the producer in that partition's groups become
// their committed offsets (commit) or are dropped (abort). It returns at once; a request to one
// of those groups made after it returns sees the outcome. While the partition is loading, the
// marker is applied once it is loaded (the replay may or may not have read it: applying it again
// finds nothing pending). A partition this broker does not lead is ignored: its new leader reads
// the marker from the log.
func (c *Coordinator) CompleteTxn(partition int32, producerID int64, commit bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps := c.parts[partition]
	switch {
	case c.closed || ps == nil:
	case ps.loading:
		ps.markers = append(ps.markers, txnMarker{producerID, commit})
	default:
		c.completeLocked(ps, producerID, commit)
	}
}

// txnOffset is a producer's pending offset of one partition: the last of its commits that is
// durable, and how many are being written. Kafka keeps the last commit asked for and drops it if
// its write fails, which also drops the durable one it replaced: a fenced producer's failed
// TxnOffsetCommit (INVALID_PRODUCER_EPOCH, same producer id) would wipe the live producer's
// offset. Here a failed write changes nothing, and writes complete in order, so the durable entry
// is always the latest durable commit.
type txnOffset struct {
	e       offsetEntry // with its log offset, if durable
	durable bool
	writing int
}

// txnMarker is a transaction marker that reached a partition while it was loading.
type txnMarker struct {
	producerID int64
	commit     bool
}

// completeLocked applies a marker to the groups of ps that hold offsets of the producer. It must
// be called with c.mu held.
func (c *Coordinator) completeLocked(ps *partState, producerID int64, commit bool) {
	groups := c.txnGroups[producerID]
	for id, p := range groups {
		if p != ps.id {
			continue
		}
		delete(groups, id)
		if a := c.groups[id]; a != nil && a.part == ps {
			a.post(func(g *group, now time.Time) { g.completeTxn(now, producerID, commit) })
		}
	}
	if len(groups) == 0 {
		delete(c.txnGroups, producerID)
	}
}

// addTxnGroupLocked records that group (of __consumer_offsets partition p) may hold offsets of
// the producer, so that its marker finds the group (Kafka's openGroupsForProducer). It must be
// called with c.mu held.
func (c *Coordinator) addTxnGroupLocked(producerID int64, group string, p int32) {
	groups := c.txnGroups[producerID]
	if groups == nil {
		groups = map[string]int32{}
		c.txnGroups[producerID] = groups
	}
	groups[group] = p
}

// dropTxnGroupsLocked forgets the producers' groups of partition p (resigned). It must be called
// with c.mu held.
func (c *Coordinator) dropTxnGroupsLocked(p int32) {
	for pid, groups := range c.txnGroups {
		for id, gp := range groups {
			if gp == p {
				delete(groups, id)
			}
		}
		if len(groups) == 0 {
			delete(c.txnGroups, pid)
		}
	}
}

// txnCommitOffsets handles a TxnOffsetCommit (Kafka's doTxnCommitOffsets and the transactional
// half of storeOffsets): validated as an OffsetCommit except that the group's state does not
// matter and no heartbeat is counted; the offsets are pending from now on (OffsetFetch with
// RequireStable answers UNSTABLE_OFFSET_COMMIT for them) and answered once durable.
func (g *group) txnCommitOffsets(now time.Time, w waiter, req *kmsg.TxnOffsetCommitRequest, txn *Producer) {
	g.now = now
	st := newTxnCommitState(req, g.lim, now)
	if c := g.validateOffsetCommit(req.Generation, req.MemberID, req.InstanceID, true); c != 0 {
		g.respond(w, st.txnGroupError(c))
		return
	}
	if len(st.items) == 0 {
		g.respond(w, st.txnResponse(0))
		return
	}
	offs := g.pendingTxn[txn.ID]
	if offs == nil {
		offs = map[topicPartition]*txnOffset{}
		g.pendingTxn[txn.ID] = offs
	}
	recs := make([]Record, 0, len(st.items))
	for _, it := range st.items {
		to := offs[it.tp]
		if to == nil {
			to = &txnOffset{}
			offs[it.tp] = to
		}
		to.writing++
		recs = append(recs, Record{Key: offsetCommitKey(g.id, it.tp), Value: offsetCommitValue(it.e)})
	}
	g.emitTxn(recs, txn, &appendCont{kind: appendTxnCommit, w: w, commit: st, producer: txn.ID})
}

// onTxnCommitStored is Kafka's onTxnOffsetCommitAppend / failPendingTxnOffsetCommit: a durable
// offset becomes the producer's pending offset of its partition, with its log offset (which
// orders it against regular commits when its marker comes); a failed one changes nothing (see
// txnOffset). A partition whose pending offsets were removed meanwhile (deleted, or its
// transaction ended) is left alone.
func (g *group) onTxnCommitStored(c *appendCont, offset int64, err error) {
	st := c.commit
	if offs := g.pendingTxn[c.producer]; offs != nil && !g.is(stateDead) {
		for _, it := range st.items {
			to := offs[it.tp]
			if to == nil {
				continue
			}
			to.writing = max(0, to.writing-1)
			if err == nil {
				to.e, to.durable = it.e, true
				to.e.logOffset = offset
			}
			if to.writing == 0 && !to.durable {
				delete(offs, it.tp)
			}
		}
		if len(offs) == 0 {
			delete(g.pendingTxn, c.producer)
		}
	}
	g.respond(c.w, st.txnResponse(storeOffsetsError(err)))
}

// completeTxn applies the producer's transaction marker (Kafka's completePendingTxnOffsetCommit):
// on commit each pending offset becomes current unless the partition's current offset is later
// in the log (a regular commit after the transactional one wins, as it does when the log is
// replayed); on abort they are dropped. Only durable offsets are applied: a commit still being
// written when its marker comes (the marker overtaking the TxnOffsetCommit's own write, which
// Kafka treats as an illegal state) is dropped.
func (g *group) completeTxn(now time.Time, producerID int64, commit bool) {
	g.now = now
	offs, ok := g.pendingTxn[producerID]
	if !ok {
		return
	}
	delete(g.pendingTxn, producerID)
	if !commit || g.is(stateDead) {
		return
	}
	for tp, to := range offs {
		if !to.durable {
			continue
		}
		if cur, ok := g.offsets[tp]; !ok || cur.logOffset < to.e.logOffset {
			g.offsets[tp] = to.e
		}
	}
}
