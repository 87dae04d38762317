package broker

// ListTransactions (key 66), versions 0–1 (KIP-664; `kafka-transactions list`).
//
// The transactional ids this node coordinates, filtered by state, producer id and (v1, KIP-994)
// how long the transaction has been open. Admin clients ask every broker and merge the answers.

func init() { register(66, 0, 1, txnAPI) }
