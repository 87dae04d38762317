// Package config is Kafka's configuration vocabulary: the broker properties and topic configs of
// Apache Kafka 3.4, with Kafka's names, types, defaults, validators and messages, and the rules
// that tie them together.
//
// # What is here
//
//   - Definitions (BrokerDef, BrokerDefs, TopicDef, TopicDefs): name, type, default, a one-line
//     doc, validator, dynamic update mode (read-only, per-broker, cluster-wide) and, for topic
//     configs, the broker properties that supply their default (retention.ms ← log.retention.ms,
//     log.retention.minutes, log.retention.hours).
//   - Validation for CreateTopics, AlterConfigs and IncrementalAlterConfigs (ValidateTopicConfig,
//     ValidateTopic, ValidateBrokerDynamic), with Kafka's messages: "Unknown topic config name:
//     foo", "Invalid value -5 for configuration retention.ms: Value must be at least -1",
//     "Invalid value foo for configuration cleanup.policy: String must be one of: compact, delete".
//     Such errors wrap ErrInvalidConfig and their Error() is the message to send to the client.
//   - Resolution for DescribeConfigs (ResolveTopic, ResolveBroker, ResolveClusterDefaults): each
//     config's effective value, source (Kafka's ConfigSource numbers), read-only and sensitive
//     flags, type (Kafka's DescribeConfigs type numbers), documentation and synonyms, from four
//     layers: topic override, dynamic config of this broker, dynamic cluster-wide default, static
//     properties, built-in default. Derived values are computed as Kafka does:
//     log.retention.hours=24 alone gives retention.ms=86400000.
//   - Typed views: Broker (FromProperties, Default, Validate) for the node, Topic (TopicFrom,
//     DefaultTopic) for a topic's log and partitions.
//
// The package imports only the standard library. Merging flags, KAFKA_CFG_* environment variables
// and a properties file into one property map is cmd/minikraft's job; this package starts from
// that map.
//
// # Unknown and inert properties
//
// A broker property this package does not define (a JVM, ZooKeeper or listener-prefixed setting, bitnami's
// KAFKA_CFG_MAX_REQUEST_SIZE) does not fail: FromProperties returns it in unknown for the caller to
// log once, as Kafka logs "The configuration 'x' was supplied but isn't a known config.", keeps it
// in Broker.Props, and ResolveBroker shows it the way Kafka shows an unknown property (sensitive,
// type UNKNOWN). Properties that are defined but that minikraft does not act on (thread counts,
// log.cleaner.threads among them, socket buffer sizes, the log.flush.*checkpoint* intervals,
// offsets.topic.compression.codec, offsets.load.buffer.size, message.format.version) are
// accepted, validated and reported, and change nothing; where that is not obvious their
// DescribeConfigs documentation says so.
//
// # Where minikraft differs from Kafka, and why
//
//   - Defaults for the no-argument mode: node.id=0 (Kafka: -1, which refuses to start),
//     process.roles=broker,controller (Kafka: empty, i.e. ZooKeeper mode),
//     listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093 (Kafka: PLAINTEXT://:9092),
//     controller.listener.names=CONTROLLER (Kafka: null), log.dir=./minikraft-data (Kafka:
//     /tmp/kafka-logs). log.dirs keeps Kafka's null default, so log.dirs still beats log.dir.
//     These are the tables' defaults, so DescribeConfigs reports what the node really runs with.
//   - controller.quorum.voters may be left out on a node with the controller role: it then is
//     <node.id>@<its controller listener>, a one-voter quorum (a bind-all host becomes 127.0.0.1).
//     Kafka requires the property.
//   - Listeners may use any of Kafka's four security protocols (their keystores and SASL settings
//     are read by broker/security); a SASL controller listener takes PLAIN only, as in Kafka.
//   - A listener named PLAINTEXT, or named in controller.listener.names, needs no entry in an
//     explicitly set listener.security.protocol.map (Kafka requires an entry for every listener
//     once the map is set). controller.listener.names is upper-cased like listener names.
//   - inter.broker.listener.name defaults to PLAINTEXT when that listener is advertised, else to the
//     first advertised listener (Kafka insists on a PLAINTEXT listener unless the property is set).
//   - An advertised listener without a host gets os.Hostname(); Kafka uses the canonical host name
//     of the local address.
//   - A voter id given twice in controller.quorum.voters is an error (Kafka keeps the last one).
//   - Topic synonyms in DescribeConfigs list the whole chain of broker properties behind a topic
//     config: retention.ms shows log.retention.ms, .minutes and .hours from every layer, down to
//     DEFAULT_CONFIG log.retention.hours=168, and its source is the strongest of them. Kafka 3.4
//     drops the synonyms before the first one named like the primary (log.retention.ms), which
//     loses the hours chain and reports DEFAULT_CONFIG for a topic whose retention comes from a
//     static log.retention.hours. Broker resources keep Kafka's behaviour exactly.
//   - ValidateBrokerDynamic rejects an unknown property name with Kafka's "Cannot update these
//     configs dynamically" message; Kafka stores an unknown dynamic broker config silently.
//   - Class-typed properties (policies, principal builders, reporters) are not defined: minikraft
//     loads no Java classes, so setting one is reported as unknown.
package config
