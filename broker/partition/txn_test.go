package partition

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/minikraft/minikraft/log"
)

func wantLSO(t testing.TB, p *Partition, want int64) {
	t.Helper()
	if got := p.LastStableOffset(); got != want {
		t.Fatalf("LastStableOffset = %d, want %d (high watermark %d)", got, want, p.HighWatermark())
	}
}

// readCommitted reads from offset as a read_committed consumer: the batches and the aborted
// transactions.
func readCommitted(t testing.TB, p *Partition, offset int64) ([]log.BatchHeader, []log.AbortedTxn, int64) {
	t.Helper()
	res, err := p.ReadIsolated(offset, 1<<20, -1, -1, ReadCommitted)
	wantOK(t, "ReadIsolated", err)
	rr, err := p.ReadRecordsIsolated(offset, 1<<20, -1, -1, ReadCommitted)
	wantOK(t, "ReadRecordsIsolated", err)
	b, err := rr.Records.Bytes()
	rr.Records.Release()
	wantOK(t, "Records.Bytes", err)
	if string(b) != string(res.Records) || !slices.Equal(rr.AbortedTxns, res.AbortedTxns) || rr.LastStableOffset != res.LastStableOffset {
		t.Fatalf("ReadRecordsIsolated and ReadIsolated differ")
	}
	return storedHeaders(t, res.Records), res.AbortedTxns, res.LastStableOffset
}

// storedHeaders splits stored batches (markers included) into headers.
func storedHeaders(t testing.TB, b []byte) []log.BatchHeader {
	t.Helper()
	var out []log.BatchHeader
	for len(b) > 0 {
		h, err := log.ParseBatchHeader(b)
		if err != nil || h.Size() > len(b) {
			t.Fatalf("read result does not parse: %v", err)
		}
		out = append(out, h)
		b = b[h.Size():]
	}
	return out
}

func lastOffset(hs []log.BatchHeader) int64 {
	if len(hs) == 0 {
		return -1
	}
	return hs[len(hs)-1].LastOffset()
}

