package log

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
)

// txnBatch is a transactional batch of keyed records from producer pid.
func txnBatch(pid int64, seq int32, ts int64, kvs ...[2]string) []byte {
	recs := make([]testRecord, len(kvs))
	for i, kv := range kvs {
		recs[i] = testRecord{key: []byte(kv[0]), value: []byte(kv[1]), tsDelta: int64(i)}
	}
	return batchSpec{attrs: attrTransactional, producerID: pid, baseSeq: seq, firstTs: ts, records: recs}.build()
}

func marker(pid int64, commit bool, ts int64) []byte {
	return EncodeMarker(pid, 0, Marker{Commit: commit, CoordinatorEpoch: 3}, ts)
}

func openMem(t testing.TB, mem *MemFS, cfg Config, clock *fakeClock) *Log {
	t.Helper()
	l, err := Open("/t", cfg, Options{FS: mem, Now: clock.now})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func wantAborted(t testing.TB, l *Log, from, upper int64, want ...AbortedTxn) {
	t.Helper()
	if got := l.AbortedTxns(from, upper); !slices.Equal(got, want) {
		t.Fatalf("AbortedTxns(%d, %d) = %+v, want %+v", from, upper, got, want)
	}
}

// TestMarkerEncoding: EncodeMarker builds what Kafka writes (transactional control batch, one
// record, key version 0 and type, value version 0 and coordinator epoch) and ParseMarker reads it
// back; other control types and bad keys are told apart.
func TestMarkerEncoding(t *testing.T) {
	for _, commit := range []bool{false, true} {
		b := EncodeMarker(42, 7, Marker{Commit: commit, CoordinatorEpoch: 9}, 1000)
		h, err := ParseBatchHeader(b)
		must(t, err)
		if !h.IsControl() || !h.IsTransactional() || h.ProducerID != 42 || h.ProducerEpoch != 7 || h.BaseSequence != -1 || h.NumRecords != 1 {
			t.Fatalf("header %+v", h)
		}
		must(t, checkCRC(h, b))
		m, ok, err := ParseMarker(b)
		if err != nil || !ok || m != (Marker{Commit: commit, CoordinatorEpoch: 9}) {
			t.Fatalf("ParseMarker = %+v, %v, %v", m, ok, err)
		}
	}
	other := batchSpec{attrs: attrControl, records: []testRecord{{key: []byte{0, 0, 0, 2}, value: []byte{0, 0}}}}.build()
	if _, ok, err := ParseMarker(other); ok || err != nil {
		t.Fatalf("a LEADER_CHANGE record is no marker: %v %v", ok, err)
	}
	short := batchSpec{attrs: attrControl, records: []testRecord{{key: []byte{0, 0, 0}, value: []byte{0, 0, 0, 0, 0, 0}}}}.build()
	if _, _, err := ParseMarker(short); !errors.Is(err, ErrCorruptBatch) {
		t.Fatalf("short key: %v", err)
	}
	data := batchSpec{records: []testRecord{{key: []byte("k")}}}.build()
	if _, ok, err := ParseMarker(data); ok || err != nil {
		t.Fatalf("a data batch is no marker: %v %v", ok, err)
	}
}

// TestTxnStateAndLSO: open transactions start at their first batch and end at their marker; the
// last stable offset stops at the earliest open one, and at a decided one until the high
// watermark passes its marker; an ABORT indexes the transaction with Kafka's last stable offset
// (the next open transaction's start); a marker with no open transaction indexes nothing.
func TestTxnStateAndLSO(t *testing.T) {
	clock := &fakeClock{ms: 1_700_000_000_000}
	l := openMem(t, NewMemFS(), testConfig(), clock)
	mustAppend(t, l, txnBatch(1, 0, clock.ms, [2]string{"a", "1"}, [2]string{"b", "1"}), 0) // 0-1
	mustAppend(t, l, txnBatch(2, 0, clock.ms, [2]string{"c", "2"}), 0)                      // 2
	mustAppend(t, l, simpleBatch(1, clock.ms), 0)                                           // 3
	mustAppend(t, l, txnBatch(1, 2, clock.ms, [2]string{"d", "1"}), 0)                      // 4
	if first, ok := l.OngoingTxn(1); !ok || first != 0 {
		t.Fatalf("OngoingTxn(1) = %d, %v", first, ok)
	}
	if lso := l.LastStableOffset(5); lso != 0 {
		t.Fatalf("LSO with two open transactions = %d, want 0", lso)
	}
	if lso := l.LastStableOffset(0); lso != 0 {
		t.Fatalf("LSO never passes the high watermark: %d", lso)
	}
	mustAppend(t, l, marker(1, false, clock.ms), 0) // 5: abort pid 1
	if _, ok := l.OngoingTxn(1); ok {
		t.Fatal("pid 1 still open after its marker")
	}
	if lso := l.LastStableOffset(5); lso != 0 {
		t.Fatalf("LSO before the high watermark passes the marker = %d, want 0", lso)
	}
	if lso := l.LastStableOffset(6); lso != 2 {
		t.Fatalf("LSO with pid 2 open = %d, want 2", lso)
	}
	wantAborted(t, l, 0, 6, AbortedTxn{ProducerID: 1, FirstOffset: 0, LastOffset: 5, LastStableOffset: 2})
	wantAborted(t, l, 6, 7)                        // ends before the fetch
	wantAborted(t, l, 0, 0)                        // starts at the upper bound
	mustAppend(t, l, marker(2, true, clock.ms), 0) // 6: commit pid 2
	if lso := l.LastStableOffset(7); lso != 7 {
		t.Fatalf("LSO with nothing open = %d, want 7", lso)
	}
	mustAppend(t, l, marker(2, false, clock.ms), 0) // 7: a retried or stray marker
	wantAborted(t, l, 0, 8, AbortedTxn{ProducerID: 1, FirstOffset: 0, LastOffset: 5, LastStableOffset: 2})
	if got := l.OngoingTxns(); len(got) != 0 {
		t.Fatalf("OngoingTxns = %v", got)
	}
	// A follower's replicated copy tracks the same.
	f := openMem(t, NewMemFS(), testConfig(), clock)
	data, err := l.Read(0, 1<<20, l.EndOffset())
	must(t, err)
	if _, err := f.AppendReplicated(data); err != nil {
		t.Fatal(err)
	}
	wantAborted(t, f, 0, 8, AbortedTxn{ProducerID: 1, FirstOffset: 0, LastOffset: 5, LastStableOffset: 2})
	if lso := f.LastStableOffset(8); lso != 8 {
		t.Fatalf("follower LSO = %d", lso)
	}
}

// TestTxnIndexLifecycle: the .txnindex follows its segment through roll, a clean restart (read
// from the file), truncation (entries of cut markers go and their transactions are open again),
// a crash (rebuilt for a recovered segment, including an index lost with it) and retention
// (deleted with its segment).
func TestTxnIndexLifecycle(t *testing.T) {
	mem := NewMemFS()
	clock := &fakeClock{ms: 1_700_000_000_000}
	cfg := testConfig()
	cfg.FileDeleteDelayMs = 0
	l := openMem(t, mem, cfg, clock)
	mustAppend(t, l, txnBatch(1, 0, clock.ms, [2]string{"a", "1"}), 0) // 0
	mustAppend(t, l, marker(1, false, clock.ms), 0)                    // 1
	forceRoll(t, l)
	mustAppend(t, l, txnBatch(2, 0, clock.ms, [2]string{"b", "2"}), 0) // 2
	mustAppend(t, l, txnBatch(3, 0, clock.ms, [2]string{"c", "3"}), 0) // 3
	mustAppend(t, l, marker(2, false, clock.ms), 0)                    // 4
	a1 := AbortedTxn{ProducerID: 1, FirstOffset: 0, LastOffset: 1, LastStableOffset: 2}
	a2 := AbortedTxn{ProducerID: 2, FirstOffset: 2, LastOffset: 4, LastStableOffset: 3}
	wantAborted(t, l, 0, 5, a1, a2)
	wantAborted(t, l, 2, 5, a2)
	for _, base := range []int64{0, 2} {
		if _, err := mem.ReadFile(segmentName("/t", base, extTxnIndex)); err != nil {
			t.Fatalf("segment %d: %v", base, err)
		}
	}

	// Clean restart: the files and the state snapshot are read back, the log is not scanned.
	// (The decided transactions are dropped from the state once the high watermark passes them.)
	if lso := l.LastStableOffset(5); lso != 3 {
		t.Fatalf("LSO = %d", lso)
	}
	must(t, l.Close())
	snap, err := mem.ReadFile("/t/" + txnStateFile)
	must(t, err)
	if want := "0\n2\ne 5 -1 1\no 3 3 -1\n"; string(snap) != want {
		t.Fatalf("%s = %q, want %q", txnStateFile, snap, want)
	}
	must(t, mem.WriteFile("/t/"+txnStateFile, []byte("0\n2\ne 5 -1 1\no 7 4 -1\n")))
	l = openMem(t, mem, cfg, clock)
	if first, ok := l.OngoingTxn(7); !ok || first != 4 {
		t.Fatalf("the snapshot was not used: %d %v", first, ok)
	}
	must(t, l.Close())
	// A snapshot for another log end is not: the log is scanned.
	must(t, mem.WriteFile("/t/"+txnStateFile, []byte("0\n2\ne 4 -1 1\no 7 4 -1\n")))
	l = openMem(t, mem, cfg, clock)
	wantAborted(t, l, 0, 5, a1, a2)
	if first, ok := l.OngoingTxn(3); !ok || first != 3 {
		t.Fatalf("open transaction after restart: %d %v", first, ok)
	}
	if _, ok := l.OngoingTxn(7); ok {
		t.Fatal("a snapshot for another log end was used")
	}

	// Truncation cuts pid 2's marker: its entry goes and it is open again.
	must(t, l.Truncate(4))
	wantAborted(t, l, 0, 5, a1)
	if first, ok := l.OngoingTxn(2); !ok || first != 2 {
		t.Fatalf("pid 2 after truncating its marker: %d %v", first, ok)
	}
	if _, err := mem.ReadFile(segmentName("/t", 2, extTxnIndex)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("emptied .txnindex: %v", err)
	}
	mustAppend(t, l, marker(2, false, clock.ms), 0) // 4 again
	mustAppend(t, l, marker(3, false, clock.ms), 0) // 5
	a3 := AbortedTxn{ProducerID: 3, FirstOffset: 3, LastOffset: 5, LastStableOffset: 6}
	wantAborted(t, l, 0, 6, a1, a2, a3)

	// A crash loses what was not synced, the active segment's index among it: rebuilt.
	l.wmu.Lock()
	must(t, l.flushLocked())
	l.wmu.Unlock()
	must(t, mem.Remove(segmentName("/t", 2, extTxnIndex)))
	crashed := mem.Crash()
	l2, err := Open("/t", cfg, Options{FS: crashed, Now: clock.now})
	must(t, err)
	wantAborted(t, l2, 0, 6, a1, a2, a3)
	if _, err := crashed.ReadFile(segmentName("/t", 2, extTxnIndex)); err != nil {
		t.Fatalf("rebuilt index not written: %v", err)
	}
	// A bad file in a trusted segment is rebuilt too.
	must(t, l2.Close())
	must(t, crashed.WriteFile(segmentName("/t", 0, extTxnIndex), []byte{1, 2, 3}))
	l2, err = Open("/t", cfg, Options{FS: crashed, Now: clock.now})
	must(t, err)
	defer l2.Close()
	wantAborted(t, l2, 0, 6, a1, a2, a3)

	// Retention takes the first segment and its index.
	must(t, l2.SetStartOffset(2))
	if _, err := l2.DeleteOldSegments(6); err != nil {
		t.Fatal(err)
	}
	wantAborted(t, l2, 2, 6, a2, a3)
	if _, err := crashed.ReadFile(segmentName("/t", 0, extTxnIndex)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the deleted segment's .txnindex: %v", err)
	}
}

// TestCompactionTransactions: the cleaner removes an aborted transaction's records (which do not
// shadow the committed value of their key), keeps its marker and index entry while it removes
// them, gives the marker a delete horizon in the pass that finds the transaction gone and empties
// it after delete.retention.ms; an open transaction's records, beyond the last stable offset, are
// not touched.
func TestCompactionTransactions(t *testing.T) {
	mem := NewMemFS()
	clock := &fakeClock{ms: 1_700_000_000_000}
	cfg := compactConfig()
	cfg.DeleteRetentionMs = 1000
	l := openMem(t, mem, cfg, clock)
	ts := clock.ms
	mustAppend(t, l, txnBatch(1, 0, ts, [2]string{"a", "committed"}), 0) // 0
	mustAppend(t, l, marker(1, true, ts), 0)                             // 1
	mustAppend(t, l, txnBatch(2, 0, ts, [2]string{"a", "aborted"}), 0)   // 2
	mustAppend(t, l, txnBatch(2, 1, ts, [2]string{"b", "aborted"}), 0)   // 3
	mustAppend(t, l, marker(2, false, ts), 0)                            // 4
	mustAppend(t, l, txnBatch(3, 0, ts, [2]string{"a", "open"}), 0)      // 5
	mustAppend(t, l, kvBatch(ts, [2]string{"z", "1"}), 0)                // 6
	forceRoll(t, l)
	mustAppend(t, l, kvBatch(ts, [2]string{"y", "1"}), 0) // 7
	end := l.EndOffset()
	if lso := l.LastStableOffset(end); lso != 5 {
		t.Fatalf("LSO = %d", lso)
	}
	st := mustClean(t, l, end)
	if !st.Cleaned || st.End > 5 {
		t.Fatalf("first clean %+v: must stop at the LSO", st)
	}
	b, err := l.Read(0, 1<<20, end)
	must(t, err)
	got := records(t, nil, b)
	var keys []string
	for _, r := range got {
		keys = append(keys, r.key+"="+r.value)
	}
	want := []string{"a=committed", "\x00\x00\x00\x01=\x00\x00\x00\x00\x00\x03", "\x00\x00\x00\x00=\x00\x00\x00\x00\x00\x03", "a=open", "z=1", "y=1"}
	if !slices.Equal(keys, want) {
		t.Fatalf("after the first clean: %q, want %q", keys, want)
	}
	wantAborted(t, l, 0, end, AbortedTxn{ProducerID: 2, FirstOffset: 2, LastOffset: 4, LastStableOffset: 5})
	// The cleaned segment's .txnindex went in with it: a clean restart reads it back.
	must(t, l.Close())
	l = openMem(t, mem, cfg, clock)
	wantAborted(t, l, 0, end, AbortedTxn{ProducerID: 2, FirstOffset: 2, LastOffset: 4, LastStableOffset: 5})
	if first, ok := l.OngoingTxn(3); !ok || first != 5 {
		t.Fatalf("the open transaction after cleaning and restart: %d %v", first, ok)
	}

	// Commit the open transaction, add dirty data, clean again (each pass needs new dirty data).
	// Pass 2: pid 2's marker (its batches went in pass 1) gets a delete horizon; pid 1's does not
	// yet: its batch, shadowed by "a=open" now, was read in this pass (Kafka's rule).
	mustAppend(t, l, marker(3, true, ts), 0)
	next := 0
	cleanAgain := func() {
		next++
		mustAppend(t, l, kvBatch(ts, [2]string{"x" + string(rune('0'+next)), "1"}), 0)
		forceRoll(t, l)
		mustAppend(t, l, kvBatch(ts, [2]string{"y" + string(rune('0'+next)), "1"}), 0)
		end = l.EndOffset()
		mustClean(t, l, end)
	}
	markerAt := func(off int64) BatchHeader {
		for _, h := range mustRead(t, l, 0, 1<<20, l.EndOffset()) {
			if h.BaseOffset == off {
				return h
			}
		}
		t.Fatalf("no batch at %d", off)
		return BatchHeader{}
	}
	cleanAgain()
	if h := markerAt(4); h.NumRecords != 1 || !hasHorizon(h) {
		t.Fatalf("pid 2's marker after pass 2: %+v", h)
	}
	if h := markerAt(1); h.NumRecords != 1 || hasHorizon(h) {
		t.Fatalf("pid 1's marker after pass 2: %+v", h)
	}
	// Pass 3, after delete.retention.ms: pid 2's marker is emptied (an empty header stays: it is
	// its producer's last batch), pid 1's gets its horizon.
	clock.ms += 2000
	cleanAgain()
	if h := markerAt(4); h.NumRecords != 0 {
		t.Fatalf("pid 2's marker after its horizon: %+v", h)
	}
	if h := markerAt(1); h.NumRecords != 1 || !hasHorizon(h) {
		t.Fatalf("pid 1's marker after pass 3: %+v", h)
	}
	clock.ms += 2000
	cleanAgain()
	if h := markerAt(1); h.NumRecords != 0 {
		t.Fatalf("pid 1's marker after its horizon: %+v", h)
	}
	for _, h := range mustRead(t, l, 0, 1<<20, end) {
		if h.ProducerID == 2 && !h.IsControl() {
			t.Fatalf("aborted batch at %d survived", h.BaseOffset)
		}
	}
	b, err = l.Read(0, 1<<20, end)
	must(t, err)
	for _, r := range records(t, nil, b) {
		if r.key == "a" && r.value != "open" {
			t.Fatalf("a=%s survived", r.value)
		}
	}
	// The restart rebuilds the same state from the cleaned log.
	must(t, l.Close())
	l = openMem(t, mem, cfg, clock)
	if got := l.OngoingTxns(); len(got) != 0 {
		t.Fatalf("open transactions after cleaning and restart: %v", got)
	}
}

func hasHorizon(h BatchHeader) bool {
	_, ok := deleteHorizon(h)
	return ok
}

// TestCompactionAbortPastLSO: a cleaned segment may reach past the last stable offset (cleaning
// stops at an open transaction inside it); an aborted transaction there loses its batches, and
// its marker stays while they were there, as Kafka, which collects the aborted transactions of
// each whole segment it rewrites.
func TestCompactionAbortPastLSO(t *testing.T) {
	clock := &fakeClock{ms: 1_700_000_000_000}
	cfg := compactConfig()
	l := openMem(t, NewMemFS(), cfg, clock)
	ts := clock.ms
	mustAppend(t, l, kvBatch(ts, [2]string{"k", "1"}), 0)              // 0
	mustAppend(t, l, txnBatch(9, 0, ts, [2]string{"open", "1"}), 0)    // 1
	mustAppend(t, l, txnBatch(8, 0, ts, [2]string{"aborted", "1"}), 0) // 2
	mustAppend(t, l, marker(8, false, ts), 0)                          // 3
	mustAppend(t, l, kvBatch(ts, [2]string{"k", "2"}), 0)              // 4
	forceRoll(t, l)
	mustAppend(t, l, kvBatch(ts, [2]string{"z", "1"}), 0)
	end := l.EndOffset()
	if st := mustClean(t, l, end); !st.Cleaned || st.End != 1 {
		t.Fatalf("clean %+v: must stop at the LSO, 1", st)
	}
	for _, h := range mustRead(t, l, 0, 1<<20, end) {
		switch {
		case h.ProducerID == 8 && !h.IsControl() && h.NumRecords > 0:
			t.Fatalf("the aborted batch at %d kept its records", h.BaseOffset)
		case h.ProducerID == 8 && h.IsControl() && (hasHorizon(h) || h.NumRecords != 1):
			t.Fatalf("the marker of batches just removed must stay as it was: %+v", h)
		case h.ProducerID == 9 && h.NumRecords != 1:
			t.Fatalf("the open transaction's batch was touched: %+v", h)
		}
	}
	wantAborted(t, l, 0, end, AbortedTxn{ProducerID: 8, FirstOffset: 2, LastOffset: 3, LastStableOffset: 1})
	if first, ok := l.OngoingTxn(9); !ok || first != 1 {
		t.Fatalf("open transaction: %d %v", first, ok)
	}
}

// TestEachRecordTxn: a replay sees each record with its batch's producer and transactional bit,
// and each marker.
func TestEachRecordTxn(t *testing.T) {
	var data []byte
	off := int64(0)
	for _, b := range [][]byte{txnBatch(4, 0, 1, [2]string{"k", "v"}), kvBatch(1, [2]string{"p", "q"}), marker(4, true, 1)} {
		setBaseOffset(b, off)
		off++
		data = append(data, b...)
	}
	var got []string
	err := EachRecordTxn(data, func(h BatchHeader, offset int64, key, value []byte) error {
		got = append(got, fmt.Sprintf("%d:%s=%s pid %d txn %v", offset, key, value, h.ProducerID, h.IsTransactional()))
		return nil
	}, func(h BatchHeader, m Marker) error {
		got = append(got, fmt.Sprintf("%d:marker pid %d commit %v epoch %d", h.BaseOffset, h.ProducerID, m.Commit, m.CoordinatorEpoch))
		return nil
	})
	must(t, err)
	want := []string{"0:k=v pid 4 txn true", "1:p=q pid -1 txn false", "2:marker pid 4 commit true epoch 3"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestTxnIndexTornCrash: a crash keeps an abort's .txnindex entry but loses its marker (the index
// is written first): recovery re-reads the segment, drops the entry and the transaction is open
// again; the opposite order of loss cannot happen. A full truncation empties the index too.
func TestTxnIndexTornCrash(t *testing.T) {
	mem := NewMemFS()
	clock := &fakeClock{ms: 1_700_000_000_000}
	cfg := testConfig()
	l := openMem(t, mem, cfg, clock)
	mustAppend(t, l, txnBatch(1, 0, clock.ms, [2]string{"a", "1"}), 0) // 0
	must(t, l.Flush())
	mustAppend(t, l, marker(1, false, clock.ms), 0) // 1
	wantAborted(t, l, 0, 2, AbortedTxn{ProducerID: 1, FirstOffset: 0, LastOffset: 1, LastStableOffset: 2})
	crashed := mem.CrashWith(func(name string, synced, current []byte) []byte {
		if filepath.Ext(name) == extTxnIndex {
			return current
		}
		return nil
	})
	if data, err := crashed.ReadFile(segmentName("/t", 0, extTxnIndex)); err != nil || len(data) != abortedTxnSize {
		t.Fatalf("the crash should have kept the entry: %d bytes, %v", len(data), err)
	}
	l2, err := Open("/t", cfg, Options{FS: crashed, Now: clock.now})
	must(t, err)
	defer l2.Close()
	if l2.EndOffset() != 1 {
		t.Fatalf("end %d: the marker should be lost", l2.EndOffset())
	}
	wantAborted(t, l2, 0, 2)
	if first, ok := l2.OngoingTxn(1); !ok || first != 0 {
		t.Fatalf("the transaction whose marker was lost: %d %v", first, ok)
	}
	if _, err := crashed.ReadFile(segmentName("/t", 0, extTxnIndex)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the stale .txnindex: %v", err)
	}
	mustAppend(t, l2, marker(1, false, clock.ms), 0)
	must(t, l2.TruncateFullyAndStartAt(10))
	wantAborted(t, l2, 0, 20)
	if got := l2.OngoingTxns(); len(got) != 0 {
		t.Fatalf("open transactions after a full truncation: %v", got)
	}
}

// TestTxnUpdateMatchesRebuild: the transaction state an append publishes as a change (txnUpdate:
// opened, closed and aborted on top of the state) is the state a scan of the whole log computes
// batch by batch (txnState.apply), for appends of several batches in which producers open, close
// and reopen transactions and abort while others are open.
func TestTxnUpdateMatchesRebuild(t *testing.T) {
	clock := &fakeClock{ms: 1_700_000_000_000}
	l := openMem(t, NewMemFS(), testConfig(), clock)
	rng := rand.New(rand.NewPCG(14, 14))
	for step := range 300 {
		var b []byte
		for range 1 + rng.IntN(4) {
			pid := int64(1 + rng.IntN(3))
			switch rng.IntN(3) {
			case 0:
				b = append(b, marker(pid, rng.IntN(2) == 0, clock.ms)...)
			default:
				b = append(b, txnBatch(pid, 0, clock.ms, [2]string{"k", "v"})...)
			}
		}
		mustAppend(t, l, b, 0)
		l.txnMu.Lock()
		ongoing, unrepl := maps.Clone(l.txns.ongoing), slices.Clone(l.txns.unrepl)
		l.txnMu.Unlock()
		end := l.EndOffset()
		aborted := l.AbortedTxns(0, end+1)

		l.wmu.Lock()
		scanned, err := l.rebuildTxns()
		l.wmu.Unlock()
		must(t, err)
		l.txnMu.Lock()
		want := l.txns
		l.txnMu.Unlock()
		if !maps.Equal(ongoing, want.ongoing) && len(ongoing)+len(want.ongoing) > 0 {
			t.Fatalf("step %d: open transactions %v, the scan's %v", step, ongoing, want.ongoing)
		}
		if !slices.Equal(unrepl, want.unrepl) {
			t.Fatalf("step %d: completed transactions %v, the scan's %v", step, unrepl, want.unrepl)
		}
		if !slices.Equal(aborted, scanned) {
			t.Fatalf("step %d: aborted index %+v, the scan's %+v", step, aborted, scanned)
		}
	}
}
