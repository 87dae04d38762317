// Package log is one partition's log on disk: Kafka's segmented log of
// RecordBatch v2 batches, with sparse offset and time indexes, a leader-epoch
// cache, the open transactions and an aborted-transaction index, recovery
// of a torn tail, delete retention and compaction.
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
//   - 00000000000000000000.txnindex: the aborted-transaction index (Kafka's
//     TransactionIndex), present only when the segment has entries: 34-byte
//     entries (int16 version 0, int64 producer id, first offset, last offset
//     (the ABORT marker's), last stable offset when it was aborted), one per
//     ABORT marker in the segment that ended a transaction with data, in
//     marker order. Written before the marker's batch (a crash may keep an
//     entry without its marker, never the reverse: recovery re-reads that
//     segment and rebuilds its index), created durably (directory sync),
//     synced with the segment, kept in memory too (aborts are rare).
//   - leader-epoch-checkpoint: Kafka's text checkpoint: "0", the entry count,
//     then one "epoch startOffset" line per entry. Entries at or after the
//     log end (an epoch with no records yet: BecomeLeader's) are written
//     lazily: every Open drops them anyway, so AssignEpoch skips the write
//     and the first batch past them writes the cache (and recovery of an
//     unflushed tail takes its batches' epochs, as Kafka's does). Creating
//     a partition, or an idle one's leader change, costs no fsync.
//   - log-start-offset: the same format with one entry, the log start offset
//     set by DeleteRecords (SetStartOffset), retention, or truncation below it.
//   - recovery-point: the same format, the offset below which every segment
//     is known to be synced (Kafka keeps it per log directory).
//   - cleaner-offset-checkpoint: the same format, the compactor's first
//     dirty offset (per log directory in Kafka).
//   - transaction-state-checkpoint: the open transactions (and the decided
//     ones whose markers may not be replicated) as Close left them, with
//     the log end they hold for (Kafka's producer snapshot, for the same
//     purpose): after a clean shutdown Open takes it instead of scanning.
//   - clean-shutdown: written by Close (an empty file and one directory
//     sync; no sync for a log without batches or transaction state, whose
//     Open has nothing to recover anyway), removed by Open.
//   - Transient: <segment file>.deleted (waiting for file.delete.delay.ms),
//     <segment file>.cleaned (a compacted segment being written) and
//     <segment file>.swap (a complete compacted segment being swapped in).
//
// Checkpoints are replaced atomically (temporary file, fsync, rename,
// directory fsync). The indexes live in memory, which makes a lookup a
// binary search with no I/O; their files are exact-size copies written
// when a segment is rolled, flushed or closed (recovery rebuilds the index
// of any segment that was not synced). In memory they would take 1.3 to
// 6 MiB per GiB of log at the default interval (an offset entry for every
// 4 KiB or every batch, whichever is larger, and usually a time entry with
// it), so neither kind of segment keeps them all:
//
//   - The active segment keeps a tail of each index in memory: when it
//     holds 2×DefaultSpillBlock entries, the oldest block is written to
//     the file and dropped, leaving its first entry as a summary; a lookup
//     that lands in a dropped block reads that block (a few KiB, checked)
//     back, and the last two blocks read stay cached. Lookups near the log
//     end, a tailing consumer's or a producer's, stay in memory. So the
//     active segment's indexes take under 64 KiB whatever its size, and a
//     long steady write does not grow the heap (see spill.go).
//   - Sealed segments' share an IndexCache with a byte budget (by default
//     one process-wide cache of DefaultIndexCacheBytes): beyond it the
//     least recently used are dropped, as are those idle for
//     DefaultIndexCacheIdle, and reloaded whole from their files on the
//     next lookup, checked against the counts and checksums they had (a
//     file that changed meanwhile is rebuilt from the log and written
//     again at the next flush or close).
//
// # Writing and reading
//
// Append (leader) assigns offsets from the log end offset; AppendReplicated
// (follower) takes batches that already carry offsets, starting at or
// after the log end (a compacted leader's offsets have gaps). An append is
// one positional write. A new segment is rolled when the active one would
// exceed segment.bytes, when it is older than segment.ms less a random
// segment.jitter.ms draw (measured as in Kafka from its first batch's max
// timestamp to the incoming batch's, else from its creation), when an index
// would exceed segment.index.bytes, or when a relative offset would
// overflow int32. As in Kafka the rolled segment is synced in the
// background, after which the recovery point advances to the new segment's
// base; Flush syncs everything and moves it to the log end. flush.messages
// flushes from Append; flush.ms from FlushIfDue, which the broker calls
// periodically. Page-cache durability is the default, as in Kafka.
//
// One writer at a time (the partition serialises appends; the Log also
// locks). A reader takes a read lock; an append writes the file beyond the
// published end without it and takes the write lock only to publish the new
// end and index entries, so a reader never sees a partial batch. Read
// usually costs one pread per segment: it reads from the index entry below
// the wanted offset (the wanted batch starts at most the next entry's
// position later), skips to the batch in memory and returns the rest of
// the buffer; every batch's CRC is checked on the way, so corrupt stored
// data is reported (ErrStorage) and never served.
//
// ReadRecords returns the same bytes without copying them, for the fetch
// path: a Records whose parts are ranges of segment files, which WriteTo
// sends with sendfile(2) (Linux, a socket and an OSFS file; else a pread
// through a pooled buffer), or bytes in memory. A file range is used only
// for bytes this process has verified: every segment keeps a verified
// prefix (bytes whose CRCs were checked here: by recovery, or by a copying
// read from the segment's start or contiguous with the prefix) and knows
// which of its bytes it appended itself (checked before they were
// written); the rest is read into memory and checked as Read does, which
// verifies it for the next fetch. After a clean shutdown nothing is
// verified until read. Bit rot in bytes already verified is not detected
// on this path: as in Kafka, which sends file bytes unchecked, the client
// checks CRCs. Finding the range's end reads batch headers only (the
// offset index and the segment end bound most of it). A Records holds a
// reference on its files until Release, so the cache, retention, cleaning,
// truncation and Close never close a file under it, and a deleted segment
// stays readable through it; a truncation copies the ranges it would cut
// into memory first. Because the kernel keeps pages sendfile handed to a
// socket until the peer acknowledges them, a truncation that would zero
// and rewrite in place a page-cache folio sendfile sent from replaces the
// folio instead (see cutFile).
//
// File handles are bounded: each segment's .log file is opened through a
// FileCache (by default one process-wide cache of DefaultMaxOpenFiles)
// when a read, append, flush or clean needs it, and the least recently
// used idle files are closed while more are open. A file in use (by a
// read, or by an outstanding Records) is never closed under its user.
// Index files are opened only to be written, or to read back a block the
// active segment dropped from memory.
//
// # Transactions
//
// The log follows transactions in what it stores, from a client or a
// leader alike, as Kafka's ProducerStateManager does (txn.go): a
// transactional batch from a producer without an open transaction opens one
// at its base offset; a marker (a control batch whose one record has key
// version 0 and type 0 ABORT or 1 COMMIT, value version 0 and the
// coordinator epoch; EncodeMarker, ParseMarker) from that producer ends it;
// a marker with nothing open changes nothing. LastStableOffset(hw) is the
// first offset of the earliest transaction that is open, or decided but
// with its marker not yet below hw, when that is below hw; else hw.
// AbortedTxns(from, upper) is Kafka's collectAbortedTransactions over the
// segments' indexes. After a clean shutdown Open reads the state from
// transaction-state-checkpoint; otherwise (or when a segment was
// recovered, or an index file is bad) it rebuilds it by scanning the whole
// log, as it does after a truncation, which also
// drops the index entries of cut markers; a segment recovery re-read gets
// its .txnindex rebuilt from that scan, a trusted one keeps its file (which
// may know transactions whose first batches went to retention). Whether an
// append is allowed (producer and coordinator epochs, a plain batch inside
// a transaction) is for the caller to check (package broker/partition).
//
// # Retention
//
// DeleteOldSegments is Kafka's deleteOldSegments: segments wholly below the
// log start offset always; with cleanup.policy delete, the oldest segments
// while the log minus the segment stays at least retention.bytes, and the
// segments whose largest timestamp is older than retention.ms (the stored
// max timestamp is the append time for LogAppendTime batches, so one rule
// serves both timestamp types). Only a prefix goes, and never past the high
// watermark. As in Kafka the active segment goes too when it qualifies (an
// empty one is rolled first, so the end offset stays). The start offset is
// checkpointed, the files renamed to .deleted and removed after
// file.delete.delay.ms (Read holds the read lock while it touches a file,
// the rename happens under the write lock, and an outstanding Records keeps
// its file open, so the delay only mirrors Kafka).
//
// # Compaction
//
// Clean is Kafka's log cleaner for one log: it maps every key in the dirty
// section (from the cleaner checkpoint to the active segment, the high
// watermark or min.compaction.lag.ms, whichever comes first) to its last
// offset, then rewrites the sealed segments below the mapped end, grouped
// to fit segment.bytes, keeping each key's latest record. It runs when the
// dirty ratio exceeds min.cleanable.dirty.ratio or a dirty record is older
// than max.compaction.lag.ms. Offsets never change: a rewritten batch keeps
// its base and last offset and producer fields; a batch emptied entirely
// goes, unless it is its producer's last (kept as an empty header so the
// idempotent producer's sequence survives) or the cleaned range's last.
// A tombstone first kept gets a delete horizon (KIP-534: now +
// delete.retention.ms in the first timestamp, attribute bit 6) and goes in
// the first clean after it. Transactions as in Kafka's
// CleanedTransactionMetadata: nothing at or past the last stable offset is
// cleaned; an aborted transaction's batches go (and never map keys, so they
// cannot shadow committed records); a marker stays while a pass still finds
// batches of its transaction, then gets a delete horizon like a tombstone
// and loses its record in the first clean after it; a cleaned segment's
// .txnindex keeps the aborts whose batches its pass removed. A group is
// written to .cleaned, synced, renamed
// to .swap (the commit point), and swapped in under the write lock; the
// copying itself runs beside appends, and a truncation or Close meanwhile
// aborts it. Append refuses records without a key on a compacted topic.
//
// # Recovery
//
// Open first finishes interrupted file operations: .deleted and .cleaned
// files are removed, and a .log.swap completes its swap (segments within
// its offset range are deleted, it takes the segment name). Then, without
// the clean-shutdown marker, every segment from the recovery point on (at
// least the last) is re-read batch by batch (framing, monotonic offsets,
// CRC32C), truncated at the first bad batch (a torn write, trailing
// garbage, a flipped bit), any segment after a cut one dropped, and their
// indexes rebuilt. Segments below the recovery point were synced, so they
// are trusted; every segment's indexes are still sanity-checked and the
// tail after the last index entry walked, and a missing or inconsistent
// index (or a tail that does not end on a batch boundary) is rebuilt by the
// same re-read, clean marker or not. An empty segment is neither re-read
// nor synced, and its index files are ignored (they are rewritten before
// the segment's first batch is indexed), so an idle partition opens, and
// closes, without writing a file. Segments wholly below the
// checkpointed start offset are deleted, and the epoch cache is cut back to
// the recovered end. With the marker, batch CRCs are not re-checked (as in
// Kafka); Read checks them.
//
// # Failures
//
// A failed write (a full disk, an I/O error) returns ErrStorage, Kafka's
// KAFKA_STORAGE_ERROR: what part of the batch landed is cut, and the log
// refuses writes until reopened (Kafka takes the log directory offline);
// Err reports the cause. Corrupt stored data found by a read is ErrStorage
// too. MemFS is an in-memory FS that models what fsync and directory fsync
// promise and can crash (dropping, or tearing, whatever was not synced), for
// deterministic crash tests.
//
// # Faithful to Kafka, and approximated
//
// Faithful: the RecordBatch v2 format and its validation (the LogValidator
// and DefaultRecord.readFrom rules for a client batch: count and offset
// range, no control batches, a sequence with a producer id, record framing
// to the exact batch end), the index and checkpoint formats and the rule
// for when index entries are written, the roll rules, the leader-epoch
// cache (assign, truncation from either end, KIP-101 EndOffsetForEpoch),
// truncation to a point below the first segment restarting the log there,
// retention's three rules and their high-watermark bound, the cleaner's
// dirty range, ratio, record and batch retention rules and swap protocol.
//
// Approximated or different:
//
//   - Timestamps: for a CreateTime batch the producer's max timestamp is
//     trusted rather than recomputed from the records. OffsetForTimestamp is
//     exact within uncompressed batches; within a compressed CreateTime batch
//     it answers with the batch's first offset and max timestamp, since
//     the lookup does not decompress. MaxTimestamp is
//     batch-level (the last offset of the batch with the largest timestamp),
//     as Kafka was before 3.8.
//   - Truncate cuts at batch boundaries: a batch straddling the target goes
//     whole, so the end offset may land below the target (Kafka sets the end
//     offset to the target, which followers only ever pick at boundaries).
//     As in Kafka, the segments after the cut are removed (highest first)
//     before the cut is made, so a process killed part-way leaves a prefix
//     of the old log, never a hole with the removed tail after it.
//   - Empty batches (possible after compaction) are rejected on the produce
//     path and accepted from a leader.
//   - The cleaner: keys are mapped by a 128-bit hash (Kafka: MD5), at most
//     1<<20 keys per pass (Kafka: log.cleaner.dedupe.buffer.size); a producer's
//     last batch is kept for every producer id in the log (Kafka: unexpired
//     producers only); batches in a codec the log cannot read (Options.Codecs
//     is nil) are kept whole and their keys left unmapped, and a batch it can
//     decompress but not compress again is rewritten uncompressed. As in
//     Kafka, tombstones go only in a clean after their horizon, which needs
//     new dirty data.
//   - Transactions: after an unclean shutdown or a truncation the state is
//     rebuilt by scanning the whole log (Kafka reads its latest producer
//     snapshot and scans from there); markers are never
//     compressed (as Kafka writes them) but a compressed control batch from
//     a leader is read with Options.Codecs.
//   - Read verifies CRCs (Kafka leaves that to the consumer); ReadRecords
//     sends from the file only bytes verified in this process.
//   - The clean-shutdown marker and the start-offset, recovery-point and
//     cleaner checkpoints are per partition, not per log directory as in
//     Kafka.
package log
