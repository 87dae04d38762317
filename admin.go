package minikraft

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker"
	"github.com/minikraft/minikraft/raftmeta"
	"github.com/minikraft/minikraft/wire"
)

// NodeAdmin is the test admin endpoint of one node running in its own process (the binary's
// --test-admin-listen): the fixture's controls over HTTP and JSON, for tests in other languages.
// It is for tests only: anyone who reaches it can fail every request of the node.
//
// Every endpoint takes POST with a JSON object (an empty body is {}) and answers 200 with a
// JSON object, or 4xx/5xx with {"error": "..."}:
//
//	GET  /v1/state              {"node_id", "throttle_bytes_per_second", "injections", "cut_nodes"}
//	POST /v1/inject-error       {"api_key": 0, "error_code": 6, "times": 2}   (times <= 0: until cleared)
//	POST /v1/inject-delay       {"api_key": 1, "delay_ms": 500, "times": 0}
//	POST /v1/clear-injections   {}
//	POST /v1/partition          {"nodes": [1, 2]}   this node's own links to those nodes
//	POST /v1/heal               {"nodes": [1]}      or {} for every link
//	POST /v1/shrink-isr         {"topic": "t", "partition": 0, "nodes": [2]}
//	POST /v1/move-leader        {"topic": "t", "partition": 0, "node": 1}
//	POST /v1/throttle-follower  {"bytes_per_second": 4096}   this node's replica fetching; 0: none
//
// What works per node: injections and the follower throttle act on this node (its client,
// inter-broker and CONTROLLER listeners, its replica fetchers), as Cluster's do. shrink-isr and
// move-leader act on the whole cluster through the active controller, from any node. A
// partition is per node: /v1/partition on node 0 with nodes [1] makes node 0's dials to node 1
// fail and closes the connections node 0 dialled, but node 1 still reaches node 0 over the
// connections it dials; for a partition both ways, call it on both nodes (and heal both). A
// one-way cut of bytes (Cluster.PartitionOneWay) is not offered.
type NodeAdmin struct {
	links *nodeLinks

	mu   sync.Mutex // leaf
	b    *broker.Broker
	injs []func()
}

// NewNodeAdmin makes the endpoint for the node whose controller.quorum.voters are voters. Its
// Dial must be the node's broker.Config.Dial, and Attach called with the node once it is
// started.
func NewNodeAdmin(voters string) *NodeAdmin {
	return &NodeAdmin{links: newNodeLinks(voters)}
}

// Dial opens the node's connections to the other nodes (broker.Config.Dial).
func (a *NodeAdmin) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return a.links.dial(ctx, network, addr)
}

// Attach gives the endpoint the node it controls.
func (a *NodeAdmin) Attach(b *broker.Broker) {
	a.mu.Lock()
	a.b = b
	a.mu.Unlock()
	a.links.mu.Lock()
	a.links.b = b
	a.links.mu.Unlock()
}

// httpError is an answer other than 200.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func (a *NodeAdmin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	out, err := a.serve(r)
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		status := http.StatusInternalServerError
		var he *httpError
		switch {
		case errors.As(err, &he):
			status = he.status
		case errors.Is(err, kerr.UnknownTopicOrPartition):
			status = http.StatusNotFound
		case errors.Is(err, context.DeadlineExceeded):
			status = http.StatusGatewayTimeout
		case errors.Is(err, errRefused):
			status = http.StatusConflict
		}
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	if out == nil {
		out = map[string]any{}
	}
	json.NewEncoder(w).Encode(out)
}

// errRefused marks a control the cluster refused (a leader asked to leave its ISR, a node that
// is not a replica).
var errRefused = errors.New("refused")

type adminRequest struct {
	APIKey         *int16  `json:"api_key"`
	ErrorCode      *int16  `json:"error_code"`
	DelayMs        *int64  `json:"delay_ms"`
	Times          int     `json:"times"`
	Nodes          []int32 `json:"nodes"`
	Node           *int32  `json:"node"`
	Topic          string  `json:"topic"`
	Partition      *int32  `json:"partition"`
	BytesPerSecond *int64  `json:"bytes_per_second"`
}