// TestTxnAppendsAndMarkers: a transactional batch opens a transaction at its first offset, which
// holds the last stable offset (and so read_committed reads) back until its marker; a plain
// batch from that producer is INVALID_TXN_STATE; markers are fenced by producer epoch and
// coordinator epoch; an ABORT is reported to read_committed readers; a retried marker is
// harmless; and all of it survives a restart.
func TestTxnAppendsAndMarkers(t *testing.T) {
	dir := t.TempDir()
	p := newPartition(t, dir, Config{})
	soleLeader(t, p, 0)
	mustProduce(t, p, txn(5, 0, 0, 2)) // 0-1
	mustProduce(t, p, plain(1))        // 2
	if !p.HasOngoingTxn(5) || p.HasOngoingTxn(6) {
		t.Fatal("HasOngoingTxn")
	}
	wantLSO(t, p, 0)
	if hs, _, lso := readCommitted(t, p, 0); len(hs) != 0 || lso != 0 {
		t.Fatalf("read_committed before the marker: %d batches, LSO %d", len(hs), lso)
	}
	_, err := produce(t, p, 1, idem(5, 0, 2, 1))
	wantErr(t, "plain batch inside a transaction", err, ErrInvalidTxnState)
	_, err = produce(t, p, 1, txn(7, 0, 0, 1), idem(7, 0, 1, 1))
	wantErr(t, "a payload opening a transaction then writing plainly", err, ErrInvalidTxnState)
	mustProduce(t, p, txn(5, 0, 2, 1)) // 3: the same transaction goes on
	states, err := p.ActiveProducers()
	wantOK(t, "ActiveProducers", err)
	if len(states) != 1 || states[0].CurrentTxnStartOffset != 0 || states[0].CoordinatorEpoch != -1 {
		t.Fatalf("ActiveProducers = %+v", states)
	}

	info, err := p.AppendMarker(5, 0, 4, false, -1) // 4: ABORT
	wantOK(t, "AppendMarker", err)
	if info.BaseOffset != 4 || info.LastOffset != 4 {
		t.Fatalf("marker at %+v", info)
	}
	if p.HasOngoingTxn(5) {
		t.Fatal("the transaction is still open after its marker")
	}
	wantLSO(t, p, 5)
	hs, aborted, lso := readCommitted(t, p, 0)
	if lso != 5 || lastOffset(hs) != 4 {
		t.Fatalf("read_committed after the marker: up to %d, LSO %d", lastOffset(hs), lso)
	}
	want := []log.AbortedTxn{{ProducerID: 5, FirstOffset: 0, LastOffset: 4, LastStableOffset: 5}}
	if !slices.Equal(aborted, want) {
		t.Fatalf("aborted = %+v, want %+v", aborted, want)
	}
	if res, err := p.Read(0, 1<<20, -1, -1); err != nil || res.AbortedTxns != nil || res.LastStableOffset != 5 {
		t.Fatalf("read_uncommitted: %+v, %v", res, err)
	}

	_, err = p.AppendMarker(5, 0, 3, true, -1)
	wantErr(t, "marker from an older coordinator", err, ErrCoordinatorFenced)
	_, err = p.AppendMarker(5, 0, 4, false, -1) // a retry: harmless
	wantOK(t, "retried marker", err)
	_, err = p.AppendMarker(11, 2, 0, false, -1) // 6: a producer known only from a marker
	wantOK(t, "marker for a producer with no data", err)
	_, err = produce(t, p, 1, txn(11, 2, 5, 1))
	wantErr(t, "the first batch after a marker not at sequence 0", err, ErrOutOfOrderSequence)
	mustProduce(t, p, txn(5, 1, 0, 1)) // 7: a newer epoch opens the next transaction
	_, err = p.AppendMarker(5, 0, 4, true, -1)
	wantErr(t, "marker with an older producer epoch", err, ErrInvalidProducerEpoch)
	_, err = produce(t, p, 1, txn(5, 0, 3, 1))
	wantErr(t, "transactional batch with an older producer epoch", err, ErrInvalidProducerEpoch)
	wantLSO(t, p, 7)

	// After a restart the log and the producer state say the same.
	wantOK(t, "Close", p.Close())
	p = newPartition(t, dir, Config{})
	soleLeader(t, p, 1)
	if !p.HasOngoingTxn(5) {
		t.Fatal("open transaction lost in the restart")
	}
	wantLSO(t, p, 7)
	_, err = produce(t, p, 1, txn(11, 2, 5, 1))
	wantErr(t, "the marker-only producer after a restart", err, ErrOutOfOrderSequence)
	_, err = p.AppendMarker(5, 1, 3, true, -1)
	wantErr(t, "coordinator fencing after a restart", err, ErrCoordinatorFenced)
	_, err = p.AppendMarker(5, 1, 4, true, -1)
	wantOK(t, "COMMIT", err)
	wantLSO(t, p, 9)
	hs, aborted, _ = readCommitted(t, p, 5)
	if lastOffset(hs) != 8 || len(aborted) != 0 {
		t.Fatalf("read_committed from 5: up to %d, aborted %+v", lastOffset(hs), aborted)
	}
	if _, aborted, _ = readCommitted(t, p, 0); !slices.Equal(aborted, want) {
		t.Fatalf("aborted from 0 after the restart: %+v", aborted)
	}
}

