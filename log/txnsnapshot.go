package log

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
)

// txnStateFile is the transaction state as Close left it (Kafka keeps a
// producer snapshot for the same purpose): the log end offset it holds for,
// then each open transaction and each decided one whose marker may not be
// replicated yet. Open uses it only after a clean shutdown, when it matches
// the log end, instead of scanning the whole log; Kafka's text checkpoint
// format, four fields a line ("e end -1 seen", seen 1 when the log may hold
// a transactional batch; "o pid first -1"; "u pid first last").
const txnStateFile = "transaction-state-checkpoint"

// writeTxnState writes the snapshot. The caller holds wmu.
func (l *Log) writeTxnState() error {
	l.txnMu.Lock()
	seen := 0
	if l.txns.seen {
		seen = 1
	}
	rows := []string{fmt.Sprintf("e %d -1 %d", l.endOffset, seen)}
	for pid, first := range l.txns.ongoing {
		rows = append(rows, fmt.Sprintf("o %d %d -1", pid, first))
	}
	for _, c := range l.txns.unrepl {
		rows = append(rows, fmt.Sprintf("u %d %d %d", c.pid, c.first, c.last))
	}
	l.txnMu.Unlock()
	if err := writeFileAtomic(l.fs, l.dir, txnStateFile, encodeCheckpoint(rows)); err != nil {
		return fmt.Errorf("log: write %s: %w", txnStateFile, err)
	}
	return nil
}

// readTxnState reads the snapshot for a log ending at end; nil when there
// is none or it is for another end. A file that does not parse is nil too:
// the caller scans the log instead.
func (l *Log) readTxnState(end int64) *txnState {
	data, err := readFile(l.listed, filepath.Join(l.dir, txnStateFile), 1<<30)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			l.logger.Warn("log: cannot read the transaction state; scanning the log", "dir", l.dir, "err", err)
		}
		return nil
	}
	rows, err := parseCheckpoint(data, 4)
	if err != nil || len(rows) == 0 || rows[0][0] != "e" {
		l.logger.Warn("log: bad transaction state; scanning the log", "dir", l.dir, "err", err)
		return nil
	}
	t := &txnState{ongoing: make(map[int64]int64)}
	for i, r := range rows {
		var v [3]int64
		for j := range v {
			if v[j], err = strconv.ParseInt(r[j+1], 10, 64); err != nil {
				l.logger.Warn("log: bad transaction state; scanning the log", "dir", l.dir, "err", err)
				return nil
			}
		}
		switch {
		case i == 0 && v[0] != end:
			return nil // not for this log end: another shutdown's
		case i == 0:
			t.seen = v[2] != 0
		case r[0] == "o":
			t.ongoing[v[0]] = v[1]
		case r[0] == "u":
			t.unrepl = append(t.unrepl, completedTxn{pid: v[0], first: v[1], last: v[2]})
		default:
			l.logger.Warn("log: bad transaction state; scanning the log", "dir", l.dir, "row", r)
			return nil
		}
	}
	slices.SortFunc(t.unrepl, func(a, b completedTxn) int { return cmp.Compare(a.last, b.last) })
	return t
}
