package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/raftmeta"
	"github.com/minikraft/minikraft/wire"
)

// callController sends req to the active controller, here or over the CONTROLLER listener,
// retrying while leadership moves (NOT_CONTROLLER, no leader known, a connection that fails),
// until ctx ends. A Kafka error in the answer is returned as a *remoteError. On success it waits
// until this node's metadata has applied the controller's index (wire.TagMetadataIndex), so what
// the controller changed is visible here when it returns.
func (b *Broker) callController(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	req.SetVersion(controlVersions[req.Key()])
	var lastErr error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(min(time.Duration(attempt)*20*time.Millisecond, 250*time.Millisecond)):
			case <-ctx.Done():
				if lastErr == nil {
					lastErr = ctx.Err()
				}
				return nil, fmt.Errorf("%w: %v", kerr.RequestTimedOut, lastErr)
			}
		}
		var resp kmsg.Response
		if b.meta.IsLeader() {
			resp = b.serveControlRequest(ctx, req)
		} else {
			_, addr, ok := b.meta.Leader()
			if !ok {
				lastErr = errors.New("no controller is known")
				continue
			}
			var err error
			resp, err = b.controlRoundTrip(ctx, addr, req)
			if err != nil {
				if b.peerOfAnotherCluster(err) && !b.joined.Load() {
					return nil, err
				}
				lastErr = err
				continue
			}
		}
		if err := controlError(resp); err != nil {
			if errors.Is(err, kerr.NotController) {
				lastErr = err
				continue
			}
			return resp, err
		}
		if tags := responseTags(resp); tags != nil {
			if idx, ok := wire.Uint64Tag(tags, wire.TagMetadataIndex); ok {
				if err := b.meta.WaitForIndex(ctx, idx); err != nil {
					return nil, fmt.Errorf("%w: waiting for the change to be applied here: %v", kerr.RequestTimedOut, err)
				}
			}
			// The tag is for this broker only: a response passed on to a client goes without.
			*tags = kmsg.Tags{}
		}
		return resp, nil
	}
}

// controlConns keeps idle control connections per controller address, so that registration,
// heartbeats and forwarded requests do not dial each time. A connection carries one request at
// a time (wire.Client); concurrent calls take several, since a forwarded change may wait on the
// controller for seconds (propagation.go) while this broker's heartbeats must go on.
type controlConns struct {
	mu     sync.Mutex
	idle   map[string][]*wire.Client
	closed bool
}

// maxIdleControlConns bounds the idle connections kept per controller.
const maxIdleControlConns = 4

func (p *controlConns) take(addr string) *wire.Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	cs := p.idle[addr]
	if len(cs) == 0 {
		return nil
	}
	c := cs[len(cs)-1]
	p.idle[addr] = cs[:len(cs)-1]
	return c
}

func (p *controlConns) put(addr string, c *wire.Client) {
	p.mu.Lock()
	if p.closed || len(p.idle[addr]) >= maxIdleControlConns {
		p.mu.Unlock()
		c.Close()
		return
	}
	if p.idle == nil {
		p.idle = make(map[string][]*wire.Client)
	}
	p.idle[addr] = append(p.idle[addr], c)
	p.mu.Unlock()
}

// close closes the idle connections; connections in use are closed when their call returns.
func (p *controlConns) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, cs := range p.idle {
		for _, c := range cs {
			c.Close()
		}
	}
	p.idle = nil
}

// controlRoundTrip sends one control request to the node at addr and returns its answer.
func (b *Broker) controlRoundTrip(ctx context.Context, addr string, req kmsg.Request) (kmsg.Response, error) {
	return b.ctlConns.roundTrip(ctx, addr, req, func(ctx context.Context) (net.Conn, error) {
		return raftmeta.DialTag(ctx, b.ctrlDial, addr, raftmeta.TagControl, b.clusterID())
	}, "minikraft-broker-"+strconv.Itoa(int(b.cfg.Broker.NodeID)), int32(b.cfg.Broker.SocketRequestMaxBytes))
}

// roundTrip sends req on an idle connection to addr, or on a new one from dial (given 5 s),
// named clientID, and keeps the connection for the next call. A request that fails on a reused
// connection is sent once more on a new one: the peer may have closed the idle connection (it
// restarted, say) without having read the request.
func (p *controlConns) roundTrip(ctx context.Context, addr string, req kmsg.Request,
	dial func(context.Context) (net.Conn, error), clientID string, maxFrame int32) (kmsg.Response, error) {
	if c := p.take(addr); c != nil {
		resp, err := c.Request(ctx, req)
		if err == nil {
			p.put(addr, c)
			return resp, nil
		}
		c.Close()
		if ctx.Err() != nil {
			return nil, err
		}
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	nc, err := dial(dctx)
	if err != nil {
		return nil, err
	}
	c := wire.NewClient(nc, clientID, maxFrame)
	resp, err := c.Request(ctx, req)
	if err != nil {
		c.Close()
		return nil, err
	}
	p.put(addr, c)
	return resp, nil
}

// alterPartition sends a leader's ISR change to the controller: the replica manager's one
// call into the control plane. BrokerID is the leader's id; the broker epoch is filled in.
func (b *Broker) alterPartition(ctx context.Context, req *kmsg.AlterPartitionRequest) error {
	req.BrokerEpoch = b.brokerEpoch.Load()
	_, err := b.callController(ctx, req)
	return err
}
