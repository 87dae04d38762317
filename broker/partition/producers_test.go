package partition

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/minikraft/minikraft/log"
)

// wantAppended checks a fresh (not duplicate) append at offsets first..last.
func wantAppended(t *testing.T, what string, info AppendInfo, err error, first, last int64) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if info.Duplicate || info.BaseOffset != first || info.LastOffset != last {
		t.Fatalf("%s = %+v, want a fresh append at %d..%d", what, info, first, last)
	}
}

// wantDuplicate checks that a retry was answered with the original offsets.
func wantDuplicate(t *testing.T, what string, info AppendInfo, err error, first, last int64) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !info.Duplicate || info.BaseOffset != first || info.LastOffset != last {
		t.Fatalf("%s = %+v, want a duplicate of %d..%d", what, info, first, last)
	}
}

// wantRefused checks that an append failed with want and left the log end where it was.
func wantRefused(t *testing.T, p *Partition, what string, b batch, want error) {
	t.Helper()
	leo := p.LogEndOffset()
	_, err := produce(t, p, -1, b)
	wantErr(t, what, err, want)
	if got := p.LogEndOffset(); got != leo {
		t.Fatalf("%s: refused append moved the log end from %d to %d", what, leo, got)
	}
}

func TestIdempotentProducerSequences(t *testing.T) {
	p := newPartition(t, "", Config{})
	soleLeader(t, p, 0)
	const pid = 1000

	info, err := produce(t, p, -1, idem(pid, 0, 0, 3))
	wantAppended(t, "seq 0..2", info, err, 0, 2)
	info, err = produce(t, p, -1, idem(pid, 0, 3, 2))
	wantAppended(t, "seq 3..4", info, err, 3, 4)

	// Retries of remembered batches: the original offsets, nothing appended.
	info, err = produce(t, p, -1, idem(pid, 0, 0, 3))
	wantDuplicate(t, "retry of seq 0..2", info, err, 0, 2)
	info, err = produce(t, p, -1, idem(pid, 0, 3, 2))
	wantDuplicate(t, "retry of seq 3..4", info, err, 3, 4)
	wantHW(t, p, 5, 5)

	// A gap, and batches overlapping appended ones without matching one exactly.
	wantRefused(t, p, "gap (seq 6 after 4)", idem(pid, 0, 6, 1), ErrOutOfOrderSequence)
	wantRefused(t, p, "overlap (seq 3..3)", idem(pid, 0, 3, 1), ErrOutOfOrderSequence)
	wantRefused(t, p, "overlap (seq 4..5)", idem(pid, 0, 4, 2), ErrOutOfOrderSequence)
	wantRefused(t, p, "overlap (seq 0..3)", idem(pid, 0, 0, 4), ErrOutOfOrderSequence)

	// The next sequence is still accepted after the refusals.
	info, err = produce(t, p, -1, idem(pid, 0, 5, 1))
	wantAppended(t, "seq 5", info, err, 5, 5)

	// A new epoch must start at sequence 0.
	wantRefused(t, p, "epoch 1 at seq 6", idem(pid, 1, 6, 1), ErrOutOfOrderSequence)
	info, err = produce(t, p, -1, idem(pid, 1, 0, 2))
	wantAppended(t, "epoch 1 seq 0..1", info, err, 6, 7)

	// The old epoch is fenced, retries of its batches included.
	wantRefused(t, p, "epoch 0 after epoch 1", idem(pid, 0, 6, 1), ErrInvalidProducerEpoch)
	wantRefused(t, p, "epoch 0 retry after epoch 1", idem(pid, 0, 5, 1), ErrInvalidProducerEpoch)
	info, err = produce(t, p, -1, idem(pid, 1, 0, 2))
	wantDuplicate(t, "retry in epoch 1", info, err, 6, 7)
	info, err = produce(t, p, -1, idem(pid, 1, 2, 1))
	wantAppended(t, "epoch 1 seq 2", info, err, 8, 8)
	if info.LogStartOffset != 0 || info.LogAppendTime != -1 {
		t.Fatalf("append info = %+v", info)
	}
	wantHW(t, p, 9, 9)
}

