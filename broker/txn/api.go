package txn

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka's internal topics: clients may not add them with AddPartitionsToTxn (AddOffsetsToTxn adds
// the group's __consumer_offsets partition).
const (
	offsetsTopic = "__consumer_offsets"
	stateTopic   = "__transaction_state"
)

// Start begins req (InitProducerId with a transactional id, AddPartitionsToTxn, AddOffsetsToTxn,
// EndTxn, DescribeTransactions or ListTransactions) at once and returns a function that waits for
// the answer, honouring ctx: the broker's handlers call Start synchronously and wait in the
// response future, so that a connection's requests take effect in the order they were read. It
// returns nil for other request types. The methods named after each API are Start and wait in
// one call.
func (c *Coordinator) Start(ctx context.Context, req kmsg.Request) func() kmsg.Response {
	switch r := req.(type) {
	case *kmsg.InitProducerIDRequest:
		return erase(c.startInitProducerID(ctx, r))
	case *kmsg.AddPartitionsToTxnRequest:
		return erase(c.startAddPartitionsToTxn(ctx, r))
	case *kmsg.AddOffsetsToTxnRequest:
		return erase(c.startAddOffsetsToTxn(ctx, r))
	case *kmsg.EndTxnRequest:
		return erase(c.startEndTxn(ctx, r))
	case *kmsg.DescribeTransactionsRequest:
		resp := c.DescribeTransactions(ctx, r)
		return func() kmsg.Response { return resp }
	case *kmsg.ListTransactionsRequest:
		resp := c.ListTransactions(ctx, r)
		return func() kmsg.Response { return resp }
	}
	return nil
}

// StartNow is Start, but an answer known before it returns (an EndTxn whose records and markers
// were all acknowledged at once, on one node, or refused) comes back as resp, with wait nil, so
// the broker can answer without a Future that waits (the connection's reader then writes it
// itself, without a hand-off to its writer). wait and resp are both nil for other request types.
func (c *Coordinator) StartNow(ctx context.Context, req kmsg.Request) (resp kmsg.Response, wait func() kmsg.Response) {
	switch r := req.(type) {
	case *kmsg.EndTxnRequest:
		now, w := c.startEndTxnNow(ctx, r)
		if w != nil {
			return nil, erase(w)
		}
		return now, nil
	case *kmsg.DescribeTransactionsRequest:
		return c.DescribeTransactions(ctx, r), nil
	case *kmsg.ListTransactionsRequest:
		return c.ListTransactions(ctx, r), nil
	}
	return nil, c.Start(ctx, req)
}

func erase[T kmsg.Response](wait func() T) func() kmsg.Response {
	return func() kmsg.Response { return wait() }
}

// oldFenced maps PRODUCER_FENCED to INVALID_PRODUCER_EPOCH for request versions older than since,
// whose clients do not know the newer code (Kafka's KafkaApis does the same).
func oldFenced(code int16, version, since int16) int16 {
	if version < since && code == kerr.ProducerFenced.Code {
		return kerr.InvalidProducerEpoch.Code
	}
	return code
}

// InitProducerID handles InitProducerId v0-v5 for a transactional id (without one, a producer
// needs no coordinator: the broker answers it; here it is INVALID_REQUEST).
func (c *Coordinator) InitProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest) *kmsg.InitProducerIDResponse {
	return c.startInitProducerID(ctx, req)()
}

