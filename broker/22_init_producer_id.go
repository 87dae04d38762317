package broker

// InitProducerID (key 22), versions 0–5 (v5 only lets the broker answer TRANSACTION_ABORTABLE).
//
// Without a transactional id this hands out a fresh producer id with epoch 0, which is all an
// idempotent producer needs (franz-go and librdkafka enable idempotence by default). Ids come
// from blocks of 1000 reserved through the metadata quorum, as KRaft's AllocateProducerIds does,
// so ids are unique across the cluster and across restarts without a Raft write per producer.
// With a transactional id the transaction coordinator answers (broker/txn, txn_glue.go): it
// bumps the id's epoch, fencing older producers, or hands out a new producer id.

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/wire"
)

func init() { register(22, 0, 5, (*Broker).handleInitProducerID) }

func (b *Broker) handleInitProducerID(ctx context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.InitProducerIDRequest)
	if req.TransactionalID != nil {
		return txnAPI(b, ctx, r)
	}
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if !authorizeIdempotent(b.checkerFor(r)) {
		resp.ErrorCode = errClusterAuth.Code
		return wire.Done(resp, nil)
	}
	id, err := b.pids.next(ctx)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return wire.Done(resp, nil)
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return wire.Done(resp, nil)
}

// producerIDBlockSize is how many ids one metadata write reserves (KRaft uses 1000).
const producerIDBlockSize = 1000

// pidAllocator hands out producer ids from blocks reserved through the controller.
type pidAllocator struct {
	b           *Broker
	mu          sync.Mutex
	nextID, end int64
}

func (a *pidAllocator) next(ctx context.Context) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.nextID >= a.end {
		req := kmsg.NewPtrAllocateProducerIDsRequest()
		req.BrokerID, req.BrokerEpoch = a.b.cfg.Broker.NodeID, a.b.brokerEpoch.Load()
		resp, err := a.b.callController(ctx, req)
		if err != nil {
			return 0, err
		}
		block := resp.(*kmsg.AllocateProducerIDsResponse)
		a.nextID, a.end = block.ProducerIDStart, block.ProducerIDStart+int64(block.ProducerIDLen)
	}
	id := a.nextID
	a.nextID++
	return id, nil
}
