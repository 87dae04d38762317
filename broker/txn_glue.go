package broker

import (
	"context"
	"fmt"
	"maps"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/group"
	"github.com/minikraft/minikraft/broker/txn"
	"github.com/minikraft/minikraft/log"
	"github.com/minikraft/minikraft/raftmeta"
	"github.com/minikraft/minikraft/wire"
)

// txnCoordinator is the transaction coordinator's glue: the coordinator (broker/txn) given a
// Store over the local __transaction_state leaders, the broker's producer id blocks, and a
// MarkerWriter that sends WriteTxnMarkers to the partitions' leaders.
type txnCoordinator struct {
	b *Broker
	c *txn.Coordinator
	// led are the __transaction_state partitions this node coordinates, with the leader epoch
	// they were loaded at (the coordinator epoch); only syncTxn uses it, under the replica
	// manager's apply lock.
	led   map[int32]int32
	retry atomic.Bool  // a retry of a failed load is pending
	conns controlConns // idle connections to the brokers' inter-broker listeners
}

func (b *Broker) newTxnCoordinator() *txnCoordinator {
	t := &txnCoordinator{b: b, led: map[int32]int32{}}
	bc := &b.cfg.Broker
	t.c = txn.NewCoordinator(txn.Config{
		NumPartitions:     bc.TransactionStateLogPartitions,
		MaxTimeout:        bc.TransactionMaxTimeout,
		IDExpiration:      bc.TransactionalIDExpiration,
		OffsetsPartitions: bc.OffsetsTopicPartitions,
		// Records are written as value v1 from transaction.version 1 on, as Kafka does.
		TransactionVersion: bc.TransactionVersion,
		PartitionCount: func() int {
			if tp := b.meta.State().Topics[transactionTopic]; tp != nil {
				return len(tp.Partitions)
			}
			return 0
		},
		OffsetsPartitionCount: b.offsetsPartitionCount,
		TopicExists: func(topic string, p int32) bool {
			tp := b.meta.State().Topics[topic]
			return tp != nil && p >= 0 && int(p) < len(tp.Partitions)
		},
		Leads: func(p int32) bool {
			tp := b.meta.State().Topics[transactionTopic]
			return tp != nil && p >= 0 && int(p) < len(tp.Partitions) && tp.Partitions[p].Leader == bc.NodeID
		},
		Logger: b.log.With("component", "txn"),
	}, txnStore{b}, txnProducerIDs{b}, t)
	return t
}

func (t *txnCoordinator) close() {
	t.c.Close()
	t.conns.close()
}

// txnAPI serves the transaction coordinator's requests: begun before the handler returns, as
// groupAPI does, answered in the response future.
// With an authorizer, authorizeTxnRequest (txn_authz.go) answers a denied request itself or
// filters the answer.
func txnAPI(b *Broker, ctx context.Context, r *wire.Request) wire.Future {
	var post func(kmsg.Response)
	if az := b.checkerFor(r); az.enabled() {
		var early kmsg.Response
		if early, post = authorizeTxnRequest(az, r.Msg); early != nil {
			return wire.Done(early, nil)
		}
	}
	resp, wait := b.txns.c.StartNow(ctx, r.Msg)
	if resp != nil {
		// Answered already (one node: the commit's records and markers are all written): a
		// Done Future, which the connection's reader writes without waking its writer.
		if post != nil {
			post(resp)
		}
		return wire.Done(resp, nil)
	}
	if wait == nil {
		panic(fmt.Sprintf("broker: %s is not a transaction request", kmsg.NameForKey(r.Key)))
	}
	return func() (kmsg.Response, error) {
		resp := wait()
		if post != nil {
			post(resp)
		}
		return resp, nil
	}
}

// syncTxn tells the coordinator which __transaction_state partitions this node now leads, and at
// which leader epoch: it loads a partition it gained (or regained at a new epoch: a new
// coordinator epoch) and drops one it lost. Called with syncGroupCoordinator, under the replica
// manager's apply lock.
func (t *txnCoordinator) sync(st *raftmeta.State) {
	tp := st.Topics[transactionTopic]
	self := t.b.cfg.Broker.NodeID
	lead := map[int32]int32{}
	if tp != nil {
		for _, p := range tp.Partitions {
			if p.Leader == self {
				lead[p.ID] = p.LeaderEpoch
			}
		}
	}
	for p := range t.led {
		if _, ok := lead[p]; !ok {
			t.c.Resigned(p)
			delete(t.led, p)
		}
	}
	retry := false
	for p, epoch := range lead {
		if e, ok := t.led[p]; ok && e == epoch {
			continue
		}
		if err := t.c.Elected(t.b.ctx, p, epoch); err != nil {
			retry = true
			delete(t.led, p)
			continue
		}
		t.led[p] = epoch
	}
	if retry && t.b.ctx.Err() == nil && t.retry.CompareAndSwap(false, true) {
		t.b.goBackground(func() {
			timer := time.NewTimer(groupLoadRetry)
			defer timer.Stop()
			select {
			case <-timer.C:
			case <-t.b.ctx.Done():
			}
			t.retry.Store(false)
			if t.b.ctx.Err() == nil {
				t.b.applyMetadata(t.b.meta.State())
			}
		})
	}
}

