package minikraft

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker"
	"github.com/minikraft/minikraft/wire"
)

// The fixture's test controls (issue 21): requests answered with an error or late, on one node's
// client and inter-broker listeners. Each is a wire.Mux interceptor on the node's Mux, installed
// again when the node restarts, so a count spans restarts.

// injection is one InjectError or InjectDelay.
type injection struct {
	node int
	key  int16
	do   func(ctx context.Context, req *wire.Request, next wire.HandlerFunc) wire.Future

	// Guarded by injections.mu: the requests still to take (-1: until ClearInjections), kept
	// to install the rest on a restarted node (the Mux counts exactly on its own); the broker
	// inj is installed on, and how to remove it from there.
	left   int64
	on     *broker.Broker
	remove func()
}

// injections are the Cluster's live injections.
type injections struct {
	mu   sync.Mutex
	list []*injection
}

// InjectError makes node answer the next times requests of apiKey with the error code, as a
// Kafka broker encodes that error in that API's answer: every partition, topic, group or
// resource the request names gets the code (a Produce's every partition, a Fetch's every
// partition, an OffsetCommit's every partition), and an API whose answer has only a
// request-level error code gets it there. The request never reaches the broker: nothing is
// appended, no follower offset is recorded, no group changes. times <= 0 means every request
// until ClearInjections.
//
// Requests between nodes count too: InjectError(leader, 1, 6, 0) (Fetch, NOT_LEADER_OR_FOLLOWER)
// fails the followers' fetches from the leader, and consumers' fetches, until cleared. Two more
// details, both as Kafka: a Fetch in a fetch session is answered without the session, so the
// fetcher's next fetch is a full one naming every partition (which fails too); a Produce with
// acks=0 gets no answer and its connection is closed.
//
// The controller's own APIs count too, on the node's CONTROLLER listener: AlterPartition (a
// leader's ISR change), BrokerRegistration, BrokerHeartbeat, AllocateProducerIDs, and the admin
// requests brokers forward to the controller (CreateTopics, DeleteTopics, CreatePartitions,
// IncrementalAlterConfigs, ElectLeaders, the reassignments, DescribeQuorum). An API served on
// both listeners (CreateTopics, say) is counted on both: a client's request to the node and a
// forwarded one from another node each take one of times. Only requests that arrive over a
// connection are seen: the active controller's own broker calls it in-process, and Raft's
// traffic is not Kafka requests.
//
// It panics for a node out of range, an unknown api key, or an API whose error answer it does
// not know how to build (ACLs, DescribeLogDirs): a mistake in the test, found on its first run.
func (c *Cluster) InjectError(node int, apiKey int16, code int16, times int) {
	c.checkNode(node)
	mustErrorResponse(apiKey)
	c.inject(node, apiKey, times, func(ctx context.Context, r *wire.Request, _ wire.HandlerFunc) wire.Future {
		if p, ok := r.Msg.(*kmsg.ProduceRequest); ok && p.Acks == 0 {
			// Kafka cannot answer an acks=0 produce: it closes the connection instead, so
			// that the producer refreshes its metadata.
			return wire.Done(nil, fmt.Errorf("minikraft: injected error %d on an acks=0 produce", code))
		}
		resp, _ := errorResponse(r.Msg, code)
		return wire.Done(resp, nil)
	})
}

// InjectDelay makes node wait d before handling each of the next times requests of apiKey
// (times <= 0: every request until ClearInjections). The wait holds the request's connection,
// as a slow broker does: the connection's later requests wait behind it; other connections do
// not. Requests between nodes count too (a follower's Fetch, say).
func (c *Cluster) InjectDelay(node int, apiKey int16, d time.Duration, times int) {
	c.checkNode(node)
	if kmsg.RequestForKey(apiKey) == nil {
		panic(fmt.Sprintf("minikraft: InjectDelay: api key %d is unknown", apiKey))
	}
	c.inject(node, apiKey, times, func(ctx context.Context, r *wire.Request, next wire.HandlerFunc) wire.Future {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return wire.Done(nil, ctx.Err())
		}
		return next(ctx, r)
	})
}

// ClearInjections ends every InjectError and InjectDelay on every node. Requests already held by
// a delay finish their wait.
func (c *Cluster) ClearInjections() {
	c.inj.mu.Lock()
	list := c.inj.list
	c.inj.list = nil
	for _, inj := range list {
		inj.left = 0
		if inj.remove != nil {
			inj.remove()
			inj.remove = nil
		}
	}
	c.inj.mu.Unlock()
}

func (c *Cluster) inject(node int, key int16, times int, do func(context.Context, *wire.Request, wire.HandlerFunc) wire.Future) {
	inj := &injection{node: node, key: key, do: do, left: -1}
	if times > 0 {
		inj.left = int64(times)
	}
	c.inj.mu.Lock()
	defer c.inj.mu.Unlock()
	c.inj.list = append(c.inj.list, inj)
	if b := c.Node(node); b != nil {
		c.install(inj, b)
	}
}

// install puts inj on every Mux of b that serves its key (the client and inter-broker Mux, the
// control APIs' Mux on the CONTROLLER listener) for the requests it has left, unless it is there
// already. The count is kept here, under c.inj.mu, so that it spans both Muxes and restarts.
// Called with c.inj.mu held.
func (c *Cluster) install(inj *injection, b *broker.Broker) {
	if inj.on == b || inj.left == 0 {
		return
	}
	var removes []func()
	for _, m := range []*wire.Mux{b.Mux(), b.ControlMux()} {
		if m == nil {
			continue
		}
		if _, _, ok := m.Versions(inj.key); !ok {
			continue
		}
		removes = append(removes, m.Intercept(inj.key, 0, func(ctx context.Context, r *wire.Request, next wire.HandlerFunc) wire.Future {
			c.inj.mu.Lock()
			if inj.left == 0 {
				c.inj.mu.Unlock()
				return next(ctx, r) // used up on the other Mux, and being removed
			}
			if inj.left > 0 {
				inj.left--
				if inj.left == 0 && inj.remove != nil {
					inj.remove()
					inj.remove = nil
				}
			}
			c.inj.mu.Unlock()
			return inj.do(ctx, r, next)
		}))
	}
	if len(removes) == 0 {
		panic(fmt.Sprintf("minikraft: node %d does not serve %s (key %d)", inj.node, kmsg.NameForKey(inj.key), inj.key))
	}
	inj.remove = func() {
		for _, rm := range removes {
			rm()
		}
	}
	inj.on = b
}

// reinstall puts node's live injections on its new broker after a restart.
func (c *Cluster) reinstall(node int, b *broker.Broker) {
	c.inj.mu.Lock()
	defer c.inj.mu.Unlock()
	for _, inj := range c.inj.list {
		if inj.node == node {
			c.install(inj, b)
		}
	}
}

func (c *Cluster) checkNode(i int) {
	if i < 0 || i >= len(c.nodes) {
		panic(fmt.Sprintf("minikraft: node %d is not in a cluster of %d", i, len(c.nodes)))
	}
}