func TestProducersAreIndependent(t *testing.T) {
	p := newPartition(t, "", Config{})
	soleLeader(t, p, 0)

	// An unknown producer may start at any sequence and any epoch (KIP-360: its state may have
	// been lost to retention); from then on it is checked.
	info, err := produce(t, p, -1, idem(2000, 3, 12345, 2))
	wantAppended(t, "unknown producer at seq 12345", info, err, 0, 1)
	wantRefused(t, p, "gap after the first batch", idem(2000, 3, 12348, 1), ErrOutOfOrderSequence)
	wantRefused(t, p, "older epoch after the first batch", idem(2000, 2, 0, 1), ErrInvalidProducerEpoch)

	// Producer id 0 is a real id (the first one raftmeta hands out).
	info, err = produce(t, p, -1, idem(0, 0, 0, 1))
	wantAppended(t, "producer 0", info, err, 2, 2)
	info, err = produce(t, p, -1, idem(0, 0, 0, 1))
	wantDuplicate(t, "producer 0 retry", info, err, 2, 2)

	// Another producer's sequences do not interfere; non-idempotent batches are never
	// deduplicated and do not disturb anyone's sequence.
	info, err = produce(t, p, -1, idem(2001, 0, 12347, 1))
	wantAppended(t, "producer 2001", info, err, 3, 3)
	for i := range 2 {
		info, err = produce(t, p, -1, plain(1))
		wantAppended(t, "plain batch", info, err, 4+int64(i), 4+int64(i))
	}
	info, err = produce(t, p, -1, idem(2000, 3, 12347, 1))
	wantAppended(t, "producer 2000 in sequence", info, err, 6, 6)
	info, err = produce(t, p, -1, idem(2000, 3, 12345, 2))
	wantDuplicate(t, "producer 2000 retry of its first batch", info, err, 0, 1)
}

func TestSequenceWrapsAfterMaxInt32(t *testing.T) {
	p := newPartition(t, "", Config{})
	soleLeader(t, p, 0)

	// Ends exactly at MaxInt32; the next batch starts at 0.
	info, err := produce(t, p, -1, idem(1, 0, math.MaxInt32-1, 2))
	wantAppended(t, "seq MaxInt32-1..MaxInt32", info, err, 0, 1)
	wantRefused(t, p, "seq MaxInt32+1 written as 1", idem(1, 0, 1, 1), ErrOutOfOrderSequence)
	info, err = produce(t, p, -1, idem(1, 0, 0, 3))
	wantAppended(t, "wrapped to seq 0..2", info, err, 2, 4)
	info, err = produce(t, p, -1, idem(1, 0, math.MaxInt32-1, 2))
	wantDuplicate(t, "retry of the batch before the wrap", info, err, 0, 1)

	// A batch that wraps inside itself: MaxInt32, 0, 1.
	info, err = produce(t, p, -1, idem(2, 0, math.MaxInt32, 3))
	wantAppended(t, "seq MaxInt32..1", info, err, 5, 7)
	info, err = produce(t, p, -1, idem(2, 0, math.MaxInt32, 3))
	wantDuplicate(t, "retry of the wrapping batch", info, err, 5, 7)
	wantRefused(t, p, "gap after the wrapping batch", idem(2, 0, 3, 1), ErrOutOfOrderSequence)
	wantRefused(t, p, "overlap with the wrapping batch", idem(2, 0, 1, 1), ErrOutOfOrderSequence)
	info, err = produce(t, p, -1, idem(2, 0, 2, 1))
	wantAppended(t, "seq 2 after the wrapping batch", info, err, 8, 8)
}

func TestOnlyLastFiveBatchesAreRemembered(t *testing.T) {
	p := newPartition(t, "", Config{})
	soleLeader(t, p, 0)
	const pid = 3
	for seq := range int32(6) {
		info, err := produce(t, p, -1, idem(pid, 0, seq, 1))
		wantAppended(t, "batch", info, err, int64(seq), int64(seq))
	}
	// The oldest of six is forgotten: its retry is out of order, as in Kafka.
	wantRefused(t, p, "retry of the sixth-latest batch", idem(pid, 0, 0, 1), ErrOutOfOrderSequence)
	for seq := int32(1); seq < 6; seq++ {
		info, err := produce(t, p, -1, idem(pid, 0, seq, 1))
		wantDuplicate(t, "retry of a recent batch", info, err, int64(seq), int64(seq))
	}
	info, err := produce(t, p, -1, idem(pid, 0, 6, 1))
	wantAppended(t, "next batch", info, err, 6, 6)
	wantRefused(t, p, "retry of what is now the sixth-latest", idem(pid, 0, 1, 1), ErrOutOfOrderSequence)
}

