package log

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

const (
	epochCheckpointFile = "leader-epoch-checkpoint"
	startCheckpointFile = "log-start-offset"
	checkpointVersion   = 0
	maxCheckpointBytes  = 16 << 20
)

// epochEntry says leader epoch `epoch` wrote its first batch at `start`.
type epochEntry struct {
	epoch int32
	start int64
}

// epochCache is Kafka's LeaderEpochFileCache without the IO: entries are
// strictly increasing in both epoch and start offset. Guarded by Log.mu.
type epochCache struct {
	entries []epochEntry
}

func (c *epochCache) latest() (epochEntry, bool) {
	if len(c.entries) == 0 {
		return epochEntry{}, false
	}
	return c.entries[len(c.entries)-1], true
}

// assign records that epoch starts at start. As in Kafka, it is a no-op when
// epoch is already the latest, unless start is smaller (a leader's earlier
// start wins); entries that would break monotonicity (an epoch or start not
// below the new one) are dropped from the end first. It reports a change.
func (c *epochCache) assign(epoch int32, start int64) bool {
	if l, ok := c.latest(); ok && l.epoch == epoch && start >= l.start {
		return false
	}
	i := len(c.entries)
	for i > 0 && (c.entries[i-1].epoch >= epoch || c.entries[i-1].start >= start) {
		i--
	}
	c.entries = append(c.entries[:i], epochEntry{epoch, start})
	return true
}

// truncateFromEnd drops entries starting at or after end (log truncation).
func (c *epochCache) truncateFromEnd(end int64) bool {
	l, ok := c.latest()
	if end < 0 || !ok || l.start < end {
		return false
	}
	i := len(c.entries)
	for i > 0 && c.entries[i-1].start >= end {
		i--
	}
	c.entries = c.entries[:i]
	return true
}

// truncateFromStart drops entries wholly before start, keeping the last of
// them moved up to start (its epoch still owns the offsets from start on).
func (c *epochCache) truncateFromStart(start int64) bool {
	i := 0
	for i < len(c.entries) && c.entries[i].start <= start {
		i++
	}
	if i == 0 {
		return false
	}
	kept := epochEntry{c.entries[i-1].epoch, start}
	if i == 1 && c.entries[0] == kept {
		return false
	}
	c.entries = append([]epochEntry{kept}, c.entries[i:]...)
	return true
}

// endOffsetFor is KIP-101's OffsetsForLeaderEpoch answer (Kafka's
// LeaderEpochFileCache.endOffsetFor): for the latest epoch, the log end
// offset; otherwise the largest epoch <= the requested one together with
// the start offset of the next higher epoch; (-1, -1) when the requested
// epoch is undefined or above every known epoch. A requested epoch below all
// known ones answers itself with the first known start offset.
func (c *epochCache) endOffsetFor(epoch int32, leo int64) (int32, int64) {
	if epoch < 0 {
		return -1, -1
	}
	if l, ok := c.latest(); ok && l.epoch == epoch {
		return epoch, leo
	}
	// higher: first entry with a larger epoch.
	h := 0
	for h < len(c.entries) && c.entries[h].epoch <= epoch {
		h++
	}
	if h == len(c.entries) {
		return -1, -1
	}
	if h == 0 {
		return epoch, c.entries[0].start
	}
	return c.entries[h-1].epoch, c.entries[h].start
}

func (c *epochCache) snapshot() []epochEntry {
	return append([]epochEntry(nil), c.entries...)
}

