// Package raftmeta holds the cluster metadata (KRaft's job in Apache Kafka) in a
// hashicorp/raft quorum: brokers, topics and their partitions' replica state, dynamic configs,
// producer id blocks, the cluster id.
//
// # State and publication
//
// The metadata is a State: an immutable value that the FSM replaces, copy-on-write, with every
// applied command, and publishes through an atomic.Pointer. Readers (Node.State) never lock and
// may keep a State as long as they like; Node.Changed gives a channel that is closed when a newer
// one is published. Every node, leader or not, holds the whole metadata.
//
// # Commands
//
// A log entry is one op byte followed by the command's JSON body (EncodeCommand,
// DecodeCommand). The op bytes are the log format and are never renumbered:
//
//	1 InitCluster         stamp the cluster id into a fresh log
//	2 RegisterBroker      upsert a broker; its epoch becomes the entry's raft index
//	3 SetBrokerFenced     fence or unfence a broker
//	4 CreateTopic         a topic with its full replica assignment and configs
//	5 DeleteTopic         remove a topic and its configs
//	6 CreatePartitions    append partitions to a topic
//	7 AlterConfigs        set/delete (or replace) dynamic configs of a topic or broker
//	8 ChangePartition     leader / ISR / replicas change, guarded by the partition epoch
//	9 AllocateProducerIDs reserve a block of producer ids
//	10 ResetCluster       the test fixture's Reset: delete every topic but the internal ones,
//	                      which are re-created empty under new ids; drop every dynamic config
//	                      and SCRAM credential and ACL
//	11 RestoreTopics      the test fixture's FromSnapshot: replace every topic, config and ACL
//	12 AlterScramCredentials upsert/delete users' SCRAM credentials (StoredKey, ServerKey, salt,
//	                      iterations: never a password; scram.go)
//	13 AlterACLs          add/remove the authorizer's ACL bindings (acls.go)
//	14 ChangePartitions   up to MaxChangesPerEntry ChangePartition in one entry, each applied or
//	                      rejected on its own (batch.go): a broker's fencing or return
//
// Applying a command yields a result: a value (the broker epoch, the first producer id, the
// changed partition) or, for a rejected command, an error wrapping one of the sentinels
// (ErrTopicExists, ErrUnknownTopic, ErrStalePartitionEpoch, ...). Propose returns either to the
// proposer. A rejected command changes nothing but State.Index.
//
// # Determinism
//
// Every node applies the same log and must end with the same State, so Apply is a pure function
// of the previous State, the command and its raft index: no clock, no randomness, no local
// configuration, no map iteration order that shows. That is why the proposer decides everything
// that needs a choice — topic ids, replica assignments, leaders and ISRs (broker/controller does
// it on the leader) — and the command carries the decision; Apply only validates it against the
// State and records it. A command rejected on one node is rejected on all, for the same reason.
// Epochs that must grow come from the log itself (a broker's epoch is its registration's index;
// leader and partition epochs are incremented).
//
// An entry whose op byte this version does not know (or whose body does not decode) makes the
// FSM panic. Skipping it would let this node's metadata silently diverge from the nodes that
// understood it; stopping is the only safe answer to a log this binary cannot read.
//
// # Snapshots
//
// Snapshot keeps the current State pointer (free, since States are immutable) and Persist writes
// it as one JSON document:
//
//	{"version":1, "cluster_id":..., "index":..., "next_producer_id":...,
//	 "brokers":[Broker...], "topics":[Topic...], "configs":[{"resource":{...},"configs":{...}}],
//	 "scram":[ScramEntry...], "acls":[ACL...]}
//
// with brokers, topics, configs, SCRAM credentials and ACLs sorted by key, so equal States give equal bytes. Restore
// rebuilds the State (TopicIDs is derived from the topics). Raft takes a snapshot when 8192
// entries have accumulated since the last one (checked about every two minutes), into
// Dir/snapshots, keeping the last two, and then trims the log to the last 10240 entries.
//
// # Nodes and bootstrap
//
// A Node is Raft with the FSM, raft-boltdb (bbolt) as log and stable store in Dir/raft.db, file
// snapshots in Dir, and a NetworkTransport over the CONTROLLER listener: Mux splits that
// listener by the first byte a dialer sends (TagRaft for Raft, TagControl for the broker's
// control calls), and DialTag writes it. A node's Raft server id is its node id in decimal, its
// address its entry in the voters list.
//
// The quorum is static, like controller.quorum.voters: on its first start (no Raft state on
// disk), every voter bootstraps the same configuration, the Voters list, so their logs agree from
// index 1 and they elect a leader among themselves. A restart finds its state
// (raft.HasExistingState) and just resumes. The first leader of a fresh log proposes
// InitCluster{Config.ClusterID}; a node whose log carries another cluster id reports
// ErrClusterIDMismatch from WaitForLeader and Propose. Broker-only nodes (Config.Voter false)
// start with an empty log and are to be added as non-voters by the leader (a later issue).
//
// Proposals are made on the leader only (ErrNotLeader elsewhere); forwarding to the leader is
// the broker's control RPC. Raft's own logging goes to the Config.Logger through an hclog
// adapter, or nowhere when it is nil.
//
// Differences from Kafka: KRaft's metadata log is a Kafka topic of typed records replicated by
// Fetch, with snapshots as record batches; here it is hashicorp/raft with JSON commands and JSON
// snapshots. What the metadata says (brokers, epochs, assignments, ISR, configs) follows Kafka.
package raftmeta
