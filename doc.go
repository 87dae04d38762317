// Package minikraft is an embeddable, Kafka-compatible cluster: the same broker that the
// minikraft command runs, started in-process for Go tests and tools.
//
// In a test:
//
//	c := minikraft.NewCluster(t, 3)
//	cl, _ := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
//
// starts three real nodes (each a Raft voter and a broker) on loopback ports with their data in
// a temporary directory (in /dev/shm where Linux has a tmpfs with room: WithDir), with timeouts short enough that the cluster is ready in a fraction of a second,
// and closes them when the test ends. StopNode, RestartNode, Isolate and Heal inject the faults
// replication must survive. StartCluster does the same outside a test.
//
// Test controls put the cluster into a chosen state, quickly and deterministically: InjectError
// and InjectDelay answer a node's next requests of an API key with an error (encoded as Kafka
// encodes it for that API) or late, between nodes too (errresp.go, controls.go); Partition and
// PartitionOneWay cut links between groups of nodes, both ways or one, while clients still reach
// every node, and Heal / HealAll end the cuts (faultnet.go); ShrinkISR and MoveLeader change a
// partition's ISR and leader through the active controller, as the cluster itself does
// (controls_replicas.go); ThrottleFollower makes a follower lag for real and UncleanLeaderLoss
// makes a leader lose a partition's log (controls_lag.go).
//
// WithHistory records every produce and every consumer fetch through Mux interceptors, and
// History().Check() reports what breaks Kafka's promises: lost acks=all writes, divergent and
// phantom reads, reads past the high watermark, order, gaps, idempotent duplicates, aborted
// reads under read_committed (history*.go).
//
// NodeAdmin serves the same controls for one node over HTTP (the binary's --test-admin-listen),
// for tests in other languages (admin.go, admin_links.go).
//
// Reset empties the cluster between tests without restarting it, in one metadata record every
// node applies before it returns (reset.go); Snapshot writes the metadata and each partition up
// to its high watermark to a directory, and FromSnapshot starts a cluster from one
// (snapshot.go). See ARCHITECTURE.md, "The fixture's Reset and Snapshot".
package minikraft