// ensureTxnTopic creates __transaction_state on first use, as Kafka does when the first
// FindCoordinator for a transactional id arrives.
func (b *Broker) ensureTxnTopic(ctx context.Context) (*raftmeta.Topic, error) {
	if t := b.meta.State().Topics[transactionTopic]; t != nil {
		return t, nil
	}
	t, err := b.createInternalTopic(ctx, transactionTopic)
	if err != nil && errorCode(err) != kerr.TopicAlreadyExists.Code {
		return nil, err
	}
	b.applyMetadata(b.meta.State())
	if t == nil {
		t = b.meta.State().Topics[transactionTopic]
	}
	return t, nil
}

// txnStore implements txn.Store with the local __transaction_state leaders (acks=all, as Kafka's
// TransactionLog requires).
type txnStore struct{ b *Broker }

func (s txnStore) Append(ctx context.Context, part int32, recs []txn.Record) error {
	kvs := make([]log.KeyValue, len(recs))
	for i, r := range recs {
		kvs[i] = log.KeyValue{Key: r.Key, Value: r.Value}
	}
	_, err := s.b.appendInternal(ctx, transactionTopic, part, kvs)
	return err
}

// StartAppend is Append without the wait when the records are acknowledged at once (a leader
// that is its whole ISR: one node): the coordinator then answers without a goroutine hand-off.
func (s txnStore) StartAppend(ctx context.Context, part int32, recs []txn.Record) (func(context.Context) error, error) {
	p, err := s.b.internalLeader(ctx, transactionTopic, part)
	if err != nil {
		return nil, err
	}
	kvs := make([]log.KeyValue, len(recs))
	for i, r := range recs {
		kvs[i] = log.KeyValue{Key: r.Key, Value: r.Value}
	}
	batch := log.EncodeBatch(kvs, time.Now().UnixMilli())
	hdrs, err := log.ValidateBatches(batch, len(batch), nil)
	if err != nil {
		return nil, fmt.Errorf("broker: encoding %s records: %w", transactionTopic, err)
	}
	info, err := p.AppendAsLeader(batch, hdrs, -1)
	if err != nil {
		return nil, storeError(ctx, err)
	}
	if done, err := p.Acked(info.LeaderEpoch, info.LastOffset); done {
		return nil, storeError(ctx, err)
	}
	return func(ctx context.Context) error {
		return storeError(ctx, p.WaitForAck(ctx, info.LeaderEpoch, info.LastOffset))
	}, nil
}

func (s txnStore) Replay(ctx context.Context, part int32, fn func(txn.Record) error) error {
	return s.b.replayInternal(ctx, transactionTopic, part, func(r group.Record) error {
		if r.Control {
			return nil // transaction markers never go to __transaction_state
		}
		return fn(txn.Record{Key: r.Key, Value: r.Value})
	})
}

// txnProducerIDs gives the coordinator producer ids from the broker's blocks.
type txnProducerIDs struct{ b *Broker }

func (p txnProducerIDs) NextProducerID(ctx context.Context) (int64, error) { return p.b.pids.next(ctx) }

// WriteMarkers sends one WriteTxnMarkers request to each leader of m's partitions, in parallel,
// as Kafka's TransactionMarkerChannelManager does, and gathers their per-partition codes. A
// partition whose topic is gone counts as written (Kafka skips partitions without a leader
// endpoint: they were deleted); one without a leader, or whose leader did not answer, is left
// out, so the coordinator retries it.
func (t *txnCoordinator) WriteMarkers(ctx context.Context, m txn.Markers) map[txn.TopicPartition]int16 {
	st := t.b.meta.State()
	codes := make(map[txn.TopicPartition]int16, len(m.Partitions))
	byLeader := map[int32][]txn.TopicPartition{}
	for _, tp := range m.Partitions {
		topic := st.Topics[tp.Topic]
		if topic == nil || tp.Partition < 0 || int(tp.Partition) >= len(topic.Partitions) {
			codes[tp] = 0
			continue
		}
		if leader := topic.Partitions[tp.Partition].Leader; leader >= 0 {
			byLeader[leader] = append(byLeader[leader], tp)
		}
	}
	if len(byLeader) == 1 { // one leader (one node, or a transaction on one broker): no goroutine
		for leader, parts := range byLeader {
			maps.Copy(codes, t.writeTo(ctx, st, leader, m, parts))
		}
		return codes
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for leader, parts := range byLeader {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := t.writeTo(ctx, st, leader, m, parts)
			mu.Lock()
			defer mu.Unlock()
			for tp, code := range got {
				codes[tp] = code
			}
		}()
	}
	wg.Wait()
	return codes
}

