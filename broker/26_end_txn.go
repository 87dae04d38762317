package broker

// EndTxn (key 26), versions 0–4.
//
// Commits or aborts the producer's transaction: answered once the PrepareCommit / PrepareAbort
// record is durable in __transaction_state; the coordinator then writes the markers
// (WriteTxnMarkers to each partition leader, txn_glue.go) and the Complete record. v5 belongs
// to transaction version 2 (KIP-890 part 2), which is not served.

func init() { register(26, 0, 4, txnAPI) }
