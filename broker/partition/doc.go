// Package partition is one replica of one partition: the state Kafka keeps in its Partition and
// ProducerStateManager classes, with no network and no metadata access.
//
// A Partition wraps a log.Log and owns, under one mutex, everything a produce or fetch must see
// consistently: the role (leader or follower) and leader epoch, the ISR view the controller
// published, the high watermark, each follower's log end offset, the idempotent producers' last
// sequences, and the waiters parked on the high watermark (acks=all produces and long-poll fetches).
//
// Appends on different partitions run in parallel; appends on one partition are serialised by its
// mutex, which is also what makes the producer sequence checks race-free. The high watermark is the
// lowest log end offset among the ISR (the leader's own included), so with an ISR of one it follows
// the log end offset at once.
//
// Transactions (txn.go): a transactional batch opens a transaction for its producer, which the
// log tracks (log.Log.OngoingTxn); a plain batch from that producer is ErrInvalidTxnState.
// AppendMarker (WriteTxnMarkers) ends it with a COMMIT or ABORT control batch after Kafka's checks:
// an older producer epoch is ErrInvalidProducerEpoch, an older coordinator epoch than the
// producer's last marker ErrCoordinatorFenced. The last stable offset (LastStableOffset) is
// computed from the log's open transactions and the high watermark, on leaders and followers alike;
// read_committed reads (ReadIsolated, ReadRecordsIsolated) stop there and return the aborted
// transactions they overlap. A producer with an open transaction is never expired.
//
// Role changes come from metadata (BecomeLeader, BecomeFollower); the partition never decides them.
package partition
