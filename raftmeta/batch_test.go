package raftmeta

import (
	"errors"
	"reflect"
	"testing"
)

// TestFSMChangePartitions: each change of a batch applies to the State the ones before it left
// (two changes of one partition chain their epochs), a rejected change is reported in its slot
// and skipped, the previous State is untouched, and the entry round-trips.
func TestFSMChangePartitions(t *testing.T) {
	f := seeded(t)
	prev := f.State()
	prevBytes := withoutIndex(t, prev)
	cmd := ChangePartitions{Changes: []ChangePartition{
		{Topic: "a", Partition: 0, ExpectedPartitionEpoch: 0, ISR: []int32{0, 1}},
		{Topic: "a", Partition: 0, ExpectedPartitionEpoch: 1, Leader: i32(1)},
		{Topic: "a", Partition: 1, ExpectedPartitionEpoch: 7, Leader: i32(2)}, // stale
		{Topic: "nope", Partition: 0, ExpectedPartitionEpoch: -1, Leader: i32(0)},
		{Topic: "a", Partition: 1, ExpectedPartitionEpoch: 0, Leader: i32(2)},
	}}
	data, err := EncodeCommand(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeCommand(data); err != nil || !reflect.DeepEqual(got, cmd) {
		t.Fatalf("round trip: %#v, %v", got, err)
	}
	res := applyOK(t, f, 6, cmd)
	errs, ok := res.([]error)
	if !ok || len(errs) != 5 {
		t.Fatalf("result %#v, want 5 errors", res)
	}
	for i, want := range []error{nil, nil, ErrStalePartitionEpoch, ErrUnknownTopic, nil} {
		if (want == nil) != (errs[i] == nil) || (want != nil && !errors.Is(errs[i], want)) {
			t.Fatalf("change %d: %v, want %v", i, errs[i], want)
		}
	}
	p0, p1 := f.State().Partition("a", 0), f.State().Partition("a", 1)
	if p0.Leader != 1 || p0.LeaderEpoch != 1 || p0.PartitionEpoch != 2 || !reflect.DeepEqual(p0.ISR, []int32{0, 1}) {
		t.Fatalf("partition 0 after the batch: %+v", p0)
	}
	if p1.Leader != 2 || p1.LeaderEpoch != 1 || p1.PartitionEpoch != 1 {
		t.Fatalf("partition 1 after the batch: %+v", p1)
	}
	if got := withoutIndex(t, prev); string(got) != string(prevBytes) {
		t.Fatal("the batch changed the previous State")
	}
	applyErr(t, f, 7, ChangePartitions{}, ErrInvalidCommand)
	applyErr(t, f, 8, ChangePartitions{Changes: make([]ChangePartition, MaxChangesPerEntry+1)}, ErrInvalidCommand)
}
