// Package minikraft is an embeddable, Kafka-compatible cluster: the same broker that the
// minikraft command runs, started in-process for Go tests and tools.
//
// In a test:
//
//	c := minikraft.NewCluster(t, 3)
//	cl, _ := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
//
// starts three real nodes (each a Raft voter and a broker) on loopback ports with their data in
// t.TempDir(), with timeouts short enough that the cluster is ready in a fraction of a second,
// and closes them when the test ends. StopNode, RestartNode, Isolate and Heal inject the faults
// replication must survive. StartCluster does the same outside a test.
package minikraft
