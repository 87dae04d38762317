package raftmeta

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// FSM is the metadata state machine: raft.FSM over State. Node runs one inside Raft; it is
// exported so that code above raftmeta (the controller's tests) can drive the very same state
// machine step by step without a quorum, with ApplyCommand.
//
// Apply, Snapshot and Restore are called by Raft from one goroutine; State and Changed may be
// called from any.
type FSM struct {
	state   atomic.Pointer[State]
	changed broadcast
}

var _ raft.FSM = (*FSM)(nil)

// NewFSM returns a state machine holding the empty State.
func NewFSM() *FSM {
	f := &FSM{}
	f.state.Store(emptyState())
	return f
}

// State returns the latest published State (never nil). Do not mutate it.
func (f *FSM) State() *State { return f.state.Load() }

// Changed returns a channel that is closed when a newer State is published. Take the channel
// before reading State, then wait on it; take a fresh one after it fires.
func (f *FSM) Changed() <-chan struct{} { return f.changed.wait() }

func (f *FSM) publish(s *State) {
	f.state.Store(s)
	f.changed.notify()
}

// Apply applies one committed log entry and returns the command's result: a value, or an error
// wrapping one of the package's sentinels when the command was rejected.
//
// An entry that does not decode (an unknown op byte, a body that is not the op's JSON) panics:
// it was written by a newer version or by a bug, and applying anything else than what the
// writer meant would make this node's metadata silently diverge from the others'.
func (f *FSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil // raft hands the FSM only commands; be safe if that ever changes
	}
	cmd, err := DecodeCommand(l.Data)
	if err != nil {
		panic(fmt.Sprintf("raftmeta: cannot apply log entry %d: %v", l.Index, err))
	}
	next, res := apply(f.State(), l.Index, cmd)
	f.publish(next)
	return res
}

// ApplyCommand applies cmd as the log entry at index, exactly as Raft would (encoded, then
// decoded), and returns its result. It is for tests and tools that drive the FSM without Raft;
// index must grow from call to call, like a log's.
func (f *FSM) ApplyCommand(index uint64, cmd Command) any {
	data, err := EncodeCommand(cmd)
	if err != nil {
		return err
	}
	return f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: data})
}

// Snapshot captures the current State. It costs nothing: the State is immutable, so the
// snapshot just keeps the pointer while Persist writes it out on another goroutine.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	return fsmSnapshot{f.State()}, nil
}

// Restore replaces the State with the one in a snapshot written by Persist.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	s, err := readState(rc)
	if err != nil {
		return err
	}
	f.publish(s)
	return nil
}

type fsmSnapshot struct{ s *State }

func (fs fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := writeState(sink, fs.s); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (fsmSnapshot) Release() {}

// broadcast is a "something changed" signal for any number of waiters: wait returns a channel
// that notify closes. The channel is made only when someone waits, so a notify with no waiter
// costs a lock and nothing else.
type broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

func (b *broadcast) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

func (b *broadcast) notify() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
}
