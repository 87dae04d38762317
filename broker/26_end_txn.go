package broker

// EndTxn (key 26), versions 0–5.
//
// Commits or aborts the producer's transaction: the coordinator writes the PrepareCommit /
// PrepareAbort record in __transaction_state, then the markers (WriteTxnMarkers to each
// partition leader, txn_glue.go), answers, and writes the Complete record. v5 is transaction
// version 2 (KIP-890 part 2): every end bumps the producer epoch (a new producer id once the
// epoch is exhausted), the answer carries the producer id and epoch of the next transaction,
// and an empty transaction may be aborted. See broker/txn's machine_tv2.go.

func init() { register(26, 0, 5, txnAPI) }
