package partition

import "testing"

// TestTraffic: appends as leader count their records and bytes once (a retried idempotent batch
// not again, a refused one not at all), appends as follower count as replication, and fetched
// bytes count by who fetched them.
func TestTraffic(t *testing.T) {
	p := newPartition(t, "", Config{})
	soleLeader(t, p, 0)
	const pid = 7
	b1, h1 := payload(t, idem(pid, 0, 0, 3))
	n1 := len(b1)
	if _, err := p.AppendAsLeader(b1, h1, -1); err != nil {
		t.Fatal(err)
	}
	b2, h2 := payload(t, plain(2), plain(5))
	n2 := len(b2)
	if _, err := p.AppendAsLeader(b2, h2, 1); err != nil {
		t.Fatal(err)
	}
	if info, err := produce(t, p, -1, idem(pid, 0, 0, 3)); err != nil || !info.Duplicate {
		t.Fatalf("retry: %+v %v", info, err)
	}
	if _, err := produce(t, p, -1, idem(pid, 0, 10, 1)); err == nil {
		t.Fatal("an out-of-order batch was appended")
	}
	want := Traffic{MessagesIn: 10, BytesIn: int64(n1 + n2)}
	if got := p.Traffic(); got != want {
		t.Fatalf("after appends: %+v, want %+v", got, want)
	}
	if got := p.LogEndOffset(); got != 10 {
		t.Fatalf("log end %d", got)
	}

	p.CountFetched(100, false)
	p.CountFetched(40, true)
	p.CountFetched(0, false)
	want.BytesOut, want.ReplicationBytesOut = 100, 40
	if got := p.Traffic(); got != want {
		t.Fatalf("after fetches: %+v, want %+v", got, want)
	}

	// A follower of the same records counts them as replication, not as messages in.
	f := newPartition(t, "", Config{})
	if err := f.BecomeFollower(2, 1, 1, []int32{self, 2}); err != nil {
		t.Fatal(err)
	}
	b3, _ := payload(t, plain(4))
	if err := f.AppendAsFollower(1, b3, 0); err != nil {
		t.Fatal(err)
	}
	if got := f.Traffic(); got != (Traffic{ReplicationBytesIn: int64(len(b3))}) {
		t.Fatalf("follower: %+v", got)
	}
}
