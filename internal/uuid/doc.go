// Package uuid makes Kafka's random identifiers: version 4 UUIDs, the form of topic ids, cluster
// ids, broker incarnations and the random part of consumer group member ids.
//
// It imports only the standard library, so every package of the module may use it (deps_test.go
// lists it in each row that needs it); it is the one place the module draws a UUID.
package uuid
