package controller

import (
	"testing"
	"time"
)

// TestDescribeQuorum: the leader reports itself caught up at its log end, each other node what
// its heartbeats last said (-1 before any), and brokers that are not voters as observers.
func TestDescribeQuorum(t *testing.T) {
	c, n := newTestController(t, 0, 1, 2)
	now := time.UnixMilli(1_700_000_000_000)
	d, err := c.DescribeQuorum(now)
	if err != nil {
		t.Fatal(err)
	}
	applied := int64(n.State().Index)
	if d.LeaderID != 0 || d.LeaderEpoch < 1 || d.HighWatermark < applied {
		t.Fatalf("leader %d, epoch %d, high watermark %d (applied %d)", d.LeaderID, d.LeaderEpoch, d.HighWatermark, applied)
	}
	if len(d.Voters) != 1 || d.Voters[0] != (ReplicaProgress{0, d.Voters[0].LogEndOffset, now.UnixMilli(), now.UnixMilli()}) ||
		d.Voters[0].LogEndOffset < applied {
		t.Fatalf("voters %+v", d.Voters)
	}
	if len(d.Observers) != 2 || d.Observers[0] != (ReplicaProgress{1, -1, -1, -1}) || d.Observers[1] != (ReplicaProgress{2, -1, -1, -1}) {
		t.Fatalf("observers before any heartbeat %+v", d.Observers)
	}

	c.MetadataProgress(1, applied, false, now.Add(time.Second))
	c.MetadataProgress(2, applied-1, false, now.Add(2*time.Second))
	d, err = c.DescribeQuorum(now.Add(3 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	s := now.Add(time.Second).UnixMilli()
	if got := d.Observers[0]; got != (ReplicaProgress{1, applied, s, s}) {
		t.Fatalf("caught-up observer %+v", got)
	}
	if got := d.Observers[1]; got != (ReplicaProgress{2, applied - 1, s + 1000, -1}) {
		t.Fatalf("lagging observer %+v", got)
	}

	// A voter reports its Raft log end, caught up at the commit index.
	commit := int64(n.CommitIndex())
	c.MetadataProgress(2, commit, true, now.Add(4*time.Second))
	d, _ = c.DescribeQuorum(now.Add(5 * time.Second))
	if got := d.Observers[1]; got != (ReplicaProgress{2, commit, s + 3000, s + 3000}) {
		t.Fatalf("caught-up Raft replica %+v (commit index %d)", got, commit)
	}
}
