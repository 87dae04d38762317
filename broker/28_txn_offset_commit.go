package broker

// TxnOffsetCommit (key 28), versions 0–3.
//
// A transactional producer's offset commit for a group (KIP-98; v3 carries the consumer's
// generation, member id and group.instance.id, KIP-447, validated as OffsetCommit validates them,
// except that a v0-v2 request without them is accepted whatever the group's state). The offsets
// are written to __consumer_offsets as a transactional batch of the producer and answered once
// in the ISR; they stay pending, invisible to OffsetFetch (UNSTABLE_OFFSET_COMMIT with
// RequireStable), until the transaction's marker reaches the group's partition
// (group.Coordinator.CompleteTxn): committed they become the group's offsets, aborted they are
// dropped. See broker/group/txn.go.

func init() { register(28, 0, 3, groupAPI) }
