// Package log is one partition's log on disk: Kafka's segmented log of
// RecordBatch v2 batches, with sparse offset and time indexes, a leader-epoch
// cache, and recovery of a torn tail.
//
// # On disk
//
// A log is a directory (the broker names it <topic>-<partition>) holding:
//
//   - 00000000000000000000.log: a segment, named by the offset of its first
//     batch, zero-padded to 20 digits. It holds batches exactly as the
//     producer (or the leader) sent them, back to back. The only bytes the
//     leader rewrites are the base offset and partition leader epoch (outside
//     the CRC) and, for LogAppendTime, the timestamp-type attribute and max
//     timestamp (with the CRC recomputed). A fetch copies file bytes as is.
//   - 00000000000000000000.index: the sparse offset index, 8-byte big-endian
//     entries (int32 last offset of a batch relative to the segment base,
//     int32 file position of that batch). An entry is added for a batch when
//     more than index.interval.bytes were appended since the previous one.
//   - 00000000000000000000.timeindex: 12-byte entries (int64 timestamp, int32
//     relative offset): at each offset-index entry, the segment's largest
//     timestamp so far and the last offset of the batch that carried it, if
//     it grew; plus a final entry when a segment is rolled or closed.
//   - leader-epoch-checkpoint: Kafka's text checkpoint: "0", the entry count,
//     then one "epoch startOffset" line per entry.
//   - log-start-offset: the same format with one entry, the log start offset
//     set by DeleteRecords (SetStartOffset) or truncation below it.
//   - recovery-point: the same format, the offset below which every segment
//     is known to be synced (Kafka keeps it per log directory).
//   - clean-shutdown: written by Close, removed by Open.
//
// Checkpoints are replaced atomically (temporary file, fsync, rename,
// directory fsync). Index files are exact-size, not preallocated; the whole
// index is also kept in memory, which makes a lookup a binary search with no
// I/O (2 MiB per full 1 GiB segment at the default interval).
//
// # Writing and reading
//
// Append (leader) assigns offsets from the log end offset; AppendReplicated
// (follower) takes batches that already carry offsets. A new segment is
// rolled when the active one would exceed segment.bytes, when it is older
// than segment.ms (measured as in Kafka from its first batch's max timestamp
// to the incoming batch's, else from its creation), when an index would
// exceed segment.index.bytes, or when a relative offset would overflow
// int32. As in Kafka the rolled segment is synced in the background, after
// which the recovery point advances to the new segment's base; Flush syncs
// everything and moves it to the log end.
//
// One writer at a time (the partition serialises appends; the Log also
// locks). A reader takes a read lock; an append writes the file beyond the
// published end without it and takes the write lock only to publish the new
// end and index entries, so a reader never sees a partial batch. Read
// locates the batch holding the requested offset with the index and a short
// header walk, then preads straight into the result buffer and trims it to
// whole batches.
//
// # Recovery
//
// Open without the clean-shutdown marker re-reads every segment from the
// recovery point on (at least the last) batch by batch (framing, monotonic
// offsets, CRC32C), truncates at the first bad batch (a torn write,
// trailing garbage, a flipped bit), drops any segment after a cut one, and
// rebuilds their indexes. Segments below the recovery point were synced, so
// they are trusted; every segment's indexes are still sanity-checked and
// the tail after the last index entry walked, and a missing or inconsistent
// index (or a tail that does not end on a batch boundary) is rebuilt by the
// same re-read, clean marker or not. Segments wholly below the checkpointed
// start offset (a crash during SetStartOffset) are deleted, and the epoch
// cache is cut back to the recovered end. With the marker, batch CRCs are
// not re-checked (as in Kafka).
//
// # Faithful to Kafka, and approximated
//
// Faithful: the RecordBatch v2 format and its validation (the LogValidator
// and DefaultRecord.readFrom rules for a client batch: count and offset
// range, no control batches, a sequence with a producer id, record framing
// to the exact batch end), the index and checkpoint
// formats and the rule for when index entries are written, the roll rules,
// the leader-epoch cache (assign, truncation from either end, KIP-101
// EndOffsetForEpoch), truncation to a point below the first segment
// restarting the log there, start-offset deletion of whole segments.
//
// Approximated or different:
//
//   - Timestamps: for a CreateTime batch the producer's max timestamp is
//     trusted rather than recomputed from the records. OffsetForTimestamp is
//     exact within uncompressed batches; within a compressed CreateTime batch
//     it answers with the batch's first offset and max timestamp, since
//     snappy, lz4 and zstd are not in the standard library. MaxTimestamp is
//     batch-level (the last offset of the batch with the largest timestamp),
//     as Kafka was before 3.8.
//   - Truncate cuts at batch boundaries: a batch straddling the target goes
//     whole, so the end offset may land below the target (Kafka sets the end
//     offset to the target, which followers only ever pick at boundaries).
//   - Segment files are deleted immediately (file.delete.delay.ms is
//     accepted but unused): readers hold the read lock while they touch a
//     file, so no read can race a deletion.
//   - Empty batches (possible in Kafka after compaction) are rejected on the
//     produce path; there is no compaction. Retention is not here yet; the
//     segment list is ordered so age- or size-based deletion of whole
//     segments from the front can be added.
//   - The clean-shutdown marker and the start-offset checkpoint are per
//     partition, not per log directory as in Kafka.
package log
