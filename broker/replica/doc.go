// Package replica is a node's replica manager (Kafka's ReplicaManager and LogManager duties): the
// partitions this node holds a replica of, kept in line with the cluster metadata and with their
// leaders. The broker package is the Kafka API layer over it.
//
// A Manager owns:
//   - the registry of local partitions (manager.go): Leader and Local find a replica for a
//     request or answer the Kafka error a client should see, All lists them;
//   - Apply (apply.go): each new metadata State opens replicas assigned here (removing a stale
//     directory of an earlier topic of the same name, told by partition.metadata's topic id),
//     drops those no longer assigned (their directories renamed *-delete and removed in the
//     background by trash.go, as Kafka does), makes replicas leaders or followers at the
//     partition epoch the controller decided, and pushes topic config changes into their logs;
//   - the replica fetchers (fetcher.go, session.go): one goroutine per leader this node
//     follows, fetching all its partitions in a KIP-227 fetch session, truncating by leader
//     epoch (KIP-101, KIP-279) and on a fetch's DivergingEpoch (KIP-595); a follower throttle
//     (throttle.go, SetFetchThrottle: a token bucket over the fetched bytes, shared by the
//     fetchers, waited out between rounds with no lock held) makes a node lag for real;
//   - ISR proposals (isr.go): leaders propose ISR shrinks and expansions to the controller as
//     AlterPartition requests;
//   - retention and cleaning passes (retention.go) over every local log.
//
// It knows the broker only through Config: plain values (the node's config.Broker, the data
// directory, a dialer), the metadata's read side (Metadata) and the controller's AlterPartition
// (Controller). Apply is serialised by the manager's apply lock; Config.Reconciling runs under it
// before the partitions change (the broker resigns the groups of a replaced __consumer_offsets),
// Config.Reconciled after the partitions are reconciled and before the fetchers follow the new
// leaders, so the broker's own reaction to the metadata (its group coordinator) happens in the
// same order on every pass.
package replica
