package log

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func entries(pairs ...int64) []epochEntry {
	var out []epochEntry
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, epochEntry{int32(pairs[i]), pairs[i+1]})
	}
	return out
}

func cacheOf(pairs ...int64) *epochCache {
	c := &epochCache{}
	for _, e := range entries(pairs...) {
		c.assign(e.epoch, e.start)
	}
	return c
}

// The cases follow Kafka's LeaderEpochFileCacheTest.
func TestEpochCacheAssign(t *testing.T) {
	cases := []struct {
		name   string
		assign []int64
		want   []epochEntry
	}{
		{"once assigned, a later offset for the same epoch is ignored", []int64{2, 6, 2, 7, 2, 10}, entries(2, 6)},
		{"an earlier offset for the latest epoch replaces it", []int64{2, 6, 3, 9, 3, 8}, entries(2, 6, 3, 8)},
		{"epochs need not start at zero", []int64{5, 100}, entries(5, 100)},
		{"a lower epoch truncates higher ones", []int64{2, 6, 3, 8, 4, 11, 3, 12}, entries(2, 6, 3, 12)},
		{"a lower start offset truncates later entries", []int64{2, 6, 3, 8, 4, 11, 5, 7}, entries(2, 6, 5, 7)},
		{"monotonic entries accumulate", []int64{0, 0, 1, 5, 3, 9}, entries(0, 0, 1, 5, 3, 9)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := cacheOf(c.assign...).entries; !slices.Equal(got, c.want) {
				t.Fatalf("entries %v, want %v", got, c.want)
			}
		})
	}
}

func TestEndOffsetForEpoch(t *testing.T) {
	const leo = 100
	cases := []struct {
		name      string
		cache     []int64
		req       int32
		wantEpoch int32
		wantEnd   int64
	}{
		{"latest epoch answers the log end offset", []int64{2, 6, 3, 8, 4, 11}, 4, 4, leo},
		{"undefined epoch", []int64{2, 6}, -1, -1, -1},
		{"no epochs recorded", nil, 0, -1, -1},
		{"no epochs, undefined requested", nil, -1, -1, -1},
		{"epoch below the first answers the first start", []int64{5, 11, 6, 12, 7, 13}, 4, 4, 11},
		{"previous epoch ends where the next starts", []int64{1, 5, 2, 8}, 1, 1, 8},
		{"missing epoch answers the one below it", []int64{0, 10, 2, 13, 4, 17}, 1, 0, 13},
		{"exact middle epoch", []int64{0, 10, 2, 13, 4, 17}, 2, 2, 17},
		{"missing epoch between two", []int64{0, 10, 2, 13, 4, 17}, 3, 2, 17},
		{"epoch above all known", []int64{2, 100}, 3, -1, -1},
		{"epochs not starting at zero", []int64{2, 6}, 2, 2, leo},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, o := cacheOf(c.cache...).endOffsetFor(c.req, leo)
			if e != c.wantEpoch || o != c.wantEnd {
				t.Fatalf("endOffsetFor(%d) = (%d, %d), want (%d, %d)", c.req, e, o, c.wantEpoch, c.wantEnd)
			}
		})
	}
}

func TestEpochCacheTruncation(t *testing.T) {
	c := cacheOf(2, 6, 3, 8, 4, 11)
	if c.truncateFromEnd(12) {
		t.Fatal("truncating after the last start changed the cache")
	}
	c.truncateFromEnd(11)
	if want := entries(2, 6, 3, 8); !slices.Equal(c.entries, want) {
		t.Fatalf("after truncateFromEnd(11): %v", c.entries)
	}
	c = cacheOf(2, 6, 3, 8, 4, 11)
	c.truncateFromEnd(7)
	if want := entries(2, 6); !slices.Equal(c.entries, want) {
		t.Fatalf("after truncateFromEnd(7): %v", c.entries)
	}
	c = cacheOf(2, 6, 3, 8, 4, 11)
	c.truncateFromStart(9)
	if want := entries(3, 9, 4, 11); !slices.Equal(c.entries, want) {
		t.Fatalf("after truncateFromStart(9): %v", c.entries)
	}
	c = cacheOf(2, 6, 3, 8, 4, 11)
	c.truncateFromStart(8)
	if want := entries(3, 8, 4, 11); !slices.Equal(c.entries, want) {
		t.Fatalf("after truncateFromStart(8): %v", c.entries)
	}
	c = cacheOf(2, 6, 3, 8, 4, 11)
	c.truncateFromStart(12)
	if want := entries(4, 12); !slices.Equal(c.entries, want) {
		t.Fatalf("after truncateFromStart(12): %v", c.entries)
	}
	if c.truncateFromStart(5) {
		t.Fatal("truncating before the first entry changed the cache")
	}
}