// WritesAtOnce reports whether WriteMarkers of m writes every marker on this node and is
// answered without waiting on another (each partition led here, alone in its ISR): the
// coordinator then writes them on the goroutine that asked (txn.LocalMarkerWriter).
func (t *txnCoordinator) WritesAtOnce(m txn.Markers) bool {
	for _, tp := range m.Partitions {
		p, _, err := t.b.replicas.Local(tp.Topic, tp.Partition)
		if err != nil || !p.AcksAlone() {
			return false
		}
	}
	return true
}

// markerSendTimeout bounds one WriteTxnMarkers round trip (Kafka's request.timeout.ms for
// its marker sender).
const markerSendTimeout = 30 * time.Second

// writeTo sends the markers for parts to one leader and returns the codes it answered.
func (t *txnCoordinator) writeTo(ctx context.Context, st *raftmeta.State, leader int32, m txn.Markers, parts []txn.TopicPartition) map[txn.TopicPartition]int16 {
	self := leader == t.b.cfg.Broker.NodeID
	addr := ""
	if !self {
		if addr = t.interBrokerAddr(st.Brokers[leader]); addr == "" {
			return nil
		}
	}
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	// v2 (Kafka 4.2, KIP-1228) carries the transaction version, which the partition needs to
	// tell a version 2 marker from a late copy of the previous transaction's.
	req.Version = 2
	mk := kmsg.NewWriteTxnMarkersRequestMarker()
	mk.ProducerID, mk.ProducerEpoch, mk.Committed, mk.CoordinatorEpoch = m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch
	mk.TransactionVersion = m.TransactionVersion
	for _, tp := range parts {
		if n := len(mk.Topics); n == 0 || mk.Topics[n-1].Topic != tp.Topic {
			mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			mt.Topic = tp.Topic
			mk.Topics = append(mk.Topics, mt)
		}
		mt := &mk.Topics[len(mk.Topics)-1]
		mt.Partitions = append(mt.Partitions, tp.Partition)
	}
	req.Markers = []kmsg.WriteTxnMarkersRequestMarker{mk}
	var resp kmsg.Response
	var err error
	if self {
		// Served in-process, through the Mux as if it came over the inter-broker listener (so
		// interceptors see it), without a socket round trip; the handler bounds its own wait for
		// the replicas (markerRequestTimeout), so no deadline (a timer) is needed here.
		resp, err = t.b.Mux().Call(ctx, t.b.cfg.Broker.InterBrokerListenerName, req)
	} else {
		rctx, cancel := context.WithTimeout(ctx, markerSendTimeout)
		resp, err = t.roundTrip(rctx, addr, req)
		cancel()
	}
	if err != nil {
		if ctx.Err() == nil {
			t.b.log.Debug("txn: WriteTxnMarkers failed", "leader", leader, "err", err)
		}
		return nil
	}
	codes := map[txn.TopicPartition]int16{}
	for _, rm := range resp.(*kmsg.WriteTxnMarkersResponse).Markers {
		if rm.ProducerID != m.ProducerID {
			continue
		}
		for _, rt := range rm.Topics {
			for _, rp := range rt.Partitions {
				codes[txn.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}] = rp.ErrorCode
			}
		}
	}
	return codes
}

// roundTrip sends req on an idle connection to addr's inter-broker listener, or a new one.
func (t *txnCoordinator) roundTrip(ctx context.Context, addr string, req kmsg.Request) (kmsg.Response, error) {
	return t.conns.roundTrip(ctx, addr, req, func(ctx context.Context) (net.Conn, error) {
		return t.b.interBrokerDialer()(ctx, "tcp", addr)
	}, "minikraft-txn-markers-"+strconv.Itoa(int(t.b.cfg.Broker.NodeID)), int32(t.b.cfg.Broker.SocketRequestMaxBytes))
}
