package broker

// OffsetFetch (key 9), versions 0–8.
//
// Committed offsets of one group (v0–7) or several (v8+, Groups). A group or partition without a
// commit gets offset -1 and no error, as in Kafka. With RequireStable (v7+, KIP-447) a partition
// with a commit still being written, or with offsets a transaction holds until its marker
// (TxnOffsetCommit), gets UNSTABLE_OFFSET_COMMIT; without it, the last committed offset.

func init() { register(9, 0, 8, groupAPI) }
