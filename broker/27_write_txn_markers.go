package broker

// WriteTxnMarkers (key 27), versions 0–2.
//
// The transaction coordinator's request to a partition leader: for each marker (producer id and
// epoch, COMMIT or ABORT, the coordinator's epoch) and each partition named, append a control
// batch ending the producer's transaction there, as Kafka's handleWriteTxnMarkersRequest does
// with appendRecords(requiredAcks = -1, origin COORDINATOR): every marker is appended while the
// request is handled, then the answer waits until each is on every in-sync replica (at least
// min.insync.replicas), or request.timeout.ms (REQUEST_TIMED_OUT). Per partition: a partition
// with no replica here is UNKNOWN_TOPIC_OR_PARTITION (Kafka's getMagic finds no log), a follower
// NOT_LEADER_OR_FOLLOWER, an older producer epoch INVALID_PRODUCER_EPOCH, an older coordinator
// epoch than the producer's last marker TRANSACTION_COORDINATOR_FENCED, too small an ISR
// NOT_ENOUGH_REPLICAS. A retried request appends its markers again, which is harmless: a marker
// for a producer with no open transaction ends nothing (as in Kafka). v2 (KIP-1228) says each
// marker's transaction version: a version 2 marker whose producer epoch is not above the
// producer's while a transaction is open is a late copy of the previous transaction's marker and
// INVALID_PRODUCER_EPOCH (partition.AppendMarkerVersion); v0-v1 markers count as version 0.
//
// For a partition of __consumer_offsets, once its marker is acknowledged the group coordinator
// is told (onTxnMarker), so the offsets a TxnOffsetCommit left pending become committed or are
// dropped; its error, if any, is the partition's.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/acl"
	"github.com/minikraft/minikraft/broker/partition"
	"github.com/minikraft/minikraft/wire"
)

func init() { register(27, 0, 2, (*Broker).handleWriteTxnMarkers) }

// markerRequestTimeout is how long a marker waits for the in-sync replicas: Kafka's
// request.timeout.ms default, which its handler uses for the append.
const markerRequestTimeout = 30 * time.Second

// TxnMarkerHook is told of a transaction marker written to a partition this node leads, once it
// is acknowledged by the in-sync replicas: the group coordinator completes (commit) or drops
// (abort) the producer's pending transactional offsets for a __consumer_offsets partition.
type TxnMarkerHook func(topic string, partition int32, producerID int64, commit bool) error

// SetTxnMarkerHook installs the hook WriteTxnMarkers calls for __consumer_offsets partitions:
// New installs the group coordinator's CompleteTxn; tests may replace it.
func (b *Broker) SetTxnMarkerHook(h TxnMarkerHook) { b.txnMarkerHook.Store(&h) }

// onTxnMarker calls the installed hook, if any.
func (b *Broker) onTxnMarker(topic string, part int32, producerID int64, commit bool) error {
	if h := b.txnMarkerHook.Load(); h != nil && *h != nil {
		return (*h)(topic, part, producerID, commit)
	}
	return nil
}

// pendingMarker is a marker appended and waiting for the in-sync replicas.
type pendingMarker struct {
	p      *partition.Partition
	info   partition.AppendInfo
	topic  string
	part   int32
	pid    int64
	commit bool
	resp   *kmsg.WriteTxnMarkersResponseMarkerTopicPartition
}

func (b *Broker) handleWriteTxnMarkers(ctx context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.WriteTxnMarkersRequest)
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	// Only brokers write markers: CLUSTER_ACTION on the cluster, else every partition answers
	// CLUSTER_AUTHORIZATION_FAILED (Kafka's handleWriteTxnMarkersRequest).
	denied := !b.checkerFor(r).cluster(acl.OpClusterAction)
	var pending []pendingMarker
	resp.Markers = make([]kmsg.WriteTxnMarkersResponseMarker, len(req.Markers))
	for i, m := range req.Markers {
		rm := &resp.Markers[i]
		rm.Default()
		rm.ProducerID = m.ProducerID
		rm.Topics = make([]kmsg.WriteTxnMarkersResponseMarkerTopic, len(m.Topics))
		for j, t := range m.Topics {
			rt := &rm.Topics[j]
			rt.Default()
			rt.Topic = t.Topic
			rt.Partitions = make([]kmsg.WriteTxnMarkersResponseMarkerTopicPartition, len(t.Partitions))
			for k, id := range t.Partitions {
				sp := &rt.Partitions[k]
				sp.Default()
				sp.Partition = id
				if denied {
					sp.ErrorCode = errClusterAuth.Code
					continue
				}
				p, info, err := b.appendMarker(t.Topic, id, m)
				if err != nil {
					sp.ErrorCode = errorCode(err)
					continue
				}
				pending = append(pending, pendingMarker{p: p, info: info, topic: t.Topic, part: id,
					pid: m.ProducerID, commit: m.Committed, resp: sp})
			}
		}
	}
	if len(pending) == 0 || b.markersAcked(pending) {
		return wire.Done(resp, nil)
	}
	return func() (kmsg.Response, error) {
		var wctx context.Context // made at the first marker that must wait: one node needs none
		for _, pm := range pending {
			done, err := pm.p.Acked(pm.info.LeaderEpoch, pm.info.LastOffset)
			if !done {
				if wctx == nil {
					var cancel context.CancelFunc
					wctx, cancel = context.WithTimeout(ctx, markerRequestTimeout)
					defer cancel()
				}
				err = pm.p.WaitForAck(wctx, pm.info.LeaderEpoch, pm.info.LastOffset)
			}
			if err == nil && pm.topic == offsetsTopic {
				err = b.onTxnMarker(pm.topic, pm.part, pm.pid, pm.commit)
			}
			pm.resp.ErrorCode = errorCode(err)
		}
		return resp, nil
	}
}

// markersAcked answers pending at once if every marker is acknowledged already (each leader
// alone in its ISR: one node), and reports whether it did; a Done response then needs no wait.
func (b *Broker) markersAcked(pending []pendingMarker) bool {
	for _, pm := range pending {
		if done, _ := pm.p.Acked(pm.info.LeaderEpoch, pm.info.LastOffset); !done {
			return false
		}
	}
	for _, pm := range pending {
		_, err := pm.p.Acked(pm.info.LeaderEpoch, pm.info.LastOffset)
		if err == nil && pm.topic == offsetsTopic {
			err = b.onTxnMarker(pm.topic, pm.part, pm.pid, pm.commit)
		}
		pm.resp.ErrorCode = errorCode(err)
	}
	return true
}

// appendMarker appends one marker to a partition this node leads.
func (b *Broker) appendMarker(topic string, part int32, m kmsg.WriteTxnMarkersRequestMarker) (*partition.Partition, partition.AppendInfo, error) {
	p, _, err := b.replicas.Local(topic, part)
	if err != nil {
		if err == kerr.NotLeaderForPartition {
			err = kerr.UnknownTopicOrPartition // no replica here: Kafka finds no log
		}
		return nil, partition.AppendInfo{}, err
	}
	info, err := p.AppendMarkerVersion(m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, m.Committed, -1, m.TransactionVersion)
	return p, info, err
}