func (c *Coordinator) startInitProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest) func() *kmsg.InitProducerIDResponse {
	answer := func(r result) *kmsg.InitProducerIDResponse {
		resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
		resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = oldFenced(r.code, req.Version, 4), r.producerID, r.epoch
		if r.code != 0 {
			resp.ProducerID, resp.ProducerEpoch = noProducerID, noEpoch
		}
		return resp
	}
	done := func(code int16) func() *kmsg.InitProducerIDResponse {
		resp := answer(fail(code))
		return func() *kmsg.InitProducerIDResponse { return resp }
	}
	var expected *producerIDEpoch
	if req.Version >= 3 {
		switch {
		case req.ProducerID == noProducerID && req.ProducerEpoch == noEpoch:
		case req.ProducerID == noProducerID || req.ProducerEpoch == noEpoch:
			return done(kerr.InvalidRequest.Code)
		default:
			expected = &producerIDEpoch{req.ProducerID, req.ProducerEpoch}
		}
	}
	switch {
	case req.TransactionalID == nil || *req.TransactionalID == "":
		return done(kerr.InvalidRequest.Code)
	case req.TransactionTimeoutMillis <= 0 || int64(req.TransactionTimeoutMillis) > c.cfg.MaxTimeout.Milliseconds():
		return done(kerr.InvalidTransactionTimeout.Code)
	}
	id, timeout := *req.TransactionalID, req.TransactionTimeoutMillis
	ch, needID := c.tryInit(id, timeout, expected, noProducerID)
	return func() *kmsg.InitProducerIDResponse {
		// A new transactional id, or an exhausted epoch, needs a new producer id: allocate it
		// without the lock and try again (Kafka allocates it before taking the metadata lock).
		for try := 0; needID; try++ {
			if try == 3 {
				return answer(fail(kerr.ConcurrentTransactions.Code))
			}
			pid, err := c.pids.NextProducerID(ctx)
			if err != nil {
				return answer(fail(errorCode(err)))
			}
			ch, needID = c.tryInit(id, timeout, expected, pid)
		}
		return answer(wait(ctx, ch))
	}
}

