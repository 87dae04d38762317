package txncheck

import (
	"strings"
	"testing"
	"time"
)

// TestCheckFindsAnomalies feeds check a ledger and reads with one anomaly of each kind, and a
// clean run, so the checker is known to fail when the broker breaks a promise.
func TestCheckFindsAnomalies(t *testing.T) {
	t0 := time.Now()
	mk := func(k, n int, o Outcome, parts []int32, offs []int64) *txn {
		tx := &txn{producer: k, n: n, parts: parts, offs: offs, outcome: o, first: map[int32]int64{},
			begin: t0, acked: t0.Add(time.Millisecond), end: t0.Add(time.Second)}
		for i, p := range parts {
			if f, ok := tx.first[p]; !ok || offs[i] < f {
				tx.first[p] = offs[i]
			}
		}
		return tx
	}
	at := func(p int32, off int64) []read { return []read{{p, off}} }
	// A clean run: txn 0 committed (partitions 0 and 1), txn 1 aborted, txn 2 unknown and
	// committed, txn 3 unknown and aborted.
	clean := func() (*Checker, map[string][]read, map[string][]read) {
		c := New(Config{Partitions: 2, Producers: 1})
		c.txns = []*txn{
			mk(0, 0, Committed, []int32{0, 1}, []int64{0, 0}),
			mk(0, 1, Aborted, []int32{0}, []int64{2}),
			mk(0, 2, Unknown, []int32{0, 0}, []int64{4, 5}),
			mk(0, 3, Unknown, []int32{1}, []int64{2}),
		}
		// The LSO stood at the open transaction's first offset while it was open.
		c.samples = []lsoSample{{sent: t0.Add(2 * time.Millisecond), recv: t0.Add(3 * time.Millisecond), lso: map[int32]int64{0: 0, 1: 0}}}
		c.live = map[string][]read{value(0, 0, 0, 2): at(0, 0)}
		rc := map[string][]read{
			value(0, 0, 0, 2): at(0, 0), value(0, 0, 1, 2): at(1, 0),
			value(0, 2, 0, 2): at(0, 4), value(0, 2, 1, 2): at(0, 5),
		}
		ru := map[string][]read{
			value(0, 0, 0, 2): at(0, 0), value(0, 0, 1, 2): at(1, 0), value(0, 1, 0, 1): at(0, 2),
			value(0, 2, 0, 2): at(0, 4), value(0, 2, 1, 2): at(0, 5), value(0, 3, 0, 1): at(1, 2),
		}
		return c, rc, ru
	}
	c, rc, ru := clean()
	n, errs := c.check(rc, ru)
	if len(errs) != 0 {
		t.Fatalf("a clean run: %v", errs)
	}
	if n.Committed != 1 || n.Aborted != 1 || n.Unknown != 2 || n.UnknownCommitted != 1 || n.LSOChecks == 0 {
		t.Fatalf("counts: %v", n)
	}

	for _, tc := range []struct {
		name, want string
		spoil      func(c *Checker, rc, ru map[string][]read)
	}{
		{"committed record lost", "not read with read_committed", func(c *Checker, rc, ru map[string][]read) { delete(rc, value(0, 0, 1, 2)) }},
		{"aborted record read", "aborted transaction read", func(c *Checker, rc, ru map[string][]read) { rc[value(0, 1, 0, 1)] = at(0, 2) }},
		{"unknown read in part", "read 1 of its 2 records: [record 0 to partition 0, acknowledged at 4, read_committed at [{0 4}], read_uncommitted at [{0 4}]] [record 1 to partition 0, acknowledged at 5, read_committed at []", func(c *Checker, rc, ru map[string][]read) { delete(rc, value(0, 2, 1, 2)) }},
		{"duplicate", "read 2 times", func(c *Checker, rc, ru map[string][]read) {
			rc[value(0, 0, 0, 2)] = append(rc[value(0, 0, 0, 2)], read{0, 7})
		}},
		{"acknowledged record moved", "read_uncommitted found it", func(c *Checker, rc, ru map[string][]read) { ru[value(0, 1, 0, 1)] = at(0, 3) }},
		{"phantom", "which no producer sent", func(c *Checker, rc, ru map[string][]read) { ru["p0 t9 i0 n1"] = at(0, 9) }},
		{"out of order", "out of order", func(c *Checker, rc, ru map[string][]read) {
			rc[value(0, 2, 0, 2)], rc[value(0, 2, 1, 2)] = at(0, 5), at(0, 4)
			ru[value(0, 2, 0, 2)], ru[value(0, 2, 1, 2)] = at(0, 5), at(0, 4)
		}},
		{"live read of an aborted record", "during the load", func(c *Checker, rc, ru map[string][]read) { c.live[value(0, 1, 0, 1)] = at(0, 2) }},
		{"live read elsewhere", "during the load", func(c *Checker, rc, ru map[string][]read) { c.live[value(0, 0, 0, 2)] = at(0, 1) }},
		{"LSO past an open transaction", "(committed) open at 1-0, but the last stable offset sampled then was 1 (leader epoch", func(c *Checker, rc, ru map[string][]read) {
			c.samples[0].lso[1] = 1
		}},
	} {
		c, rc, ru := clean()
		tc.spoil(c, rc, ru)
		_, errs := c.check(rc, ru)
		found := false
		for _, err := range errs {
			found = found || strings.Contains(err.Error(), tc.want)
		}
		if !found {
			t.Errorf("%s: want an error containing %q, got %v", tc.name, tc.want, errs)
		}
	}
}