// TestTxnLSOWaitsForReplication: with a follower in the ISR the last stable offset stays at a
// decided transaction's first offset until the high watermark passes its marker (Kafka's
// unreplicated transactions); WriteMarker waits for the follower; the high watermark move wakes
// a registered (long-poll) waiter.
func TestTxnLSOWaitsForReplication(t *testing.T) {
	p := newPartition(t, "", Config{MinInsyncReplicas: 2})
	wantOK(t, "BecomeLeader", p.BecomeLeader(0, 0, []int32{self, 2}, []int32{self, 2}))
	p.UpdateFollower(2, 0)
	_, err := produce(t, p, -1, txn(9, 0, 0, 3)) // 0-2
	wantOK(t, "produce", err)
	p.UpdateFollower(2, 3)
	wantLSO(t, p, 0)

	done := make(chan error, 1)
	go func() { done <- p.WriteMarker(context.Background(), 9, 0, 0, true) }()
	waitUntil(t, "the marker", func() bool { return p.LogEndOffset() == 4 })
	select {
	case err := <-done:
		t.Fatalf("WriteMarker returned before the follower had the marker: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	wantLSO(t, p, 0) // decided, but the marker is not below the high watermark

	wake := make(chan struct{}, 1)
	cancel := p.Register(wake)
	defer cancel()
	p.UpdateFollower(2, 4)
	select {
	case <-wake:
	case <-time.After(10 * time.Second):
		t.Fatal("no wake-up when the marker was replicated")
	}
	wantLSO(t, p, 4)
	select {
	case err := <-done:
		wantOK(t, "WriteMarker", err)
	case <-time.After(10 * time.Second):
		t.Fatal("WriteMarker did not return")
	}
	_, err = p.AppendMarker(9, 0, 0, true, -1)
	wantOK(t, "a retried marker", err)
	wantOK(t, "BecomeLeader", p.BecomeLeader(0, 0, []int32{self, 2}, []int32{self}))
	_, err = p.AppendMarker(9, 0, 0, true, -1)
	wantErr(t, "acks=all marker below min.insync.replicas", err, ErrNotEnoughReplicas)
}

// TestTxnFollower: a follower learns transactions from what it replicates (markers are ordinary
// batches to it), computes its own last stable offset, and a truncation that cuts a marker opens
// its transaction again.
func TestTxnFollower(t *testing.T) {
	leader := newPartition(t, "", Config{})
	soleLeader(t, leader, 0)
	mustProduce(t, leader, txn(3, 0, 0, 2)) // 0-1
	_, err := leader.AppendMarker(3, 0, 7, false, -1)
	wantOK(t, "marker", err)                // 2
	mustProduce(t, leader, txn(4, 0, 0, 1)) // 3
	res, err := leader.Read(0, 1<<20, 2, -1)
	wantOK(t, "Read", err)

	f := newPartition(t, "", Config{})
	wantOK(t, "BecomeFollower", f.BecomeFollower(2, 0, 0, []int32{2, self}))
	wantOK(t, "AppendAsFollower", f.AppendAsFollower(0, res.Records, 4))
	if !f.HasOngoingTxn(4) || f.HasOngoingTxn(3) {
		t.Fatal("follower's open transactions")
	}
	wantLSO(t, f, 3)
	states, err := f.ActiveProducers()
	wantOK(t, "ActiveProducers", err)
	if len(states) != 2 || states[0].CoordinatorEpoch != 7 || states[1].CurrentTxnStartOffset != 3 {
		t.Fatalf("follower's producers: %+v", states)
	}
	wantOK(t, "TruncateTo", f.TruncateTo(0, 2))
	if !f.HasOngoingTxn(3) || f.HasOngoingTxn(4) {
		t.Fatal("after truncating the marker: pid 3 open again, pid 4 gone")
	}
	wantLSO(t, f, 0)
	if a := f.Log().AbortedTxns(0, 10); len(a) != 0 {
		t.Fatalf("aborted index after the truncation: %+v", a)
	}
}

// TestTxnProducerExpiry: a producer with an open transaction is not expired.
func TestTxnProducerExpiry(t *testing.T) {
	p := newPartition(t, "", Config{})
	soleLeader(t, p, 0)
	mustProduce(t, p, txn(1, 0, 0, 1), idem(2, 0, 0, 1))
	if n := p.ExpireProducers(time.UnixMilli(1_700_000_000_000).Add(time.Hour), time.Minute); n != 1 {
		t.Fatalf("expired %d, want 1 (the one outside a transaction)", n)
	}
	if states, _ := p.ActiveProducers(); len(states) != 1 || states[0].ProducerID != 1 {
		t.Fatalf("left: %+v", states)
	}
}

// TestTxnConcurrentReadCommitted: producers commit and abort transactions at random while
// read_committed readers filter what they read with the aborted transactions they are given, as a
// consumer does: they must never see a record of a transaction not committed, nor read past the
// last stable offset.
func TestTxnConcurrentReadCommitted(t *testing.T) {
	p := newPartition(t, "", Config{})
	soleLeader(t, p, 0)
	const producers, txnsEach = 4, 60
	var decided sync.Map // "pid/seq" of a transaction's first batch -> commit (bool)
	var wg sync.WaitGroup
	for w := range producers {
		pid := int64(100 + w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(pid), 1))
			seq := int32(0)
			for range txnsEach {
				first := seq
				for range 1 + rng.IntN(3) {
					_, err := produce(t, p, 1, txn(pid, 0, seq, 1))
					if err != nil {
						t.Errorf("produce: %v", err)
						return
					}
					seq++
				}
				commit := rng.IntN(2) == 0
				decided.Store(fmt.Sprintf("%d/%d", pid, first), commit)
				if _, err := p.AppendMarker(pid, 0, 0, commit, 1); err != nil {
					t.Errorf("marker: %v", err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				res, err := p.ReadIsolated(0, 1<<20, -1, -1, ReadCommitted)
				if err != nil {
					t.Errorf("read: %v", err)
					return
				}
				checkCommittedView(t, res, &decided)
			}
		}()
	}
	wg.Wait()
	close(done)
	readers.Wait()
	res, err := p.ReadIsolated(0, 1<<20, -1, -1, ReadCommitted)
	wantOK(t, "final read", err)
	if res.LastStableOffset != p.LogEndOffset() {
		t.Fatalf("LSO %d with every transaction decided, log end %d", res.LastStableOffset, p.LogEndOffset())
	}
	if n := checkCommittedView(t, res, &decided); n == 0 {
		t.Fatal("no committed record read")
	}
}

// checkCommittedView filters a read_committed result as a consumer does and checks that every
// record left is from a committed transaction whose decision was made; it returns how many.
func checkCommittedView(t *testing.T, res ReadResult, decided *sync.Map) int {
	aborted := slices.Clone(res.AbortedTxns)
	slices.SortFunc(aborted, func(a, b log.AbortedTxn) int { return cmp.Compare(a.FirstOffset, b.FirstOffset) })
	skipping := map[int64]bool{}
	txnStart := map[int64]int32{} // pid -> base sequence of its current transaction's first batch
	n := 0
	for _, h := range storedHeaders(t, res.Records) {
		if h.LastOffset() >= res.LastStableOffset {
			t.Errorf("read past the LSO %d: batch at %d", res.LastStableOffset, h.BaseOffset)
		}
		for len(aborted) > 0 && aborted[0].FirstOffset <= h.BaseOffset {
			skipping[aborted[0].ProducerID] = true
			aborted = aborted[1:]
		}
		if h.IsControl() {
			delete(skipping, h.ProducerID)
			delete(txnStart, h.ProducerID)
			continue
		}
		if _, ok := txnStart[h.ProducerID]; !ok {
			txnStart[h.ProducerID] = h.BaseSequence
		}
		if skipping[h.ProducerID] {
			continue
		}
		key := fmt.Sprintf("%d/%d", h.ProducerID, txnStart[h.ProducerID])
		commit, ok := decided.Load(key)
		if !ok || !commit.(bool) {
			t.Errorf("read_committed saw batch at %d of transaction %s (decided %v, commit %v)", h.BaseOffset, key, ok, commit)
		}
		n++
	}
	return n
}

// TestTV2MarkerOfPreviousTransaction: under transaction version 2 the end of a transaction
// bumps the epoch and its markers carry the new one, which the producer's next transaction then
// uses. A late copy of the previous transaction's marker (a retried or delayed WriteTxnMarkers)
// has the epoch of the transaction now open, and must not end it: the last stable offset would
// pass records nobody committed (Kafka's KAFKA-19446: a version 2 marker needs an epoch above
// the producer's). The same copy with no transaction open is a harmless retry (KAFKA-19999), and
// a version 0/1 marker keeps the old rule (an epoch not below the producer's).
func TestTV2MarkerOfPreviousTransaction(t *testing.T) {
	p := newPartition(t, "", Config{})
	soleLeader(t, p, 0)
	mustProduce(t, p, txn(5, 3, 0, 2)) // 0-1: a transaction at epoch 3
	_, err := p.AppendMarkerVersion(5, 4, 0, true, -1, 2)
	wantOK(t, "COMMIT at the bumped epoch 4", err) // 2
	wantLSO(t, p, 3)
	_, err = p.AppendMarkerVersion(5, 4, 0, true, -1, 2)
	wantOK(t, "a retry of that COMMIT, no transaction open", err) // 3
	wantLSO(t, p, 4)

	mustProduce(t, p, txn(5, 4, 0, 2)) // 4-5: the next transaction, at epoch 4
	wantLSO(t, p, 4)
	_, err = p.AppendMarkerVersion(5, 4, 0, true, -1, 2)
	wantErr(t, "the previous transaction's COMMIT while the next one is open", err, ErrInvalidProducerEpoch)
	if !p.HasOngoingTxn(5) {
		t.Fatal("a late marker of the previous transaction ended the open one")
	}
	wantLSO(t, p, 4)
	mustProduce(t, p, plain(1)) // 6
	wantLSO(t, p, 4)

	_, err = p.AppendMarkerVersion(5, 5, 0, false, -1, 2)
	wantOK(t, "the open transaction's own ABORT, at epoch 5", err) // 7
	wantLSO(t, p, 8)

	// Version 0/1: the marker has the data's epoch, which it may end.
	mustProduce(t, p, txn(5, 5, 0, 1)) // 8
	_, err = p.AppendMarkerVersion(5, 5, 0, true, -1, 0)
	wantOK(t, "a version 1 COMMIT at the data's epoch", err) // 9
	wantLSO(t, p, 10)
}

// TestTxnTruncateAroundOpenTransaction: a follower's truncation inside an open transaction keeps
// it open at its first offset; one below its first offset ends it (its batches are gone), so the
// last stable offset is the high watermark again, and what the new leader then replicates there
// opens its own; after a restart the replica rebuilds the same from its log. Becoming leader,
// it answers those last stable offsets.
func TestTxnTruncateAroundOpenTransaction(t *testing.T) {
	leader := newPartition(t, "", Config{})
	soleLeader(t, leader, 0)
	mustProduce(t, leader, plain(2))        // 0-1
	mustProduce(t, leader, txn(4, 0, 0, 2)) // 2-3: opens pid 4's transaction at 2
	mustProduce(t, leader, txn(4, 0, 2, 2)) // 4-5
	res, err := leader.Read(0, 1<<20, 2, -1)
	wantOK(t, "Read", err)

	dir := t.TempDir()
	f := newPartition(t, dir, Config{})
	wantOK(t, "BecomeFollower", f.BecomeFollower(2, 0, 0, []int32{2, self}))
	wantOK(t, "AppendAsFollower", f.AppendAsFollower(0, res.Records, 6))
	wantLSO(t, f, 2)
	wantOK(t, "TruncateTo", f.TruncateTo(0, 4)) // inside the transaction
	if first, ok := f.Log().OngoingTxn(4); !ok || first != 2 {
		t.Fatalf("after a truncation inside it: open %v at %d, want at 2", ok, first)
	}
	wantLSO(t, f, 2)
	wantOK(t, "TruncateTo", f.TruncateTo(0, 2)) // below its first offset
	if f.HasOngoingTxn(4) {
		t.Fatal("pid 4's transaction still open after its batches were truncated")
	}
	wantLSO(t, f, 2) // the high watermark, cut to the log end

	// The new leader had other records there: pid 5's transaction from 3.
	nl := newPartition(t, "", Config{})
	soleLeader(t, nl, 1)
	mustProduce(t, nl, plain(2))         // 0-1
	mustProduce(t, nl, plain(1))         // 2
	mustProduce(t, nl, txn(5, 0, 0, 1))  // 3
	mustProduce(t, nl, idem(4, 1, 0, 1)) // 4: pid 4, fenced and now plain
	res, err = nl.Read(2, 1<<20, 2, -1)
	wantOK(t, "Read", err)
	wantOK(t, "BecomeFollower", f.BecomeFollower(3, 1, 1, []int32{3, self}))
	wantOK(t, "AppendAsFollower", f.AppendAsFollower(1, res.Records, 5))
	if f.HasOngoingTxn(4) || !f.HasOngoingTxn(5) {
		t.Fatal("after replicating the new leader: pid 5 open, pid 4 not")
	}
	wantLSO(t, f, 3)

	// A restart rebuilds the same (the partition's state from its log), and as leader it
	// answers the same last stable offset until pid 5's transaction ends.
	wantOK(t, "Close", f.Close())
	f2 := newPartition(t, dir, Config{})
	soleLeader(t, f2, 2)
	if first, ok := f2.Log().OngoingTxn(5); !ok || first != 3 || f2.HasOngoingTxn(4) {
		t.Fatalf("after a restart: pid 5 open %v at %d; pid 4 open %v", ok, first, f2.HasOngoingTxn(4))
	}
	wantLSO(t, f2, 3)
	_, err = f2.AppendMarker(5, 0, 0, true, 1)
	wantOK(t, "marker", err)
	wantLSO(t, f2, f2.LogEndOffset())
}
