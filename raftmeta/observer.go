package raftmeta

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// MarshalState encodes a State in the snapshot format, for observers that follow the metadata
// without being Raft members.
func MarshalState(s *State) ([]byte, error) {
	var buf bytes.Buffer
	if err := writeState(&buf, s); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// UnmarshalState decodes what MarshalState wrote.
func UnmarshalState(b []byte) (*State, error) { return readState(bytes.NewReader(b)) }

// Fetched is one answer to an observer's fetch: a State newer than the one it had, and who
// leads the quorum.
type Fetched struct {
	State      *State
	LeaderID   int32
	LeaderAddr string
}

// FetchFunc asks the quorum for a State newer than index after, waiting a while (a long poll)
// when there is none yet.
type FetchFunc func(ctx context.Context, after uint64) (Fetched, error)

// Observer follows the metadata without being a Raft member: a broker-only node (process.roles
// =broker) pulls the State from the controllers, as Kafka's brokers fetch the metadata log from
// theirs. hashicorp/raft pushes its log to members, so a non-member cannot follow the log itself;
// it takes whole States instead, which for a development cluster's metadata is small. It offers
// the read side of Node: State, Changed, WaitForLeader, Leader, WaitForIndex.
type Observer struct {
	fetch FetchFunc
	log   *slog.Logger
	fsm   *FSM

	mu         sync.Mutex
	leaderID   int32
	leaderAddr string
	have       bool // a State with a cluster id has arrived

	cancel context.CancelFunc
	done   chan struct{}
}

// NewObserver starts following the metadata with fetch.
func NewObserver(fetch FetchFunc, logger *slog.Logger) *Observer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := &Observer{fetch: fetch, log: logger, fsm: NewFSM(), leaderID: -1, cancel: cancel, done: make(chan struct{})}
	go o.run(ctx)
	return o
}

func (o *Observer) run(ctx context.Context) {
	defer close(o.done)
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		f, err := o.fetch(ctx, o.fsm.State().Index)
		if err != nil {
			if ctx.Err() == nil {
				o.log.Debug("metadata fetch failed", "err", err)
				select {
				case <-time.After(backoff):
				case <-ctx.Done():
				}
				backoff = min(2*backoff, time.Second)
			}
			continue
		}
		backoff = 50 * time.Millisecond
		o.mu.Lock()
		o.leaderID, o.leaderAddr = f.LeaderID, f.LeaderAddr
		if f.State != nil && f.State.ClusterID != "" {
			o.have = true
		}
		o.mu.Unlock()
		if f.State != nil && f.State.Index > o.fsm.State().Index {
			o.fsm.publish(f.State)
		} else {
			o.fsm.changed.notify() // leader news: wake waiters
		}
	}
}

// State is the latest State fetched (an empty one before the first fetch).
func (o *Observer) State() *State { return o.fsm.State() }

// Changed is closed when a newer State (or news of the leader) arrives.
func (o *Observer) Changed() <-chan struct{} { return o.fsm.Changed() }

// IsLeader is always false: an observer never leads.
func (o *Observer) IsLeader() bool { return false }

// Leader is the quorum's leader as the last fetch reported it.
func (o *Observer) Leader() (int32, string, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.leaderID, o.leaderAddr, o.leaderID >= 0 && o.leaderAddr != ""
}

// WaitForLeader waits until a State with the cluster id and a leader are known.
func (o *Observer) WaitForLeader(ctx context.Context) error {
	for {
		ch := o.Changed()
		o.mu.Lock()
		ok := o.have && o.leaderID >= 0
		o.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("raftmeta: observer: %w", ctx.Err())
		}
	}
}

// WaitForIndex waits until the fetched State is at least at idx.
func (o *Observer) WaitForIndex(ctx context.Context, idx uint64) error {
	for {
		ch := o.Changed()
		if o.State().Index >= idx {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting for index %d", ErrTimeout, idx)
		}
	}
}

// MetadataOffset is the index of the last metadata command applied here (raftLog false): an
// observer has no Raft log, only the states it pulled.
func (o *Observer) MetadataOffset() (offset uint64, raftLog bool) { return o.State().Index, false }

// Resign does nothing: an observer leads nothing.
func (o *Observer) Resign() error { return nil }

// Close stops following.
func (o *Observer) Close() error {
	o.cancel()
	<-o.done
	return nil
}