// tryInit runs InitProducerId on id's machine, creating it with producer id fresh if it is new.
// It reports needID when a fresh producer id is needed and was not given.
func (c *Coordinator) tryInit(id string, timeoutMs int32, expected *producerIDEpoch, fresh int64) (<-chan result, bool) {
	ch := make(chan result, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ps, code := c.routeLocked(id)
	if code != 0 {
		ch <- fail(code)
		return ch, false
	}
	now := c.cfg.Now()
	if e == nil {
		if fresh < 0 {
			return nil, true
		}
		e = &entry{t: newTxn(id, c.lim, ps.epoch, fresh, timeoutMs, now), part: ps, waiters: map[waiter]chan result{}}
		c.txns[id] = e
		fresh = noProducerID
	}
	c.nextWaiter++
	w := c.nextWaiter
	e.waiters[w] = ch
	need := false
	c.stepLocked(e, now, func(t *txn, now time.Time) { need = t.initProducerID(now, w, timeoutMs, expected, fresh) })
	if need {
		delete(e.waiters, w)
		return nil, true
	}
	return ch, false
}

// AddPartitionsToTxn handles AddPartitionsToTxn v0-v3 (a client adding partitions to its
// transaction) and v4-v5 (a batch of transactions from a broker; VerifyOnly asks whether the
// partitions are already in them, KIP-890 part 1; without it they are added, for a client of
// transaction version 2, KIP-890 part 2).
func (c *Coordinator) AddPartitionsToTxn(ctx context.Context, req *kmsg.AddPartitionsToTxnRequest) *kmsg.AddPartitionsToTxnResponse {
	return c.startAddPartitionsToTxn(ctx, req)()
}

func (c *Coordinator) startAddPartitionsToTxn(ctx context.Context, req *kmsg.AddPartitionsToTxnRequest) func() *kmsg.AddPartitionsToTxnResponse {
	txns := req.Transactions
	if req.Version < 4 { // one transaction, Kafka's normalizeRequest
		t := kmsg.NewAddPartitionsToTxnRequestTransaction()
		t.TransactionalID, t.ProducerID, t.ProducerEpoch = req.TransactionalID, req.ProducerID, req.ProducerEpoch
		for _, rt := range req.Topics {
			t.Topics = append(t.Topics, kmsg.AddPartitionsToTxnRequestTransactionTopic{Topic: rt.Topic, Partitions: rt.Partitions})
		}
		txns = []kmsg.AddPartitionsToTxnRequestTransaction{t}
	}
	waits := make([]func() kmsg.AddPartitionsToTxnResponseTransaction, len(txns))
	for i, t := range txns {
		waits[i] = c.startAddOne(ctx, 0, req.Version, t)
	}
	return func() *kmsg.AddPartitionsToTxnResponse {
		resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
		for _, wait := range waits {
			resp.Transactions = append(resp.Transactions, wait())
		}
		if req.Version < 4 {
			for _, rt := range resp.Transactions[0].Topics {
				t := kmsg.NewAddPartitionsToTxnResponseTopic()
				t.Topic = rt.Topic
				for _, p := range rt.Partitions {
					t.Partitions = append(t.Partitions, kmsg.AddPartitionsToTxnResponseTopicPartition{Partition: p.Partition, ErrorCode: p.ErrorCode})
				}
				resp.Topics = append(resp.Topics, t)
			}
			resp.Transactions = nil
		}
		return resp
	}
}

// startAddOne starts one transaction of an AddPartitionsToTxn request (Kafka's KafkaApis
// handleAddPartitionsToTxnRequest for one transactional id). A wait for the answer ends with ctx,
// or after within if that is not 0.
func (c *Coordinator) startAddOne(ctx context.Context, within time.Duration, version int16, t kmsg.AddPartitionsToTxnRequestTransaction) func() kmsg.AddPartitionsToTxnResponseTransaction {
	var parts []TopicPartition
	seen := map[TopicPartition]bool{}
	for _, rt := range t.Topics {
		for _, p := range rt.Partitions {
			if tp := (TopicPartition{rt.Topic, p}); !seen[tp] {
				seen[tp] = true
				parts = append(parts, tp)
			}
		}
	}
	answer := func(codes func(TopicPartition) int16) func() kmsg.AddPartitionsToTxnResponseTransaction {
		return func() kmsg.AddPartitionsToTxnResponseTransaction {
			return txnResult(t.TransactionalID, parts, codes)
		}
	}
	same := func(code int16) func(TopicPartition) int16 { return func(TopicPartition) int16 { return code } }

	switch refused := c.refused(version, parts); {
	case refused != nil:
		return answer(refused)
	case t.TransactionalID == "":
		return answer(same(kerr.InvalidRequest.Code))
	case t.VerifyOnly:
		codes := c.verify(t.TransactionalID, t.ProducerID, t.ProducerEpoch, parts)
		return answer(func(tp TopicPartition) int16 { return codes[tp] })
	}
	// v0-v3 come from clients of transaction version 0/1; v4+ without VerifyOnly from a partition
	// leader adding the partitions of a Produce v12 or TxnOffsetCommit v5 (version 2).
	tv := int16(0)
	if version >= 4 {
		tv = 2
	}
	ch := c.call(t.TransactionalID, func(tx *txn, now time.Time, w waiter) {
		tx.addPartitionsVersion(now, w, t.ProducerID, t.ProducerEpoch, parts, tv)
	})
	return func() kmsg.AddPartitionsToTxnResponseTransaction {
		code := oldFenced(waitWithin(ctx, within, ch).code, version, 2)
		return txnResult(t.TransactionalID, parts, same(code))
	}
}

// refused checks parts before they are added: nil if none is refused, else each partition's
// code (any partition refused fails the whole addition: the others are OPERATION_NOT_ATTEMPTED).
func (c *Coordinator) refused(version int16, parts []TopicPartition) func(TopicPartition) int16 {
	var refused map[TopicPartition]int16
	for _, tp := range parts {
		code := int16(0)
		switch {
		case version < 4 && (tp.Topic == offsetsTopic || tp.Topic == stateTopic):
			code = kerr.TopicAuthorizationFailed.Code
		case c.cfg.TopicExists != nil && !c.cfg.TopicExists(tp.Topic, tp.Partition):
			code = kerr.UnknownTopicOrPartition.Code
		}
		if code != 0 {
			if refused == nil {
				refused = map[TopicPartition]int16{}
			}
			refused[tp] = code
		}
	}
	if refused == nil {
		return nil
	}
	return func(tp TopicPartition) int16 {
		if code, ok := refused[tp]; ok {
			return code
		}
		return kerr.OperationNotAttempted.Code
	}
}

func txnResult(id string, parts []TopicPartition, code func(TopicPartition) int16) kmsg.AddPartitionsToTxnResponseTransaction {
	r := kmsg.NewAddPartitionsToTxnResponseTransaction()
	r.TransactionalID = id
	for _, tp := range parts {
		if n := len(r.Topics); n == 0 || r.Topics[n-1].Topic != tp.Topic {
			rt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
			rt.Topic = tp.Topic
			r.Topics = append(r.Topics, rt)
		}
		rt := &r.Topics[len(r.Topics)-1]
		rt.Partitions = append(rt.Partitions, kmsg.AddPartitionsToTxnResponseTransactionTopicPartition{Partition: tp.Partition, ErrorCode: code(tp)})
	}
	return r
}

// Verify is AddPartitionsToTxn v4's VerifyOnly for one transaction, for a partition leader on
// this node that need not go through the network (Kafka's AddPartitionsToTxnManager asks the
// coordinator before appending a transactional batch whose producer has no open transaction on
// the partition, KIP-890 part 1): 0 for a partition in the ongoing transaction,
// INVALID_TXN_STATE for one that is not, else the reason for every partition
// (INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED, CONCURRENT_TRANSACTIONS, NOT_COORDINATOR,
// COORDINATOR_LOAD_IN_PROGRESS).
func (c *Coordinator) Verify(transactionalID string, producerID int64, epoch int16, parts []TopicPartition) map[TopicPartition]int16 {
	if transactionalID == "" {
		codes := make(map[TopicPartition]int16, len(parts))
		for _, tp := range parts {
			codes[tp] = kerr.InvalidRequest.Code
		}
		return codes
	}
	return c.verify(transactionalID, producerID, epoch, parts)
}

// verify answers a VerifyOnly transaction: a routing error or a missing id for every partition,
// else the machine's answer.
func (c *Coordinator) verify(id string, producerID int64, epoch int16, parts []TopicPartition) map[TopicPartition]int16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, _, code := c.routeLocked(id)
	if code == 0 && e != nil {
		return e.t.verify(producerID, epoch, parts)
	}
	if code == 0 {
		code = kerr.InvalidProducerIDMapping.Code
	}
	codes := make(map[TopicPartition]int16, len(parts))
	for _, tp := range parts {
		codes[tp] = code
	}
	return codes
}

