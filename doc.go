// Package minikraft is an embeddable, Kafka-compatible cluster: the same broker that the
// minikraft command runs, started in-process for Go tests and tools.
package minikraft
