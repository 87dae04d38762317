package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/minikraft/minikraft/raftmeta"
)

// Broker-only nodes (process.roles=broker) are not Raft members: they pull the metadata from
// the controllers with the fetch_metadata control call, a long poll answered by any voter (every
// voter has the whole State) as soon as its State is newer than the caller's, or after
// fetchMetadataWait with what it has. The answer names the Raft leader, so the broker's own
// control calls (registration, heartbeats, forwarded changes) go to the right node.

const fetchMetadataWait = time.Second

type fetchMetadataCall struct{ After uint64 }

type fetchMetadataResult struct {
	State      json.RawMessage
	LeaderID   int32
	LeaderAddr string
}

// fetchMetadata is a broker-only node's FetchFunc: it asks the voters in turn, starting with the
// one that answered last.
func (b *Broker) fetchMetadata(ctx context.Context, after uint64) (raftmeta.Fetched, error) {
	voters := b.cfg.Broker.Voters
	if len(voters) == 0 {
		return raftmeta.Fetched{}, errors.New("broker: no controller.quorum.voters to fetch the metadata from")
	}
	body, _ := json.Marshal(fetchMetadataCall{After: after})
	var errs []error
	for i := range voters {
		v := voters[(b.lastVoter+i)%len(voters)]
		addr := net.JoinHostPort(v.Host, strconv.Itoa(int(v.Port)))
		cctx, cancel := context.WithTimeout(ctx, fetchMetadataWait+5*time.Second)
		resp, err := b.callRemote(cctx, addr, controlRequest{Op: opFetchMetadata, Body: body})
		cancel()
		if b.peerOfAnotherCluster(err) && !b.joined.Load() {
			return raftmeta.Fetched{}, err
		}
		if err == nil && resp.Code != 0 {
			err = &remoteError{resp.Code, resp.Msg}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("voter %d at %s: %w", v.ID, addr, err))
			continue
		}
		b.lastVoter = (b.lastVoter + i) % len(voters)
		var res fetchMetadataResult
		if err := json.Unmarshal(resp.Result, &res); err != nil {
			return raftmeta.Fetched{}, fmt.Errorf("broker: decoding fetched metadata: %w", err)
		}
		f := raftmeta.Fetched{LeaderID: res.LeaderID, LeaderAddr: res.LeaderAddr}
		if len(res.State) > 0 {
			if f.State, err = raftmeta.UnmarshalState(res.State); err != nil {
				return raftmeta.Fetched{}, err
			}
		}
		return f, nil
	}
	return raftmeta.Fetched{}, errors.Join(errs...)
}

// serveFetchMetadata answers a broker-only node's fetch on a voter: the State once it is newer
// than the caller's (or after fetchMetadataWait without it: then only the leader news).
func (b *Broker) serveFetchMetadata(ctx context.Context, in fetchMetadataCall) (any, error) {
	timer := time.NewTimer(fetchMetadataWait)
	defer timer.Stop()
	for {
		ch := b.meta.Changed()
		st := b.meta.State()
		if st.Index > in.After {
			return b.metadataResult(st, true)
		}
		select {
		case <-ch:
		case <-timer.C:
			return b.metadataResult(st, false)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (b *Broker) metadataResult(st *raftmeta.State, withState bool) (fetchMetadataResult, error) {
	res := fetchMetadataResult{LeaderID: -1}
	if id, addr, ok := b.meta.Leader(); ok {
		res.LeaderID, res.LeaderAddr = id, addr
	}
	if withState {
		enc, err := raftmeta.MarshalState(st)
		if err != nil {
			return res, err
		}
		res.State = enc
	}
	return res, nil
}
