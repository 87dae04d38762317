package log

import "testing"

func TestOffsetForTimestamp(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 2000
	l := openLog(t, dir, cfg)
	// Batch i (5 records) has record timestamps 1000+10i .. 1000+10i+4, at
	// offsets 5i .. 5i+4.
	for i := range 60 {
		mustAppend(t, l, valueBatch(5, 30, int64(1000+10*i)), 0)
	}
	if len(l.segments) < 3 {
		t.Fatal("want several segments")
	}
	check := func(l *Log) {
		t.Helper()
		cases := []struct {
			ts, off, gotTs int64
			ok             bool
		}{
			{0, 0, 1000, true},
			{1000, 0, 1000, true},
			{1003, 3, 1003, true},
			{1005, 5, 1010, true}, // between batches: first record of the next
			{1234, 119, 1234, true},
			{1594, 299, 1594, true},
			{1595, -1, -1, false},
		}
		for _, c := range cases {
			off, ts, ok := l.OffsetForTimestamp(c.ts)
			if off != c.off || ts != c.gotTs || ok != c.ok {
				t.Fatalf("OffsetForTimestamp(%d) = (%d, %d, %v), want (%d, %d, %v)", c.ts, off, ts, ok, c.off, c.gotTs, c.ok)
			}
		}
		if off, ts, ok := l.MaxTimestamp(); !ok || off != 299 || ts != 1594 {
			t.Fatalf("MaxTimestamp = (%d, %d, %v)", off, ts, ok)
		}
	}
	check(l)
	must(t, l.Close())
	l = openLog(t, dir, cfg)
	check(l)
	crash(t, l, dir)
	l = openLog(t, dir, cfg)
	check(l)

	// Below the log start offset nothing is answered.
	must(t, l.SetStartOffset(13))
	if off, ts, ok := l.OffsetForTimestamp(0); !ok || off != 13 || ts != 1023 {
		t.Fatalf("after SetStartOffset: (%d, %d, %v)", off, ts, ok)
	}
}

func TestOffsetForTimestampCompressedAndOutOfOrder(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	mustAppend(t, l, valueBatch(2, 10, 500), 0) // 0-1: 500, 501
	comp := batchSpec{attrs: 2, firstTs: 600, maxTs: 650, rawRecords: []byte("snappy bytes"), numRecords: 4}.build()
	mustAppend(t, l, comp, 0)                   // 2-5: compressed, max 650
	mustAppend(t, l, valueBatch(1, 10, 400), 0) // 6: an older timestamp
	mustAppend(t, l, valueBatch(3, 10, 700), 0) // 7-9
	if off, ts, ok := l.OffsetForTimestamp(620); !ok || off != 2 || ts != 650 {
		t.Fatalf("compressed batch: (%d, %d, %v)", off, ts, ok)
	}
	if off, ts, ok := l.OffsetForTimestamp(450); !ok || off != 0 || ts != 500 {
		t.Fatalf("(%d, %d, %v)", off, ts, ok)
	}
	if off, ts, ok := l.OffsetForTimestamp(701); !ok || off != 8 || ts != 701 {
		t.Fatalf("(%d, %d, %v)", off, ts, ok)
	}
	if off, ts, ok := l.MaxTimestamp(); !ok || off != 9 || ts != 702 {
		t.Fatalf("MaxTimestamp (%d, %d, %v)", off, ts, ok)
	}
	empty := openLog(t, t.TempDir(), testConfig())
	if _, _, ok := empty.MaxTimestamp(); ok {
		t.Fatal("empty log has a max timestamp")
	}
	if _, _, ok := empty.OffsetForTimestamp(0); ok {
		t.Fatal("empty log answers a timestamp")
	}
}