// AddOffsetsToTxn handles AddOffsetsToTxn v0-v4: the group's __consumer_offsets partition joins
// the transaction, so that its TxnOffsetCommit is committed or aborted with it.
func (c *Coordinator) AddOffsetsToTxn(ctx context.Context, req *kmsg.AddOffsetsToTxnRequest) *kmsg.AddOffsetsToTxnResponse {
	return c.startAddOffsetsToTxn(ctx, req)()
}

func (c *Coordinator) startAddOffsetsToTxn(ctx context.Context, req *kmsg.AddOffsetsToTxnRequest) func() *kmsg.AddOffsetsToTxnResponse {
	answer := func(code int16) *kmsg.AddOffsetsToTxnResponse {
		resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
		resp.ErrorCode = oldFenced(code, req.Version, 2)
		return resp
	}
	if req.TransactionalID == "" {
		resp := answer(kerr.InvalidRequest.Code)
		return func() *kmsg.AddOffsetsToTxnResponse { return resp }
	}
	tp := TopicPartition{offsetsTopic, PartitionFor(req.Group, c.cfg.offsetsPartitionCount())}
	ch := c.call(req.TransactionalID, func(t *txn, now time.Time, w waiter) {
		t.addPartitionsVersion(now, w, req.ProducerID, req.ProducerEpoch, []TopicPartition{tp}, tvKeep)
	})
	return func() *kmsg.AddOffsetsToTxnResponse { return answer(wait(ctx, ch).code) }
}

// EndTxn handles EndTxn v0-v5: it answers once the PrepareCommit or PrepareAbort record is
// durable and the markers are written (up to Config.EndTxnHold); the Complete record follows. v5
// (transaction version 2) bumps the epoch and answers the producer id and epoch of the next
// transaction.
func (c *Coordinator) EndTxn(ctx context.Context, req *kmsg.EndTxnRequest) *kmsg.EndTxnResponse {
	return c.startEndTxn(ctx, req)()
}

func (c *Coordinator) startEndTxn(ctx context.Context, req *kmsg.EndTxnRequest) func() *kmsg.EndTxnResponse {
	now, wait := c.startEndTxnNow(ctx, req)
	if wait == nil {
		return func() *kmsg.EndTxnResponse { return now }
	}
	return wait
}

