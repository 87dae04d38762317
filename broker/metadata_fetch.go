package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/minikraft/minikraft/raftmeta"
	"github.com/minikraft/minikraft/wire"
)

// Broker-only nodes (process.roles=broker) are not Raft members: they pull the metadata from
// the controllers with MetadataFetch (wire/control.go), a long poll answered by any voter (every
// voter has the whole State) as soon as its State is newer than the caller's, or after
// fetchMetadataWait with what it has. The answer names the Raft leader, so the broker's own
// control requests (registration, heartbeats, forwarded changes) go to the right node.

const fetchMetadataWait = time.Second

// fetchMetadata is a broker-only node's FetchFunc: it asks the voters in turn, starting with the
// one that answered last.
func (b *Broker) fetchMetadata(ctx context.Context, after uint64) (raftmeta.Fetched, error) {
	voters := b.cfg.Broker.Voters
	if len(voters) == 0 {
		return raftmeta.Fetched{}, errors.New("broker: no controller.quorum.voters to fetch the metadata from")
	}
	var errs []error
	for i := range voters {
		v := voters[(b.lastVoter+i)%len(voters)]
		addr := net.JoinHostPort(v.Host, strconv.Itoa(int(v.Port)))
		cctx, cancel := context.WithTimeout(ctx, fetchMetadataWait+5*time.Second)
		req := &wire.MetadataFetchRequest{After: after, MaxWaitMillis: int32(fetchMetadataWait.Milliseconds())}
		resp, err := b.controlRoundTrip(cctx, addr, req)
		cancel()
		if b.peerOfAnotherCluster(err) && !b.joined.Load() {
			return raftmeta.Fetched{}, err
		}
		if err == nil {
			err = controlError(resp)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("voter %d at %s: %w", v.ID, addr, err))
			continue
		}
		b.lastVoter = (b.lastVoter + i) % len(voters)
		res := resp.(*wire.MetadataFetchResponse)
		f := raftmeta.Fetched{LeaderID: res.LeaderID, LeaderAddr: res.LeaderAddr}
		if res.State != nil {
			if f.State, err = raftmeta.UnmarshalState(res.State); err != nil {
				return raftmeta.Fetched{}, err
			}
		}
		return f, nil
	}
	return raftmeta.Fetched{}, errors.Join(errs...)
}

// serveMetadataFetch answers a broker-only node's fetch on a voter: the State once it is newer
// than the caller's (or after MaxWaitMillis without it: then only the leader news).
func (b *Broker) serveMetadataFetch(ctx context.Context, r *wire.MetadataFetchRequest) *wire.MetadataFetchResponse {
	resp := r.ResponseKind().(*wire.MetadataFetchResponse)
	timer := time.NewTimer(min(time.Duration(max(r.MaxWaitMillis, 0))*time.Millisecond, controlCallTimeout))
	defer timer.Stop()
	for {
		ch := b.meta.Changed()
		st := b.meta.State()
		if st.Index > r.After {
			b.metadataResult(resp, st)
			return resp
		}
		select {
		case <-ch:
		case <-timer.C:
			b.metadataResult(resp, nil)
			return resp
		case <-ctx.Done():
			resp.ErrorCode = errorCode(ctx.Err())
			return resp
		}
	}
}

// metadataResult fills resp with the leader and, if st is not nil, the encoded State.
func (b *Broker) metadataResult(resp *wire.MetadataFetchResponse, st *raftmeta.State) {
	if id, addr, ok := b.meta.Leader(); ok {
		resp.LeaderID, resp.LeaderAddr = id, addr
	}
	if st == nil {
		return
	}
	enc, err := raftmeta.MarshalState(st)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return
	}
	resp.State = enc
}
