// Package kafkatools is Kafka's command-line tools in minikraft's binary (issue 19):
// kafka-topics, kafka-console-producer, kafka-console-consumer, kafka-consumer-groups,
// kafka-configs, kafka-metadata-quorum, kafka-get-offsets, kafka-delete-records and
// kafka-reassign-partitions, with Kafka's flags and Kafka's output, so that the commands people
// run against a bitnami container (`docker exec kafka-0 kafka-topics.sh --bootstrap-server
// localhost:9092 --list`, a compose healthcheck, a look at a group's lag) work unchanged against
// minikraft's image, which has no JVM and no shell.
//
// Like package console, it is an ordinary Kafka client (franz-go's kgo and kadm) of whatever
// cluster --bootstrap-server names, Apache Kafka included: it imports nothing of the broker.
// --command-config reads Kafka's client properties (security.protocol, sasl.mechanism,
// sasl.jaas.config, ssl.truststore.*, ssl.keystore.*) into franz-go options (config.go).
//
// Output follows Kafka 3.x's tools line for line where scripts parse it: `kafka-topics
// --describe` prints Kafka 3.6's tab-separated "Topic: ... PartitionCount: ..." lines (without
// the Elr columns later versions add), `kafka-consumer-groups --describe` prints the same
// padded columns (GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST
// CLIENT-ID) with the same width rules, `kafka-metadata-quorum describe --status` the same
// "Key:   value" lines. Options are parsed as joptsimple parses them (--name value,
// --name=value, unique abbreviations); an unknown option gets joptsimple's "<name> is not a
// recognized option" and the usage, exit status 1, as Kafka's tools do.
//
// Entry point: Main(tool, args, stdin, stdout, stderr) returns the exit status; ToolName maps
// argv[0] (kafka-topics.sh, kafka-topics, /opt/bitnami/kafka/bin/kafka-topics.sh) to a tool.
//
// Files: kafkatools.go (dispatch, Tools), options.go (the joptsimple-like parser and usage),
// config.go (--command-config, client options), topics.go, producer.go, consumer.go,
// groups.go (kafka-consumer-groups), configs.go (kafka-configs), quorum.go
// (kafka-metadata-quorum), offsets.go (kafka-get-offsets, kafka-delete-records), reassign.go.
package kafkatools
