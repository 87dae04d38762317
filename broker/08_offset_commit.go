package broker

// OffsetCommit (key 8), versions 0–8.
//
// Commits offsets for a group (or a simple, member-less consumer with generation -1). The commit is
// answered once its __consumer_offsets record is in the ISR, so it survives what acks=all data
// survives. Metadata strings round-trip.

func init() { register(8, 0, 8, groupAPI) }