func TestEpochCheckpointFile(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	must(t, l.AssignEpoch(0, 0))
	mustAppend(t, l, simpleBatch(5, 0), 0)
	must(t, l.AssignEpoch(3, 5)) // as BecomeLeader does
	mustAppend(t, l, simpleBatch(5, 0), 3)
	mustAppend(t, l, simpleBatch(5, 0), 4) // appending with a new epoch records it
	data, err := os.ReadFile(filepath.Join(dir, epochCheckpointFile))
	must(t, err)
	if want := "0\n3\n0 0\n3 5\n4 10\n"; string(data) != want {
		t.Fatalf("checkpoint %q, want %q", data, want)
	}
	wantErr(t, l.AssignEpoch(-1, 0), ErrInvalidEpoch)
	wantErr(t, l.AssignEpoch(1, -1), ErrInvalidEpoch)
	if e, o := l.EndOffsetForEpoch(3); e != 3 || o != 10 {
		t.Fatalf("EndOffsetForEpoch(3) = (%d, %d)", e, o)
	}
	if e, o := l.EndOffsetForEpoch(4); e != 4 || o != 15 {
		t.Fatalf("EndOffsetForEpoch(4) = (%d, %d)", e, o)
	}
	must(t, l.Close())
	l = openLog(t, dir, testConfig())
	if e, ok := l.LatestEpoch(); !ok || e != 4 {
		t.Fatalf("latest after reopen %d %v", e, ok)
	}
	if e, o := l.EndOffsetForEpoch(1); e != 0 || o != 5 {
		t.Fatalf("EndOffsetForEpoch(1) = (%d, %d)", e, o)
	}
	// Kafka's loader drops non-monotonic entries from a hand-edited file.
	must(t, l.Close())
	must(t, os.WriteFile(filepath.Join(dir, epochCheckpointFile), []byte("0\n3\n0 0\n5 10\n4 12\n"), 0o644))
	l = openLog(t, dir, testConfig())
	if got := l.epochs.entries; !slices.Equal(got, entries(0, 0, 4, 12)) {
		t.Fatalf("entries %v", got)
	}
}

func TestEmptyLogEpochs(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	if _, ok := l.LatestEpoch(); ok {
		t.Fatal("empty log has an epoch")
	}
	if e, o := l.EndOffsetForEpoch(0); e != -1 || o != -1 {
		t.Fatalf("(%d, %d)", e, o)
	}
	must(t, l.AssignEpoch(7, 0))
	if e, o := l.EndOffsetForEpoch(7); e != 7 || o != 0 {
		t.Fatalf("(%d, %d)", e, o)
	}
}

// TestTruncateAtEndDropsEmptyEpoch: a replica that led epoch 1 without writing in it keeps an
// epoch entry at its log end. Truncating at (or past) the end cuts no batch but drops that
// entry, as Kafka's UnifiedLog.truncateTo does, so the follower's latest epoch is one its data
// has (else it would keep asking its leader about an epoch the leader never had), on disk too.
func TestTruncateAtEndDropsEmptyEpoch(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	mustAppend(t, l, simpleBatch(2, 0), 0)
	must(t, l.AssignEpoch(1, 2))
	if e, _ := l.LatestEpoch(); e != 1 {
		t.Fatalf("latest epoch %d, want 1", e)
	}
	must(t, l.Truncate(5))
	if e, ok := l.LatestEpoch(); !ok || e != 0 || l.EndOffset() != 2 {
		t.Fatalf("after truncating past the end: latest epoch %d %v, end %d; want 0, 2", e, ok, l.EndOffset())
	}
	must(t, l.Close())
	l = openLog(t, dir, testConfig())
	if e, _ := l.LatestEpoch(); e != 0 {
		t.Fatalf("after reopening: latest epoch %d, want 0", e)
	}
}
