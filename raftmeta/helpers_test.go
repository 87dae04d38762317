package raftmeta

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// waitFor polls cond every millisecond until it holds, failing the test after timeout. Timeouts
// are generous: the suite must pass with -race on a loaded two-core machine.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

func id16(b byte) [16]byte {
	var u [16]byte
	u[0], u[15] = b, b
	return u
}

func i32(v int32) *int32 { return &v }

// applyOK applies cmd at index and fails the test if the FSM rejects it.
func applyOK(t *testing.T, f *FSM, index uint64, cmd Command) any {
	t.Helper()
	res := f.ApplyCommand(index, cmd)
	if err, ok := res.(error); ok {
		t.Fatalf("apply %T at %d: %v", cmd, index, err)
	}
	return res
}

// applyErr applies cmd at index and checks that the FSM rejects it with want, changing nothing
// but the index.
func applyErr(t *testing.T, f *FSM, index uint64, cmd Command, want error) {
	t.Helper()
	before := withoutIndex(t, f.State())
	res := f.ApplyCommand(index, cmd)
	err, ok := res.(error)
	if !ok || !errors.Is(err, want) {
		t.Fatalf("apply %T at %d: got %v, want an error wrapping %v", cmd, index, res, want)
	}
	if got := f.State().Index; got != index {
		t.Fatalf("rejected command: Index = %d, want %d", got, index)
	}
	if !bytes.Equal(withoutIndex(t, f.State()), before) {
		t.Fatalf("rejected %T changed the state", cmd)
	}
}

// withoutIndex is the snapshot encoding of s with Index zeroed.
func withoutIndex(t testing.TB, s *State) []byte {
	c := *s
	c.Index = 0
	return snapshotBytes(t, &c)
}

func snapshotBytes(t testing.TB, s *State) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := writeState(&buf, s); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// memSink is a raft.SnapshotSink into memory.
type memSink struct {
	bytes.Buffer
	closed, canceled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.canceled = true; return nil }

var _ raft.SnapshotSink = (*memSink)(nil)
