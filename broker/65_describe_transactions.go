package broker

// DescribeTransactions (key 65), version 0 (KIP-664; `kafka-transactions describe`).
//
// The state of transactional ids this node coordinates, from the transaction coordinator's
// memory; an id of another coordinator is NOT_COORDINATOR, an unknown one
// TRANSACTIONAL_ID_NOT_FOUND.

func init() { register(65, 0, 0, txnAPI) }
