package broker

// AddPartitionsToTxn (key 24), versions 0–4.
//
// v0–v3 come from transactional producers adding partitions to their transaction; v4 batches
// transactions from brokers, whose VerifyOnly asks whether partitions are already in them
// (KIP-890 part 1). The transaction coordinator answers (broker/txn). v5 belongs to transaction
// version 2 (KIP-890 part 2), which is not served.

func init() { register(24, 0, 4, txnAPI) }