// New rebuilds the idempotent producers' state from the log, as Kafka does without a producer
// snapshot: a retry that reaches a restarted leader is still recognised.
func TestProducerStateRebuiltFromLog(t *testing.T) {
	dir := t.TempDir()
	p, err := New(openLog(t, dir, log.DefaultConfig(), log.Options{}), Config{Topic: "t", NodeID: self})
	wantOK(t, "New", err)
	t.Cleanup(func() { _ = p.Close() })
	soleLeader(t, p, 0)
	var offsets [][2]int64
	for i := range int32(6) {
		info := mustProduce(t, p, idem(10, 0, 2*i, 2))
		offsets = append(offsets, [2]int64{info.BaseOffset, info.LastOffset})
		mustProduce(t, p, plain(1))
	}
	mustProduce(t, p, idem(11, 4, 0, 1)) // offset 18
	wantHW(t, p, 19, 19)
	wantOK(t, "Close", p.Close())

	p2 := newPartition(t, dir, Config{})
	soleLeader(t, p2, 1)
	wantHW(t, p2, 19, 19)
	wantRefused(t, p2, "retry of the sixth-latest batch", idem(10, 0, 0, 2), ErrOutOfOrderSequence)
	for i := 1; i < 6; i++ {
		info, err := produce(t, p2, -1, idem(10, 0, int32(2*i), 2))
		wantDuplicate(t, "retry after reopening", info, err, offsets[i][0], offsets[i][1])
	}
	wantRefused(t, p2, "gap after reopening", idem(10, 0, 13, 1), ErrOutOfOrderSequence)
	info, err := produce(t, p2, -1, idem(10, 0, 12, 1))
	wantAppended(t, "next sequence after reopening", info, err, 19, 19)

	wantRefused(t, p2, "older epoch after reopening", idem(11, 3, 1, 1), ErrInvalidProducerEpoch)
	wantRefused(t, p2, "new epoch not at 0 after reopening", idem(11, 5, 1, 1), ErrOutOfOrderSequence)
	info, err = produce(t, p2, -1, idem(11, 4, 0, 1))
	wantDuplicate(t, "retry of producer 11", info, err, 18, 18)
	info, err = produce(t, p2, -1, idem(11, 4, 1, 1))
	wantAppended(t, "producer 11 in sequence", info, err, 20, 20)
}

// A payload of several batches (ValidateBatches and AppendAsLeader accept any number) is checked
// batch by batch, each against the state the previous ones leave, as Kafka's
// UnifiedLog.analyzeAndValidateProducerState does.
func TestMultiBatchPayloadSequences(t *testing.T) {
	t.Run("in sequence", func(t *testing.T) {
		p := newPartition(t, "", Config{})
		soleLeader(t, p, 0)
		mustProduce(t, p, idem(1, 0, 0, 1))
		info, err := produce(t, p, -1, idem(1, 0, 1, 1), idem(1, 0, 2, 2))
		wantAppended(t, "two in-sequence batches in one payload", info, err, 1, 3)
		info, err = produce(t, p, -1, idem(1, 0, 4, 1))
		wantAppended(t, "the batch after them", info, err, 4, 4)
	})
	t.Run("gap", func(t *testing.T) {
		p := newPartition(t, "", Config{})
		soleLeader(t, p, 0)
		_, err := produce(t, p, -1, idem(2, 0, 0, 1), idem(2, 0, 5, 1))
		wantErr(t, "gap between the batches of one payload from a new producer", err, ErrOutOfOrderSequence)
		if p.LogEndOffset() != 0 {
			t.Fatalf("refused payload moved the log end to %d", p.LogEndOffset())
		}
	})
}

