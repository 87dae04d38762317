package broker

// AddPartitionsToTxn (key 24), versions 0–5.
//
// v0–v3 come from transactional producers adding partitions to their transaction; v4–v5 batch
// transactions from brokers, whose VerifyOnly asks whether partitions are already in them
// (KIP-890 part 1), and without it adds them for a client of transaction version 2 (KIP-890
// part 2: a partition leader adds the partitions of a Produce v12 or TxnOffsetCommit v5,
// txn_verify.go). The transaction coordinator answers (broker/txn).

func init() { register(24, 0, 5, txnAPI) }