// startEndTxnNow starts req and returns its answer if it is known already, else a wait for it.
func (c *Coordinator) startEndTxnNow(ctx context.Context, req *kmsg.EndTxnRequest) (*kmsg.EndTxnResponse, func() *kmsg.EndTxnResponse) {
	answer := func(r result) *kmsg.EndTxnResponse {
		resp := req.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode = oldFenced(r.code, req.Version, 2)
		resp.ProducerID, resp.ProducerEpoch = noProducerID, noEpoch
		if r.code == 0 {
			resp.ProducerID, resp.ProducerEpoch = r.producerID, r.epoch
		}
		return resp
	}
	if req.TransactionalID == "" {
		return answer(fail(kerr.InvalidRequest.Code)), nil
	}
	// v5 is transaction version 2 (KIP-890 part 2): the end bumps the epoch, and one that
	// exhausts it takes a new producer id, allocated here, before the machine runs (Kafka
	// allocates it in endTransaction before the metadata lock). That happens once in 32767
	// transactions of a producer; the id is wasted if the end turns out not to need it.
	tv2 := req.Version >= 5
	fresh := noProducerID
	if tv2 && c.needsFreshID(req.TransactionalID, req.ProducerID, req.ProducerEpoch) {
		pid, err := c.pids.NextProducerID(ctx)
		if err != nil {
			return answer(fail(errorCode(err))), nil
		}
		fresh = pid
	}
	ch := c.call(req.TransactionalID, func(t *txn, now time.Time, w waiter) {
		t.endTxnVersion(now, w, req.ProducerID, req.ProducerEpoch, req.Commit, tv2, fresh)
	})
	select {
	case r := <-ch:
		return answer(r), nil
	default:
		return nil, func() *kmsg.EndTxnResponse { return answer(wait(ctx, ch)) }
	}
}

// DescribeTransactions handles DescribeTransactions v0 from the coordinator's state.
func (c *Coordinator) DescribeTransactions(_ context.Context, req *kmsg.DescribeTransactionsRequest) *kmsg.DescribeTransactionsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range req.TransactionalIDs {
		d := kmsg.NewDescribeTransactionsResponseTransactionState()
		d.TransactionalID, d.ProducerID, d.ProducerEpoch = id, noProducerID, noEpoch
		e, _, code := c.routeLocked(id)
		switch {
		case code != 0:
			d.ErrorCode = code
		case id == "":
			d.ErrorCode = kerr.InvalidRequest.Code
		case e == nil || e.t.state == stateDead:
			d.ErrorCode = kerr.TransactionalIDNotFound.Code
		default:
			t := e.t
			d.State, d.TimeoutMillis, d.StartTimestamp = t.state.String(), t.timeoutMs, t.startMs
			d.ProducerID, d.ProducerEpoch = t.producerID, t.epoch
			for _, tp := range sortedParts(t.parts) {
				if n := len(d.Topics); n == 0 || d.Topics[n-1].Topic != tp.Topic {
					dt := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
					dt.Topic = tp.Topic
					d.Topics = append(d.Topics, dt)
				}
				dt := &d.Topics[len(d.Topics)-1]
				dt.Partitions = append(dt.Partitions, tp.Partition)
			}
		}
		resp.TransactionStates = append(resp.TransactionStates, d)
	}
	return resp
}

// ListTransactions handles ListTransactions v0-v1: the transactional ids of the partitions this
// coordinator leads, filtered by state, producer id and (v1) how long the transaction has run.
// While a partition loads the answer is COORDINATOR_LOAD_IN_PROGRESS.
func (c *Coordinator) ListTransactions(_ context.Context, req *kmsg.ListTransactionsRequest) *kmsg.ListTransactionsResponse {
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	for _, ps := range c.parts {
		if ps.loading {
			resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
			return resp
		}
	}
	states := map[state]bool{}
	for _, name := range req.StateFilters {
		if s, ok := stateFromName(name); ok {
			states[s] = true
		} else {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, name)
		}
	}
	duration := int64(-1)
	if req.Version >= 1 {
		duration = req.DurationFilterMillis
	}
	nowMs := c.cfg.Now().UnixMilli()
	for id, e := range c.txns {
		t := e.t
		switch {
		case t.state == stateDead:
		case len(req.ProducerIDFilters) > 0 && !slices.Contains(req.ProducerIDFilters, t.producerID):
		case len(req.StateFilters) > 0 && !states[t.state]:
		case duration >= 0 && nowMs-t.startMs <= duration:
		default:
			s := kmsg.NewListTransactionsResponseTransactionState()
			s.TransactionalID, s.ProducerID, s.TransactionState = id, t.producerID, t.state.String()
			resp.TransactionStates = append(resp.TransactionStates, s)
		}
	}
	slices.SortFunc(resp.TransactionStates, func(a, b kmsg.ListTransactionsResponseTransactionState) int {
		return strings.Compare(a.TransactionalID, b.TransactionalID)
	})
	return resp
}