func (a *NodeAdmin) serve(r *http.Request) (any, error) {
	a.mu.Lock()
	b := a.b
	a.mu.Unlock()
	if b == nil {
		return nil, &httpError{http.StatusServiceUnavailable, "the node is not started yet"}
	}
	if r.URL.Path == "/v1/state" {
		if r.Method != http.MethodGet {
			return nil, &httpError{http.StatusMethodNotAllowed, "use GET"}
		}
		a.mu.Lock()
		n := len(a.injs)
		a.mu.Unlock()
		cut := a.links.cutNodes()
		sort.Slice(cut, func(i, j int) bool { return cut[i] < cut[j] })
		return map[string]any{"node_id": b.NodeID(), "throttle_bytes_per_second": b.ReplicaFetchThrottle(), "injections": n, "cut_nodes": cut,
			// For minikraft-bench -scale: the goroutines of the process (a binary runs one node).
			"goroutines": runtime.NumGoroutine()}, nil
	}
	if r.Method != http.MethodPost {
		return nil, &httpError{http.StatusMethodNotAllowed, "use POST"}
	}
	var req adminRequest
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		return nil, badRequest("body: %v", err)
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	switch r.URL.Path {
	case "/v1/inject-error":
		if req.APIKey == nil || req.ErrorCode == nil {
			return nil, badRequest("api_key and error_code are required")
		}
		key, code := *req.APIKey, *req.ErrorCode
		if kmsg.RequestForKey(key) == nil {
			return nil, badRequest("api key %d is unknown", key)
		}
		if _, ok := errorResponse(kmsg.RequestForKey(key), 0); !ok {
			return nil, badRequest("errors for %s (key %d) are not supported", kmsg.NameForKey(key), key)
		}
		return nil, a.inject(b, key, req.Times, func(ctx context.Context, r *wire.Request, _ wire.HandlerFunc) wire.Future {
			if p, ok := r.Msg.(*kmsg.ProduceRequest); ok && p.Acks == 0 {
				return wire.Done(nil, fmt.Errorf("minikraft: injected error %d on an acks=0 produce", code))
			}
			resp, _ := errorResponse(r.Msg, code)
			return wire.Done(resp, nil)
		})
	case "/v1/inject-delay":
		if req.APIKey == nil || req.DelayMs == nil || *req.DelayMs < 0 {
			return nil, badRequest("api_key and a delay_ms >= 0 are required")
		}
		if kmsg.RequestForKey(*req.APIKey) == nil {
			return nil, badRequest("api key %d is unknown", *req.APIKey)
		}
		d := time.Duration(*req.DelayMs) * time.Millisecond
		return nil, a.inject(b, *req.APIKey, req.Times, func(ctx context.Context, r *wire.Request, next wire.HandlerFunc) wire.Future {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				return wire.Done(nil, ctx.Err())
			}
			return next(ctx, r)
		})
	case "/v1/clear-injections":
		a.mu.Lock()
		injs := a.injs
		a.injs = nil
		a.mu.Unlock()
		for _, remove := range injs {
			remove()
		}
		return nil, nil
	case "/v1/partition":
		if len(req.Nodes) == 0 || slices.Contains(req.Nodes, b.NodeID()) {
			return nil, badRequest("nodes: the other nodes to cut this node off from")
		}
		a.links.cut(req.Nodes)
		return nil, nil
	case "/v1/heal":
		a.links.heal(req.Nodes)
		return nil, nil
	case "/v1/shrink-isr":
		if req.Topic == "" || req.Partition == nil || len(req.Nodes) == 0 {
			return nil, badRequest("topic, partition and nodes are required")
		}
		nodes := make([]int, len(req.Nodes))
		for i, n := range req.Nodes {
			nodes[i] = int(n)
		}
		return nil, refusal(shrinkISR(ctx, nodeView{b}, req.Topic, *req.Partition, nodes...))
	case "/v1/move-leader":
		if req.Topic == "" || req.Partition == nil || req.Node == nil {
			return nil, badRequest("topic, partition and node are required")
		}
		return nil, refusal(moveLeader(ctx, nodeView{b}, req.Topic, *req.Partition, int(*req.Node)))
	case "/v1/throttle-follower":
		if req.BytesPerSecond == nil {
			return nil, badRequest("bytes_per_second is required (0: no limit)")
		}
		b.SetReplicaFetchThrottle(*req.BytesPerSecond)
		return nil, nil
	}
	return nil, &httpError{http.StatusNotFound, "no such endpoint: " + r.URL.Path}
}

// refusal marks the errors of shrinkISR and moveLeader that are the cluster's refusal (409), not
// a failure to reach it.
func refusal(err error) error {
	if err == nil || errors.Is(err, kerr.UnknownTopicOrPartition) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: %w", errRefused, err)
}

// inject puts do in front of key's handler on every Mux of b that serves key, for times
// requests in all (times <= 0: until cleared).
func (a *NodeAdmin) inject(b *broker.Broker, key int16, times int, do wire.Interceptor) error {
	var left atomic.Int64
	left.Store(-1)
	if times > 0 {
		left.Store(int64(times))
	}
	var removes []func()
	var once sync.Once
	removeAll := func() {
		once.Do(func() {
			for _, rm := range removes {
				rm()
			}
		})
	}
	for _, m := range []*wire.Mux{b.Mux(), b.ControlMux()} {
		if m == nil {
			continue
		}
		if _, _, ok := m.Versions(key); !ok {
			continue
		}
		removes = append(removes, m.Intercept(key, 0, func(ctx context.Context, r *wire.Request, next wire.HandlerFunc) wire.Future {
			for {
				n := left.Load()
				if n == 0 {
					return next(ctx, r)
				}
				if n < 0 || left.CompareAndSwap(n, n-1) {
					if n == 1 {
						go removeAll() // not from inside the Mux's dispatch of this request
					}
					return do(ctx, r, next)
				}
			}
		}))
	}
	if len(removes) == 0 {
		return badRequest("node %d does not serve %s (key %d)", b.NodeID(), kmsg.NameForKey(key), key)
	}
	a.mu.Lock()
	a.injs = append(a.injs, removeAll)
	a.mu.Unlock()
	return nil
}

// nodeView is the cluster as one node sees it, for shrinkISR and moveLeader.
type nodeView struct{ b *broker.Broker }

func (v nodeView) activeController() (*raftmeta.State, string, bool) {
	_, addr, ok := v.b.Meta().Leader()
	return v.b.Meta().State(), addr, ok
}

func (v nodeView) clusterID() string { return v.b.ClusterID() }

func (v nodeView) waitMetadata(ctx context.Context, ok func(*raftmeta.State) bool, what string) error {
	for !appliedState(v.b, ok) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("minikraft: waiting for this node to see %s: %w", what, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}
