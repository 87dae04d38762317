// Package partition is one replica of one partition: the state Kafka keeps in its Partition and
// ProducerStateManager classes, with no network and no metadata access.
//
// A Partition wraps a log.Log and owns, under one mutex, everything a produce or fetch must see
// consistently: the role (leader or follower) and leader epoch, the ISR view the controller
// published, the high watermark, each follower's log end offset, the idempotent producers' last
// sequences, and the waiters parked on the high watermark (acks=all produces and long-poll fetches).
//
// Appends on different partitions run in parallel; appends on one partition are serialised by its
// mutex, which is also what makes the producer sequence checks race-free. The high watermark is the
// lowest log end offset among the ISR (the leader's own included), so with an ISR of one it follows
// the log end offset at once.
//
// Role changes come from metadata (BecomeLeader, BecomeFollower); the partition never decides them.
package partition
