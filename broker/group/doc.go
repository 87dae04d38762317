// Package group is Kafka's classic consumer-group coordinator (Kafka 3.4's GroupCoordinator,
// GroupMetadata and GroupMetadataManager): JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
// OffsetCommit, TxnOffsetCommit, OffsetFetch, DescribeGroups, ListGroups, DeleteGroups and
// OffsetDelete.
//
// # Shape
//
// Each group is a state machine (type group) with no goroutines and no IO: a request, a timer or
// the end of a write goes in together with the current time, and what comes out is effects —
// responses to deliver to parked requests, records to persist, and the time of its next timer.
// Tests drive it step by step with a fake clock.
//
// The runtime (Coordinator) gives each group an actor: a queue of events and a goroutine that
// runs them one at a time, started when an event arrives and ending when the queue is empty, so
// one goroutine owns a group at any time and an idle group costs none. Each actor has one runtime
// timer (at its group's next deadline) and writes its records in the order the group asked for
// them, one Store.Append at a time, on a second goroutine that likewise exists only while writes
// are pending (Append must honour its ctx: Resigned and Close cancel it, and Close waits).
// Handlers block on their own request's answer (or ctx); Start queues a request at once and
// returns the wait, for callers that must keep a connection's requests in order.
//
// Groups live in __consumer_offsets partition PartitionFor(groupID, n), where n is the topic's
// partition count (Config.PartitionCount; offsets.topic.num.partitions before it exists).
// The broker calls Elected when it becomes the leader of such a partition (the coordinator
// replays it through Store.Replay and serves its groups; requests meanwhile get
// COORDINATOR_LOAD_IN_PROGRESS) and Resigned when it stops being the leader (its groups are
// dropped; requests get NOT_COORDINATOR).
//
// # States
//
//   - Empty: no members. A new group, a group whose members all left, or a group used only to
//     store offsets (simple consumers, admin tools commit with generation -1). The first
//     JoinGroup moves it to PreparingRebalance after group.initial.rebalance.delay.ms, extended by
//     that delay again (up to the rebalance timeout) while new members keep arriving.
//   - PreparingRebalance: JoinGroup requests are parked until every known member has rejoined or
//     the rebalance timeout expires; members that did not rejoin are removed (static members
//     stay). Heartbeats answer REBALANCE_IN_PROGRESS. Then the generation is bumped, a protocol
//     chosen (supported by every member; most votes, each member voting for its most preferred)
//     and every parked JoinGroup answered — the leader's with the members' metadata. With no
//     member left, the group becomes Empty.
//   - CompletingRebalance: waiting for the leader's SyncGroup. Followers' SyncGroups are parked.
//     Members that do not send SyncGroup within the rebalance timeout are removed and the group
//     rebalances again. A JoinGroup with new metadata, a leave or a failure restarts the rebalance
//     (parked SyncGroups get REBALANCE_IN_PROGRESS).
//   - Stable: the leader's assignment is persisted and handed to everyone. A member failing
//     (no heartbeat within its session timeout), leaving, changing its metadata, or the leader
//     rejoining starts a new rebalance.
//   - Dead: deleted (DeleteGroups, or an Empty group whose last offsets expired) or unloaded;
//     the group is forgotten once its last records are written.
//
// Static members (group.instance.id, KIP-345) keep their place across restarts: a known instance
// joining without a member id takes over the member (the old id is fenced: FENCED_INSTANCE_ID)
// without a rebalance when the group is Stable. JoinGroup v4+ without a member id gets
// MEMBER_ID_REQUIRED with a new id (client id + "-" + UUID) to join with (KIP-394).
//
// # What is persisted
//
// Records go to the group's __consumer_offsets partition exactly as Kafka writes them, so tools
// that read that topic understand them:
//
//   - an offset commit: key OffsetCommitKey v1 (group, topic, partition), value OffsetCommitValue
//     v3 (offset, leader epoch, metadata, commit timestamp; v1 with an expire timestamp for the
//     OffsetCommit v2-v4 requests that set a retention time);
//   - a generation: key GroupMetadataKey v2, value GroupMetadataValue v3 (protocol type,
//     generation, protocol, leader, state timestamp, and each member with its subscription and
//     assignment), written when the leader's assignment is accepted, when a static member is
//     replaced, and when a rebalance leaves the group Empty;
//   - tombstones (nil value) for deleted and expired offsets, and for the metadata of a deleted
//     group that had a generation;
//   - a transactional offset commit: the same records, in a transactional batch of the producer
//     (Store.Append with a Producer); the transaction coordinator's marker (a control batch)
//     follows in the same partition.
//
// Replay rebuilds groups and offsets: the last record of a key wins, a tombstone deletes. A group
// with members comes back Stable (members must heartbeat within their session timeout), one
// without members Empty. Offsets expire (offsets.retention.minutes, checked every
// offsets.retention.check.interval.ms) as in Kafka: for an Empty group counting from when it
// became Empty, for a Stable consumer group only for topics no member subscribes to any more,
// for a simple group from each commit.
//
// # Transactions
//
// TxnOffsetCommit (KIP-98, KIP-447) is validated as OffsetCommit is (v3's generation, member id
// and group.instance.id: ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID), except that
// the group's state does not matter and a request without member or generation (v0-v2) is
// accepted even for a group with members; a generation -1 commit creates a missing group. Its
// offsets are written as the producer's transactional batch, so the partition's producer state
// knows the transaction and refuses a fenced epoch (INVALID_PRODUCER_EPOCH), and held pending by
// producer id (txn.go). The broker calls CompleteTxn once a producer's marker is durable in a
// partition it leads: a commit makes the producer's pending offsets the group's, unless a regular
// commit later in the log replaced one (offsets are ordered by log offset, as Kafka's olderThan);
// an abort drops them. Until then OffsetFetch answers the last committed offset, or
// UNSTABLE_OFFSET_COMMIT with RequireStable. Replay holds a transactional batch's offsets pending
// until its producer's marker (commit applies, abort drops); a load that ends inside a
// transaction keeps them pending for the marker to come, and a marker that reaches a loading
// partition is applied once it is loaded. A regular tombstone (DeleteGroups, OffsetDelete,
// expiry) removes the key's pending transactional offsets too, in memory and on replay, so
// DeleteGroups deletes an Empty group with pending offsets entirely, and expiry keeps an offset
// (and so its group) while a transaction holds its partition: Kafka 3.5+'s OffsetMetadataManager
// rules, which 3.4's GroupMetadataManager did not keep consistent with its own replay.
//
// # Differences from Kafka
//
//   - A request parked by a member that is replaced or removed gets an answer (Kafka may leave it
//     unanswered until the client times out): a JoinGroup or SyncGroup retried while the first is
//     parked makes the first answer REBALANCE_IN_PROGRESS; a removed member's parked request gets
//     UNKNOWN_MEMBER_ID. With per-connection response ordering, an unanswered request would stall
//     the connection.
//   - Deleting a group or offsets answers after the tombstones are durable (Kafka appends them
//     without waiting), and tombstones also cover commits still being written.
//   - Where Kafka iterates hash maps (members in JoinGroup and DescribeGroups answers, protocol
//     ties, the new leader when the leader leaves), this package uses join order.
//   - A TxnOffsetCommit without a producer id is INVALID_PRODUCER_ID_MAPPING, without an epoch
//     INVALID_PRODUCER_EPOCH (Kafka 3.4 stores the first as a regular commit). One with a member
//     id or generation for a group that does not exist is UNKNOWN_MEMBER_ID without creating the
//     group (Kafka creates it empty first).
//   - A TxnOffsetCommit whose write fails leaves the producer's earlier durable pending offset of
//     that partition in place; Kafka drops it (so a fenced zombie's failed commit, same producer
//     id, would wipe the live producer's).
//   - The coordinator does not itself check that the producer id belongs to the transactional id
//     or added the group's partition to its transaction (KIP-890's verification).
//   - Undecodable records are skipped with a warning instead of failing the load.
//   - OffsetCommit v10 and OffsetFetch v10 address topics by id, which this package does not
//     resolve: the broker should advertise at most v9 (Kafka 3.4 serves v8).
//   - Timers are at least 1ms, so a zero timeout cannot spin.
package group