// A retried batch on a LogAppendTime topic is answered with the time the original was appended,
// as Kafka's UnifiedLog.append does (appendInfo.setLogAppendTime(duplicate.timestamp)); the
// producer turns it into the record's timestamp.
func TestDuplicateReportsOriginalLogAppendTime(t *testing.T) {
	cfg := log.DefaultConfig()
	cfg.MessageTimestampType = log.LogAppendTime
	var nowMs int64 = 1_800_000_000_000
	l := openLog(t, t.TempDir(), cfg, log.Options{Now: func() time.Time { return time.UnixMilli(nowMs) }})
	p, err := New(l, Config{Topic: "t", NodeID: self})
	wantOK(t, "New", err)
	t.Cleanup(func() { p.Close() })
	soleLeader(t, p, 0)

	first := mustProduce(t, p, idem(1, 0, 0, 1))
	if first.LogAppendTime != 1_800_000_000_000 {
		t.Fatalf("append on a LogAppendTime topic = %+v", first)
	}
	nowMs += 1000
	dup := mustProduce(t, p, idem(1, 0, 0, 1))
	if !dup.Duplicate || dup.BaseOffset != 0 || dup.LogAppendTime != first.LogAppendTime {
		t.Fatalf("retry = %+v, want a duplicate at 0 with LogAppendTime %d", dup, first.LogAppendTime)
	}
}

// TestActiveProducers: each producer's epoch, last sequence and last batch's max timestamp, by
// producer id; a producer that bumped its epoch shows only the new one; a follower answers too,
// a closed replica does not.
func TestActiveProducers(t *testing.T) {
	p := newPartition(t, "", Config{})
	soleLeader(t, p, 0)
	for _, b := range []batch{idem(7, 0, 0, 3), plain(2), idem(3, 1, 100, 1), idem(7, 0, 3, 2), idem(3, 2, 0, 4)} {
		if _, err := produce(t, p, -1, b); err != nil {
			t.Fatal(err)
		}
	}
	got, err := p.ActiveProducers()
	if err != nil {
		t.Fatal(err)
	}
	const ts = 1_700_000_000_000
	want := []ProducerState{
		{ProducerID: 3, ProducerEpoch: 2, LastSequence: 3, LastTimestamp: ts + 3, CoordinatorEpoch: -1, CurrentTxnStartOffset: -1},
		{ProducerID: 7, ProducerEpoch: 0, LastSequence: 4, LastTimestamp: ts + 1, CoordinatorEpoch: -1, CurrentTxnStartOffset: -1},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("ActiveProducers = %+v, want %+v", got, want)
	}
	if err := p.BecomeFollower(9, 1, 1, []int32{9, self}); err != nil {
		t.Fatal(err)
	}
	if got, err := p.ActiveProducers(); err != nil || !slices.Equal(got, want) {
		t.Fatalf("on a follower: %+v, %v", got, err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.ActiveProducers(); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed: %v, want ErrClosed", err)
	}
}

// TestExpireProducers: producers whose last batch is producer.id.expiration.ms old go, the
// others stay; one that comes back is taken as a new producer at any sequence.
func TestExpireProducers(t *testing.T) {
	p := newPartition(t, "", Config{})
	soleLeader(t, p, 0)
	old, recent := idem(7, 0, 0, 1), idem(8, 0, 0, 1)
	old.ts, recent.ts = 1_000_000, 5_000_000
	for _, b := range []batch{old, recent} {
		if _, err := produce(t, p, -1, b); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.ExpireProducers(time.UnixMilli(4_000_000), 3_000_000*time.Millisecond); n != 1 {
		t.Fatalf("expired %d, want 1", n)
	}
	got, err := p.ActiveProducers()
	if err != nil || len(got) != 1 || got[0].ProducerID != 8 {
		t.Fatalf("after expiry: %+v, %v", got, err)
	}
	// Producer 7 again, far ahead in sequence: unknown now, so accepted.
	again := idem(7, 0, 500, 1)
	again.ts = 4_000_000
	info, err := produce(t, p, -1, again)
	wantAppended(t, "expired producer again", info, err, 2, 2)
}
