// Package txn is Kafka's transaction coordinator (Kafka 4.0's TransactionCoordinator,
// TransactionMetadata, TransactionStateManager and the marker side of
// TransactionMarkerChannelManager): InitProducerId with a transactional id, AddPartitionsToTxn
// (v0-v3 from clients, v4-v5 from brokers: VerifyOnly, or an addition for a client of
// transaction version 2), AddOffsetsToTxn, EndTxn (v5: transaction version 2),
// DescribeTransactions and ListTransactions, transaction timeouts and transactional id expiration.
//
// # Shape
//
// Each transactional id is a state machine (type txn) with no goroutines and no IO: a request, a
// timer, the end of a write or the answer of a marker write goes in together with the current
// time, and what comes out is effects — answers for waiting requests, a record to persist,
// markers to write, and the time of its next timer. Tests drive it step by step with a fake
// clock.
//
// The runtime (Coordinator) runs every machine under one mutex (a step is short and never
// blocks) and carries out their effects on goroutines that exist only while a write is in flight:
// Store.Append for records, MarkerWriter.WriteMarkers for markers. A write's goroutine goes on
// with the writes its outcome leads to (Prepare record, markers, Complete record, a queued
// addition), so a commit costs one goroutine, not one per step; with a Store that is an
// AppendStarter a request's own record is appended on the request's goroutine, and so are the
// writes that follow while none waits on another node (runHere: records durable at once, and
// markers to a LocalMarkerWriter whose partitions are all led here alone in their ISR), so a
// one-node commit starts no goroutine; a goroutine starts only to wait for replicas or leaders. A machine writes at most one record at a time (Kafka's
// pending state: other requests meanwhile answer CONCURRENT_TRANSACTIONS, except an addition of
// the same producer behind another addition or behind the Complete record, which waits for it),
// so an id's records reach the log in order. Each id has one runtime timer, at its machine's next
// deadline. New producer ids come from ProducerIDs,
// asked without the lock. Handlers block on their request's answer (or ctx); Start begins a
// request at once and returns the wait, for callers that must keep a connection's requests in
// order.
//
// Transactional ids live in __transaction_state partition PartitionFor(id, n), where n is the
// topic's partition count (Config.PartitionCount; transaction.state.log.num.partitions before it
// exists). The broker calls Elected(partition, leaderEpoch) when it becomes the leader of such a
// partition (the coordinator replays it through Store.Replay, and, with a ReplayWaiter, acts on
// it only once the records it read are committed; requests meanwhile get
// COORDINATOR_LOAD_IN_PROGRESS) and Resigned when it stops (its ids are dropped; requests get
// NOT_COORDINATOR). The leader epoch is the coordinator epoch that markers carry, so partition
// leaders can refuse markers of a deposed coordinator.
//
// # States
//
//   - Empty: InitProducerId done (a new producer id at epoch 0, or the epoch bumped), no
//     transaction. AddPartitionsToTxn / AddOffsetsToTxn move it to Ongoing.
//   - Ongoing: partitions are added (each addition is durable before it is answered). EndTxn moves
//     it to PrepareCommit or PrepareAbort; InitProducerId from a new producer instance, or the
//     transaction outliving its transaction.timeout.ms, aborts it with a bumped epoch (Kafka's
//     PrepareEpochFence, which is never persisted: the PrepareAbort record carries the new epoch,
//     and so do the ABORT markers, which fence the old producer on every partition).
//   - Transaction version 2 (KIP-890 part 2; machine_tv2.go): EndTxn v5 moves Ongoing to
//     PrepareCommit / PrepareAbort with the epoch bumped (a new producer id, taken at Complete,
//     when the epoch is exhausted) and answers the next transaction's id and epoch; a retry is
//     recognized by the epoch just below the current one; Empty and Complete states may be
//     aborted (an empty transaction). Partitions are added by partition leaders (Produce v12,
//     TxnOffsetCommit v5: AddPartitionsToTxn v5 or AddFromLeader). Each transition records the
//     client's version (value v1's ClientTransactionVersion), which decides the rules an EndTxn
//     meets; a fence records 0, so the fenced producer is not taken for a version 2 retry.
//   - PrepareCommit / PrepareAbort: the outcome is durable; EndTxn is answered once every marker
//     is written (or after Config.EndTxnHold; Kafka answers here). Markers go to
//     every partition of the transaction; each written partition leaves the set; the others are
//     retried every Config.RetryBackoff until written or the coordinator resigns. Then:
//   - CompleteCommit / CompleteAbort: written once every marker is; the id is ready for the next
//     transaction (a retried EndTxn with the same outcome succeeds, the other is
//     INVALID_TXN_STATE).
//   - Dead: an Empty or Complete id idle for transactional.id.expiration.ms gets a tombstone and is
//     forgotten once it is durable.
//
// InitProducerId follows KIP-360: with the producer's current id and epoch it bumps the epoch and
// remembers the old one, so a retry whose answer was lost gets the same epoch; another epoch is
// PRODUCER_FENCED. An exhausted epoch (32766) rotates to a new producer id at epoch 0. Requests of
// old versions get INVALID_PRODUCER_EPOCH where newer ones get PRODUCER_FENCED, as Kafka answers.
//
// # What is persisted
//
// Records go to __transaction_state exactly as Kafka writes them: key TxnMetadataKey v0 (the
// transactional id), value TxnMetadataValue v0 (producer id and epoch, timeout, state,
// partitions — none when Empty —, last update and start timestamps), or v1 from
// Config.TransactionVersion 1 on (adding the previous and next producer ids and the client's
// transaction version), a tombstone for an expired id. Replay rebuilds the ids (the last record of a key wins, a tombstone deletes); an id found in
// PrepareCommit or PrepareAbort gets its markers sent again and its Complete record written, so a
// coordinator failover in the middle of a commit finishes it. Value v0 does not hold the last
// producer id, and no version the last epoch: as in Kafka, a KIP-360 retry across a failover is
// fenced.
//
// # Differences from Kafka
//
//   - Timeouts and expiration follow each id's own deadline rather than Kafka's periodic scans
//     (transaction.abort.timed.out.transaction.cleanup.interval.ms, 10s, and
//     transaction.remove.expired.transaction.cleanup.interval.ms, 1h): a transaction is aborted as
//     soon as it has outlived its timeout, an idle id removed as soon as it has expired.
//   - The verification of AddPartitionsToTxn v4 answers INVALID_TXN_STATE for a partition not in
//     the transaction, as Kafka 3.6-3.7; 3.8+ answers TRANSACTION_ABORTABLE (KIP-890), which
//     older clients do not know.
//   - ListTransactions is served up to v1 (v2's id pattern is not). TRANSACTION_ABORTABLE is
//     never answered (see the verification above).
//   - A fence (an InitProducerId over an Ongoing transaction, a timeout) bumps the epoch once
//     whatever the transaction version; Kafka 4.0's version 2 bumps it again in the PrepareAbort
//     record. Recording version 0 with the fence serves the same purpose (the fenced producer's
//     EndTxn is PRODUCER_FENCED, not a retry).
//   - An EndTxn v5 that exhausts the epoch allocates its new producer id before the machine runs
//     (Kafka: under the metadata lock); if the end turns out not to need it, the id is unused.
//   - A failed write of a Complete record is retried after RetryBackoff whatever the error (Kafka
//     retries COORDINATOR_NOT_AVAILABLE and gives up on the others until the partition reloads).
//   - Where Kafka answers CONCURRENT_TRANSACTIONS and the client backs off (20 ms for franz-go
//     and Kafka's producer), this coordinator waits: EndTxn is answered once every marker is
//     written (at most Config.EndTxnHold, 5s, after the Prepare record, or at a resignation:
//     the outcome is decided by then), and the Complete record is written after the answer; an
//     AddPartitionsToTxn or AddOffsetsToTxn of the current producer that arrives while that
//     record, or another addition's, is written is queued behind it (up to 64), and the queued
//     additions share one write of all their partitions (franz-go sends one per partition
//     leader at once). With the backoffs one node did 132 transactions a second, without them
//     about 1,600.
//   - Undecodable records are skipped with a warning instead of ending the load.
package txn