// encodeCheckpoint writes Kafka's checkpoint text format: a version line, a
// count line, then one line per entry.
func encodeCheckpoint(lines []string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%d\n", checkpointVersion, len(lines))
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// parseCheckpoint reads Kafka's checkpoint format, each entry line holding
// exactly fields space-separated fields.
func parseCheckpoint(data []byte, fields int) ([][]string, error) {
	lines := strings.Split(string(data), "\n")
	if n := len(lines); n > 0 && lines[n-1] == "" {
		lines = lines[:n-1]
	}
	if len(lines) < 2 {
		return nil, fmt.Errorf("%w: missing version or count line", ErrCorruptCheckpoint)
	}
	if v, err := strconv.Atoi(strings.TrimSpace(lines[0])); err != nil || v != checkpointVersion {
		return nil, fmt.Errorf("%w: unsupported version %q", ErrCorruptCheckpoint, lines[0])
	}
	count, err := strconv.Atoi(strings.TrimSpace(lines[1]))
	if err != nil || count < 0 || count != len(lines)-2 {
		return nil, fmt.Errorf("%w: count line %q but %d entries", ErrCorruptCheckpoint, lines[1], len(lines)-2)
	}
	out := make([][]string, 0, count)
	for _, l := range lines[2:] {
		f := strings.Fields(l)
		if len(f) != fields {
			return nil, fmt.Errorf("%w: malformed line %q", ErrCorruptCheckpoint, l)
		}
		out = append(out, f)
	}
	return out, nil
}

func encodeEpochCheckpoint(entries []epochEntry) []byte {
	lines := make([]string, len(entries))
	for i, e := range entries {
		lines[i] = fmt.Sprintf("%d %d", e.epoch, e.start)
	}
	return encodeCheckpoint(lines)
}

// readEpochCheckpoint loads the cache; a missing file is an empty cache.
// Entries are re-assigned one by one, which drops any non-monotonic ones
// just as Kafka's loader does.
func readEpochCheckpoint(fsys FS, dir string) (epochCache, error) {
	var c epochCache
	data, err := readFile(fsys, filepath.Join(dir, epochCheckpointFile), maxCheckpointBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("log: read %s: %w", epochCheckpointFile, err)
	}
	rows, err := parseCheckpoint(data, 2)
	if err != nil {
		return c, fmt.Errorf("%s: %w", epochCheckpointFile, err)
	}
	for _, r := range rows {
		e, err1 := strconv.ParseInt(r[0], 10, 32)
		o, err2 := strconv.ParseInt(r[1], 10, 64)
		if err1 != nil || err2 != nil || e < 0 || o < 0 {
			return c, fmt.Errorf("%s: %w: bad entry %q", epochCheckpointFile, ErrCorruptCheckpoint, strings.Join(r, " "))
		}
		c.assign(int32(e), o)
	}
	return c, nil
}

// readStartCheckpoint returns the persisted log start offset, or -1.
func readStartCheckpoint(fsys FS, dir string) (int64, error) {
	data, err := readFile(fsys, filepath.Join(dir, startCheckpointFile), maxCheckpointBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return -1, nil
	}
	if err != nil {
		return -1, fmt.Errorf("log: read %s: %w", startCheckpointFile, err)
	}
	rows, err := parseCheckpoint(data, 1)
	if err == nil && len(rows) != 1 {
		err = fmt.Errorf("%w: %d entries, want 1", ErrCorruptCheckpoint, len(rows))
	}
	if err != nil {
		return -1, fmt.Errorf("%s: %w", startCheckpointFile, err)
	}
	off, err := strconv.ParseInt(rows[0][0], 10, 64)
	if err != nil || off < 0 {
		return -1, fmt.Errorf("%s: %w: bad offset %q", startCheckpointFile, ErrCorruptCheckpoint, rows[0][0])
	}
	return off, nil
}

func writeStartCheckpoint(fsys FS, dir string, off int64) error {
	return writeFileAtomic(fsys, dir, startCheckpointFile, encodeCheckpoint([]string{strconv.FormatInt(off, 10)}))
}

// The exported epoch API.

// AssignEpoch records that leader epoch `epoch` starts at startOffset
// (Kafka's LeaderEpochFileCache.assign): a no-op if epoch is already the
// latest with an earlier or equal start; later entries that conflict are
// dropped. The checkpoint is rewritten when the cache changes.
func (l *Log) AssignEpoch(epoch int32, startOffset int64) error {
	if epoch < 0 || startOffset < 0 {
		return fmt.Errorf("%w: epoch %d at offset %d", ErrInvalidEpoch, epoch, startOffset)
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.mu.Lock()
	changed := l.epochs.assign(epoch, startOffset)
	l.mu.Unlock()
	if !changed {
		return nil
	}
	return l.writeEpochsLazily()
}

// writeEpochsLazily writes the cache unless it differs from the file only in
// entries at or after the log end: those are what BecomeLeader assigns to a
// partition that has no records in its epoch yet, and what every Open drops
// again (finishOpen), so the file would never be read with them. The write
// comes with the first batch past them (Append writes a stale cache), and
// recovery of an unflushed tail takes the epochs of its batches, so a crash
// between the two loses nothing. Kafka, too, stopped flushing the epoch
// checkpoint on assign (KAFKA-15046). This makes creating a partition, and
// a leader change of an idle one, cost no fsync. The caller holds wmu.
func (l *Log) writeEpochsLazily() error {
	l.mu.RLock()
	end := l.endOffset
	below := func(es []epochEntry) []epochEntry {
		i := len(es)
		for i > 0 && es[i-1].start >= end {
			i--
		}
		return es[:i]
	}
	same := slices.Equal(below(l.epochs.entries), below(l.diskEpochs()))
	l.mu.RUnlock()
	if same {
		l.epochsStale = true
		return nil
	}
	return l.writeEpochsLocked()
}

// LatestEpoch returns the latest leader epoch in the cache.
func (l *Log) LatestEpoch() (epoch int32, ok bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	e, ok := l.epochs.latest()
	if !ok {
		return -1, false
	}
	return e.epoch, true
}

// EndOffsetForEpoch answers OffsetsForLeaderEpoch with KIP-101 semantics:
// the largest known epoch <= epoch and the start offset of the next higher
// epoch (the log end offset when epoch is the latest); (-1, -1) if none.
func (l *Log) EndOffsetForEpoch(epoch int32) (foundEpoch int32, endOffset int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.epochs.endOffsetFor(epoch, l.endOffset)
}

// writeEpochsLocked persists the cache; the caller holds wmu (which orders
// checkpoint writes) but not mu.
//
// A cache equal to what the file holds is not written again: a restart
// drops the current epoch's entry when it has no records yet (finishOpen)
// and the partition's BecomeLeader assigns the same entry back, which would
// otherwise cost two checkpoint writes (four fsyncs) per partition.
func (l *Log) writeEpochsLocked() error {
	l.mu.RLock()
	entries := l.epochs.snapshot()
	l.mu.RUnlock()
	if slices.Equal(entries, l.diskEpochs()) {
		l.epochsStale = false
		return nil
	}
	if err := writeFileAtomic(l.fs, l.dir, epochCheckpointFile, encodeEpochCheckpoint(entries)); err != nil {
		return fmt.Errorf("log: write %s: %w", epochCheckpointFile, err)
	}
	l.setDiskEpochs(entries)
	l.epochsStale = false
	return nil
}
