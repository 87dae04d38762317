package log

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// removeFailFS fails the removal of the files whose names end with suffix: a process killed
// part-way through a truncation, at that removal.
type removeFailFS struct {
	FS
	suffix string
}

var errInjected = errors.New("injected removal failure")

func (f *removeFailFS) Remove(name string) error {
	if f.suffix != "" && strings.HasSuffix(name, f.suffix) {
		return errInjected
	}
	return f.FS.Remove(name)
}

// TestTruncateKilledPartWay: a truncation that cuts one segment and removes the ones after it
// leaves, wherever the process dies part-way (here: at the removal of one segment or the other),
// a log that reopens as a prefix of the old one, with no hole in its offsets: never the cut
// segment followed by segments that were to go, the diverging tail back after a gap (and with it
// the transaction it opened).
func TestTruncateKilledPartWay(t *testing.T) {
	for _, failAt := range []int64{16, 10} {
		t.Run(segmentBaseName(failAt), func(t *testing.T) {
			mem := NewMemFS()
			clock := &fakeClock{ms: 1_700_000_000_000}
			cfg := testConfig()
			fsys := &removeFailFS{FS: mem}
			l, err := Open("/t", cfg, Options{FS: fsys, Now: clock.now})
			must(t, err)
			mustAppend(t, l, simpleBatch(5, clock.ms), 0) // 0-4
			mustAppend(t, l, simpleBatch(5, clock.ms), 0) // 5-9
			forceRoll(t, l)
			mustAppend(t, l, txnBatch(7, 0, clock.ms, [2]string{"a", "1"}), 0) // 10: opens pid 7's transaction
			mustAppend(t, l, simpleBatch(5, clock.ms), 0)                      // 11-15
			forceRoll(t, l)
			mustAppend(t, l, simpleBatch(5, clock.ms), 1) // 16-20
			if n := len(l.segments); n != 3 {
				t.Fatalf("%d segments, want 3", n)
			}
			fsys.suffix = filepath.Base(segmentName("/t", failAt, extLog))
			if err := l.Truncate(5); err == nil {
				t.Fatal("Truncate succeeded despite the failed removal")
			}
			// What the process left (every write reached the page cache: a kill, not a power cut).
			after := mem.CrashWith(func(_ string, _, current []byte) []byte { return current })
			l2, err := Open("/t", cfg, Options{FS: after, Now: clock.now})
			must(t, err)
			defer l2.Close()
			next := int64(0)
			for _, h := range batches(t, readAll(t, l2)) {
				if h.BaseOffset != next {
					t.Fatalf("reopened log (end %d) jumps from %d to %d: not a prefix of the old log", l2.EndOffset(), next, h.BaseOffset)
				}
				next = h.LastOffset() + 1
			}
			if next != l2.EndOffset() {
				t.Fatalf("batches end at %d, the log at %d", next, l2.EndOffset())
			}
			first, open := l2.OngoingTxn(7)
			if want := l2.EndOffset() > 10; open != want || (open && first != 10) {
				t.Fatalf("pid 7's transaction in a log ending at %d: open %v at %d", l2.EndOffset(), open, first)
			}
		})
	}
}
