// Package controller holds the cluster's duties that Kafka's active controller performs:
// validating and placing new topics and partitions, allocating producer id blocks, registering
// brokers, and turning each decision into a raftmeta command.
//
// Decisions that need randomness or the clock (topic ids, the starting broker of an assignment)
// are made here, before the command is proposed, so that the Raft state machine that applies the
// command stays deterministic on every node.
package controller
