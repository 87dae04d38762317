package broker

// AddOffsetsToTxn (key 25), versions 0–4.
//
// Adds the group's __consumer_offsets partition to the producer's transaction, before its
// TxnOffsetCommit. The transaction coordinator answers (broker/txn).

func init() { register(25, 0, 4, txnAPI) }
