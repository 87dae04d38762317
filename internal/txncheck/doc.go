// Package txncheck is a Jepsen-style checker of Kafka transactions, shared by the in-process
// fixture's test (the root package) and the process-based one (e2e): several transactional
// franz-go producers write to several partitions, committing and aborting at random, while a
// nemesis the caller supplies kills, pauses and isolates nodes; then every partition is read to
// its end with read_committed and read_uncommitted, and the reads are checked against what the
// producers were told:
//
//   - a transaction whose commit was acknowledged is read whole, each record exactly once, by
//     both isolation levels;
//   - nothing of a transaction that was never asked to commit (so it can only have aborted) is
//     read under read_committed;
//   - a transaction whose commit failed (outcome unknown) is read all or nothing;
//   - a record acknowledged to its producer is read by read_uncommitted at the offset it was
//     acknowledged at, whatever its transaction's outcome;
//   - what a read_committed consumer read during the load (franz-go's consumer) is what the
//     final read_committed read finds, at the same offset: nothing aborted, nothing that moved;
//   - within a partition, one producer's records are read in the order it sent them;
//   - the last stable offset sampled during the run (ListOffsets with read_committed) never
//     passed the first offset of a transaction that was still open when the sample was taken.
//
// It is test support and not part of the broker; it imports no minikraft package.
package txncheck
