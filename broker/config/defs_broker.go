package config

import "sort"

// Defaults where minikraft's no-argument mode differs from Kafka's (see the package doc).
const (
	DefaultNodeID                  = "0"
	DefaultProcessRoles            = "broker,controller"
	DefaultListeners               = "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
	DefaultControllerListenerNames = "CONTROLLER"
	DefaultLogDir                  = "./minikraft-data"
)

// Kafka's Long.MAX_VALUE and Integer.MAX_VALUE, which several defaults use to mean "never".
const (
	maxLong = "9223372036854775807"
	maxInt  = "2147483647"
)

// v makes a non-null default.
func v(s string) *string { return &s }

func bdef(name string, t Type, dflt *string, mode Mode, check checker, doc string) *Def {
	return &Def{Name: name, Type: t, Default: dflt, Mode: mode, Check: check, Doc: doc}
}

// brokerDefs is Kafka 3.4's KafkaConfig definitions that minikraft knows: the KRaft, listener,
// log, replication, group, offset and transaction properties (and, in defs_security.go, the SSL
// and SASL ones broker/security reads). ZooKeeper, quota, metrics-reporter and pluggable-class
// properties are deliberately absent, so setting one
// is reported as unknown instead of being silently accepted. Many of these are accepted for
// compatibility and reported by DescribeConfigs but change nothing (thread counts, buffer sizes).
var brokerDefs = []*Def{
	// KRaft.
	bdef("process.roles", TypeList, v(DefaultProcessRoles), ReadOnly, listOf("broker", "controller"),
		"The roles that this process plays: 'broker', 'controller', or 'broker,controller' if it is both."),
	bdef("node.id", TypeInt, v(DefaultNodeID), ReadOnly, nil,
		"The node ID associated with the roles this process is playing when `process.roles` is non-empty."),
	bdef("broker.id", TypeInt, v("-1"), ReadOnly, nil,
		"The broker id for this server; in KRaft mode it must equal node.id when both are set."),
	bdef("controller.listener.names", TypeString, v(DefaultControllerListenerNames), ReadOnly, nil,
		"A comma-separated list of the names of the listeners used by the controller."),
	bdef("controller.quorum.voters", TypeList, v(""), ReadOnly, nil,
		"Map of id/endpoint information for the set of voters in a comma-separated list of `{id}@{host}:{port}` entries."),
	bdef("controller.quorum.election.timeout.ms", TypeInt, v("1000"), ReadOnly, nil,
		"Maximum time in milliseconds to wait without being able to fetch from the leader before triggering a new election."),
	bdef("controller.quorum.fetch.timeout.ms", TypeInt, v("2000"), ReadOnly, nil,
		"Maximum time without a successful fetch from the current leader before becoming a candidate and triggering an election for voters."),
	bdef("controller.quorum.election.backoff.max.ms", TypeInt, v("1000"), ReadOnly, nil,
		"Maximum time in milliseconds before starting new elections."),
	bdef("controller.quorum.append.linger.ms", TypeInt, v("25"), ReadOnly, nil,
		"The duration in milliseconds that the leader will wait for writes to accumulate before flushing them to disk."),
	bdef("controller.quorum.request.timeout.ms", TypeInt, v("2000"), ReadOnly, nil,
		"The maximum amount of time the client will wait for the response of a request."),
	bdef("controller.quorum.retry.backoff.ms", TypeInt, v("20"), ReadOnly, nil,
		"The amount of time to wait before attempting to retry a failed request to a given topic partition."),
	bdef("broker.heartbeat.interval.ms", TypeInt, v("2000"), ReadOnly, nil,
		"The length of time in milliseconds between broker heartbeats."),
	bdef("broker.session.timeout.ms", TypeInt, v("9000"), ReadOnly, nil,
		"The length of time in milliseconds that a broker lease lasts if no heartbeats are made."),
	bdef("initial.broker.registration.timeout.ms", TypeInt, v("60000"), ReadOnly, nil,
		"When initially registering with the controller quorum, the number of milliseconds to wait before declaring failure and exiting the broker process."),
	bdef("metadata.log.dir", TypeString, nil, ReadOnly, nil,
		"This configuration determines where we put the metadata log for clusters in KRaft mode."),
	bdef("metadata.log.segment.bytes", TypeInt, v("1073741824"), ReadOnly, atLeast(12),
		"The maximum size of a single metadata log file."),
	bdef("metadata.log.segment.ms", TypeLong, v("604800000"), ReadOnly, nil,
		"The maximum time before a new metadata log file is rolled out (in milliseconds)."),
	bdef("metadata.max.retention.bytes", TypeLong, v("104857600"), ReadOnly, nil,
		"The maximum combined size of the metadata log and snapshots before deleting old snapshots and log files."),
	bdef("metadata.max.retention.ms", TypeLong, v("604800000"), ReadOnly, nil,
		"The number of milliseconds to keep a metadata log file or snapshot before deleting it."),
	bdef("metadata.log.max.record.bytes.between.snapshots", TypeLong, v("20971520"), ReadOnly, atLeast(1),
		"This is the maximum number of bytes in the log between the latest snapshot and the high-watermark needed before generating a new snapshot."),
	bdef("metadata.log.max.snapshot.interval.ms", TypeLong, v("3600000"), ReadOnly, atLeast(0),
		"This is the maximum number of milliseconds to wait to generate a snapshot if there are committed records in the log that are not included in the latest snapshot."),
	bdef("metadata.max.idle.interval.ms", TypeInt, v("500"), ReadOnly, atLeast(0),
		"This configuration controls how often the active controller should write no-op records to the metadata partition."),

	// Listeners and the socket server.
	bdef("listeners", TypeString, v(DefaultListeners), PerBroker, nil,
		"Listener List - Comma-separated list of URIs we will listen on and the listener names."),
	bdef("advertised.listeners", TypeString, nil, PerBroker, nil,
		"Listeners to publish for clients to use, if different than the `listeners` config property."),
	bdef("listener.security.protocol.map", TypeString, v("PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"), PerBroker, nil,
		"Map between listener names and security protocols."),
	bdef("inter.broker.listener.name", TypeString, nil, ReadOnly, nil,
		"Name of listener used for communication between brokers."),
	bdef("security.inter.broker.protocol", TypeString, v("PLAINTEXT"), ReadOnly, oneOf("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"),
		"Security protocol used to communicate between brokers."),
	bdef("inter.broker.protocol.version", TypeString, v("3.4-IV0"), ReadOnly, metadataVersion,
		"Specify which version of the inter-broker protocol will be used."),
	bdef("num.network.threads", TypeInt, v("3"), ClusterWide, atLeast(1),
		"The number of threads that the server uses for receiving requests from the network and sending responses to the network."),
	bdef("num.io.threads", TypeInt, v("8"), ClusterWide, atLeast(1),
		"The number of threads that the server uses for processing requests, which may include disk I/O."),
	bdef("background.threads", TypeInt, v("10"), ClusterWide, atLeast(1),
		"The number of threads to use for various background processing tasks."),
	bdef("queued.max.requests", TypeInt, v("500"), ReadOnly, atLeast(1),
		"The number of queued requests allowed for data-plane, before blocking the network threads."),
	bdef("request.timeout.ms", TypeInt, v("30000"), ReadOnly, nil,
		"The configuration controls the maximum amount of time the client will wait for the response of a request."),
	bdef("socket.send.buffer.bytes", TypeInt, v("102400"), ReadOnly, nil,
		"The SO_SNDBUF buffer of the socket server sockets."),
	bdef("socket.receive.buffer.bytes", TypeInt, v("102400"), ReadOnly, nil,
		"The SO_RCVBUF buffer of the socket server sockets."),
	bdef("socket.request.max.bytes", TypeInt, v("104857600"), ReadOnly, atLeast(1),
		"The maximum number of bytes in a socket request."),
	bdef("socket.listen.backlog.size", TypeInt, v("50"), ReadOnly, atLeast(1),
		"The maximum number of pending connections on the socket."),
	bdef("max.connections.per.ip", TypeInt, v(maxInt), ClusterWide, atLeast(0),
		"The maximum number of connections we allow from each ip address."),
	bdef("max.connections.per.ip.overrides", TypeString, v(""), ClusterWide, nil,
		"A comma-separated list of per-ip or hostname overrides to the default maximum number of connections."),
	bdef("max.connections", TypeInt, v(maxInt), ClusterWide, atLeast(0),
		"The maximum number of connections we allow in the broker at any time."),
	bdef("max.connection.creation.rate", TypeInt, v(maxInt), ClusterWide, atLeast(0),
		"The maximum connection creation rate we allow in the broker at any time."),
	bdef("connections.max.idle.ms", TypeLong, v("600000"), ReadOnly, nil,
		"Idle connections timeout: the server socket processor threads close the connections that idle more than this."),
	bdef("broker.rack", TypeString, nil, ReadOnly, nil,
		"Rack of the broker."),

	// Topics and logs.
	bdef("auto.create.topics.enable", TypeBoolean, v("true"), ReadOnly, nil,
		"Enable auto creation of topic on the server."),
	bdef("delete.topic.enable", TypeBoolean, v("true"), ReadOnly, nil,
		"Enables delete topic."),
	bdef("num.partitions", TypeInt, v("1"), ReadOnly, atLeast(1),
		"The default number of log partitions per topic."),
	bdef("default.replication.factor", TypeInt, v("1"), ReadOnly, nil,
		"The default replication factors for automatically created topics."),
	bdef("min.insync.replicas", TypeInt, v("1"), ClusterWide, atLeast(1),
		"When a producer sets acks to \"all\" (or \"-1\"), min.insync.replicas specifies the minimum number of replicas that must acknowledge a write for the write to be considered successful."),
	bdef("message.max.bytes", TypeInt, v("1048588"), ClusterWide, atLeast(0),
		"The largest record batch size allowed by Kafka (after compression if compression is enabled)."),
	bdef("compression.type", TypeString, v("producer"), ClusterWide, compressionTypes,
		"Specify the final compression type for a given topic."),
	bdef("log.dir", TypeString, v(DefaultLogDir), ReadOnly, nil,
		"The directory in which the log data is kept (supplemental for log.dirs property)."),
	bdef("log.dirs", TypeString, nil, ReadOnly, nil,
		"A comma-separated list of the directories where the log data is stored. If not set, the value in log.dir is used."),
	bdef("log.segment.bytes", TypeInt, v("1073741824"), ClusterWide, atLeast(14),
		"The maximum size of a single log file."),
	bdef("log.roll.ms", TypeLong, nil, ClusterWide, nil,
		"The maximum time before a new log segment is rolled out (in milliseconds). If not set, the value in log.roll.hours is used."),
	bdef("log.roll.hours", TypeInt, v("168"), ReadOnly, atLeast(1),
		"The maximum time before a new log segment is rolled out (in hours), secondary to log.roll.ms property."),
	bdef("log.roll.jitter.ms", TypeLong, nil, ClusterWide, nil,
		"The maximum jitter to subtract from logRollTimeMillis (in milliseconds). If not set, the value in log.roll.jitter.hours is used."),
	bdef("log.roll.jitter.hours", TypeInt, v("0"), ReadOnly, atLeast(0),
		"The maximum jitter to subtract from logRollTimeMillis (in hours), secondary to log.roll.jitter.ms property."),
	bdef("log.retention.ms", TypeLong, nil, ClusterWide, nil,
		"The number of milliseconds to keep a log file before deleting it (in milliseconds), If not set, the value in log.retention.minutes is used. If set to -1, no time limit is applied."),
	bdef("log.retention.minutes", TypeInt, nil, ReadOnly, nil,
		"The number of minutes to keep a log file before deleting it (in minutes), secondary to log.retention.ms property. If not set, the value in log.retention.hours is used."),
	bdef("log.retention.hours", TypeInt, v("168"), ReadOnly, nil,
		"The number of hours to keep a log file before deleting it (in hours), tertiary to log.retention.ms property."),
	bdef("log.retention.bytes", TypeLong, v("-1"), ClusterWide, nil,
		"The maximum size of the log before deleting it."),
	bdef("log.retention.check.interval.ms", TypeLong, v("300000"), ReadOnly, atLeast(1),
		"The frequency in milliseconds that the log cleaner checks whether any log is eligible for deletion."),
	bdef("log.cleanup.policy", TypeList, v("delete"), ClusterWide, listOf("compact", "delete"),
		"The default cleanup policy for segments beyond the retention window."),
	bdef("log.cleaner.enable", TypeBoolean, v("true"), ReadOnly, nil,
		"Enable the log cleaner process to run on the server."),
	bdef("log.cleaner.threads", TypeInt, v("1"), ClusterWide, atLeast(0),
		"The number of background threads to use for log cleaning. (minikraft: one cleaner per node, whatever the value.)"),
	bdef("log.cleaner.backoff.ms", TypeLong, v("15000"), ClusterWide, atLeast(0),
		"The amount of time to sleep when there are no logs to clean."),
	bdef("log.cleaner.min.cleanable.ratio", TypeDouble, v("0.5"), ClusterWide, between(0, 1),
		"The minimum ratio of dirty log to total log for a log to eligible for cleaning."),
	bdef("log.cleaner.delete.retention.ms", TypeLong, v("86400000"), ClusterWide, atLeast(0),
		"The amount of time to retain delete tombstone markers for log compacted topics."),
	bdef("log.cleaner.min.compaction.lag.ms", TypeLong, v("0"), ClusterWide, atLeast(0),
		"The minimum time a message will remain uncompacted in the log."),
	bdef("log.cleaner.max.compaction.lag.ms", TypeLong, v(maxLong), ClusterWide, atLeast(1),
		"The maximum time a message will remain ineligible for compaction in the log."),
	bdef("log.index.size.max.bytes", TypeInt, v("10485760"), ClusterWide, atLeast(4),
		"The maximum size in bytes of the offset index."),
	bdef("log.index.interval.bytes", TypeInt, v("4096"), ClusterWide, atLeast(0),
		"The interval with which we add an entry to the offset index."),
	bdef("log.flush.interval.messages", TypeLong, v(maxLong), ClusterWide, atLeast(1),
		"The number of messages accumulated on a log partition before messages are flushed to disk."),
	bdef("log.flush.interval.ms", TypeLong, nil, ClusterWide, nil,
		"The maximum time in ms that a message in any topic is kept in memory before flushed to disk. If not set, the value in log.flush.scheduler.interval.ms is used."),
	bdef("log.flush.scheduler.interval.ms", TypeLong, v(maxLong), ReadOnly, nil,
		"The frequency in ms that the log flusher checks whether any log needs to be flushed to disk."),
	bdef("log.flush.offset.checkpoint.interval.ms", TypeInt, v("60000"), ReadOnly, atLeast(0),
		"The frequency with which we update the persistent record of the last flush which acts as the log recovery point."),
	bdef("log.flush.start.offset.checkpoint.interval.ms", TypeInt, v("60000"), ReadOnly, atLeast(0),
		"The frequency with which we update the persistent record of log start offset."),
	bdef("log.segment.delete.delay.ms", TypeLong, v("60000"), ClusterWide, atLeast(0),
		"The amount of time to wait before deleting a file from the filesystem."),
	bdef("log.preallocate", TypeBoolean, v("false"), ClusterWide, nil,
		"Should pre allocate file when create new segment?"),
	bdef("log.message.format.version", TypeString, v("3.0-IV1"), ReadOnly, metadataVersion,
		"Specify the message format version the broker will use to append messages to the logs; ignored since inter.broker.protocol.version 3.0."),
	bdef("log.message.timestamp.type", TypeString, v("CreateTime"), ClusterWide, oneOf("CreateTime", "LogAppendTime"),
		"Define whether the timestamp in the message is message create time or log append time."),
	bdef("log.message.timestamp.difference.max.ms", TypeLong, v(maxLong), ClusterWide, atLeast(0),
		"The maximum difference allowed between the timestamp when a broker receives a message and the timestamp specified in the message."),
	bdef("log.message.downconversion.enable", TypeBoolean, v("true"), ClusterWide, nil,
		"This configuration controls whether down-conversion of message formats is enabled to satisfy consume requests."),
	bdef("num.recovery.threads.per.data.dir", TypeInt, v("1"), ClusterWide, atLeast(1),
		"The number of threads per data directory to be used for log recovery at startup and flushing at shutdown."),

	// Replication.
	bdef("replica.lag.time.max.ms", TypeLong, v("30000"), ReadOnly, nil,
		"If a follower hasn't sent any fetch requests or hasn't consumed up to the leaders log end offset for at least this time, the leader will remove the follower from isr."),
	bdef("replica.socket.timeout.ms", TypeInt, v("30000"), ReadOnly, nil,
		"The socket timeout for network requests."),
	bdef("replica.socket.receive.buffer.bytes", TypeInt, v("65536"), ReadOnly, nil,
		"The socket receive buffer for network requests."),
	bdef("replica.fetch.max.bytes", TypeInt, v("1048576"), ReadOnly, atLeast(0),
		"The number of bytes of messages to attempt to fetch for each partition."),
	bdef("replica.fetch.wait.max.ms", TypeInt, v("500"), ReadOnly, nil,
		"The maximum wait time for each fetcher request issued by follower replicas."),
	bdef("replica.fetch.backoff.ms", TypeInt, v("1000"), ReadOnly, atLeast(0),
		"The amount of time to sleep when fetch partition error occurs."),
	bdef("replica.fetch.min.bytes", TypeInt, v("1"), ReadOnly, nil,
		"Minimum bytes expected for each fetch response."),
	bdef("replica.fetch.response.max.bytes", TypeInt, v("10485760"), ReadOnly, atLeast(0),
		"Maximum bytes expected for the entire fetch response."),
	bdef("num.replica.fetchers", TypeInt, v("1"), ClusterWide, nil,
		"Number of fetcher threads used to replicate records from each source broker."),
	bdef("replica.high.watermark.checkpoint.interval.ms", TypeLong, v("5000"), ReadOnly, nil,
		"The frequency with which the high watermark is saved out to disk."),
	bdef("unclean.leader.election.enable", TypeBoolean, v("false"), ClusterWide, nil,
		"Indicates whether to enable replicas not in the ISR set to be elected as leader as a last resort, even though doing so may result in data loss."),
	bdef("auto.leader.rebalance.enable", TypeBoolean, v("true"), ReadOnly, nil,
		"Enables auto leader balancing."),
	bdef("leader.imbalance.per.broker.percentage", TypeInt, v("10"), ReadOnly, nil,
		"The ratio of leader imbalance allowed per broker."),
	bdef("leader.imbalance.check.interval.seconds", TypeLong, v("300"), ReadOnly, atLeast(1),
		"The frequency with which the partition rebalance check is triggered by the controller."),
	bdef("controlled.shutdown.enable", TypeBoolean, v("true"), ReadOnly, nil,
		"Enable controlled shutdown of the server."),
	bdef("fetch.max.bytes", TypeInt, v("57671680"), ReadOnly, atLeast(1024),
		"The maximum number of bytes we will return for a fetch request."),
	bdef("max.incremental.fetch.session.cache.slots", TypeInt, v("1000"), ReadOnly, atLeast(0),
		"The maximum number of incremental fetch sessions that we will maintain."),

	// Consumer groups and offsets.
	bdef("group.min.session.timeout.ms", TypeInt, v("6000"), ReadOnly, nil,
		"The minimum allowed session timeout for registered consumers."),
	bdef("group.max.session.timeout.ms", TypeInt, v("1800000"), ReadOnly, nil,
		"The maximum allowed session timeout for registered consumers."),
	bdef("group.initial.rebalance.delay.ms", TypeInt, v("3000"), ReadOnly, nil,
		"The amount of time the group coordinator will wait for more consumers to join a new group before performing the first rebalance."),
	bdef("group.max.size", TypeInt, v(maxInt), ReadOnly, atLeast(1),
		"The maximum number of consumers that a single consumer group can accommodate."),
	bdef("offset.metadata.max.bytes", TypeInt, v("4096"), ReadOnly, nil,
		"The maximum size for a metadata entry associated with an offset commit."),
	bdef("offsets.load.buffer.size", TypeInt, v("5242880"), ReadOnly, atLeast(1),
		"Batch size for reading from the offsets segments when loading offsets into the cache. (minikraft: not used.)"),
	bdef("offsets.topic.replication.factor", TypeShort, v("3"), ReadOnly, atLeast(1),
		"The replication factor for the offsets topic (set higher to ensure availability)."),
	bdef("offsets.topic.num.partitions", TypeInt, v("50"), ReadOnly, atLeast(1),
		"The number of partitions for the offset commit topic (should not change after deployment)."),
	bdef("offsets.topic.segment.bytes", TypeInt, v("104857600"), ReadOnly, atLeast(1),
		"The offsets topic segment bytes should be kept relatively small in order to facilitate faster log compaction and cache loads."),
	bdef("offsets.topic.compression.codec", TypeInt, v("0"), ReadOnly, nil,
		"Compression codec for the offsets topic - compression may be used to achieve \"atomic\" commits. (minikraft: group records are written uncompressed, whatever the value.)"),
	bdef("offsets.retention.minutes", TypeInt, v("10080"), ReadOnly, atLeast(1),
		"After a consumer group loses all its consumers (i.e. becomes empty) its offsets will be kept for this retention period before getting discarded."),
	bdef("offsets.retention.check.interval.ms", TypeLong, v("600000"), ReadOnly, atLeast(1),
		"Frequency at which to check for stale offsets."),
	bdef("offsets.commit.timeout.ms", TypeInt, v("5000"), ReadOnly, atLeast(1),
		"Offset commit will be delayed until all replicas for the offsets topic receive the commit or this timeout is reached."),
	bdef("offsets.commit.required.acks", TypeShort, v("-1"), ReadOnly, nil,
		"The required acks before the commit can be accepted."),

	// Transactions and idempotent producers.
	bdef("transactional.id.expiration.ms", TypeInt, v("604800000"), ReadOnly, atLeast(1),
		"The time in ms that the transaction coordinator will wait without receiving any transaction status updates for the current transaction before expiring its transactional id."),
	bdef("transaction.max.timeout.ms", TypeInt, v("900000"), ReadOnly, atLeast(1),
		"The maximum allowed timeout for transactions."),
	bdef("transaction.partition.verification.enable", TypeBoolean, v("true"), ReadOnly, nil,
		"Enable verification that checks that the partition has been added to the transaction before writing transactional records to the partition."),
	bdef("transaction.state.log.min.isr", TypeInt, v("2"), ReadOnly, atLeast(1),
		"Overridden min.insync.replicas config for the transaction topic."),
	bdef("transaction.state.log.load.buffer.size", TypeInt, v("5242880"), ReadOnly, atLeast(1),
		"Batch size for reading from the transaction log segments when loading producer ids and transactions into the cache."),
	bdef("transaction.state.log.replication.factor", TypeShort, v("3"), ReadOnly, atLeast(1),
		"The replication factor for the transaction topic (set higher to ensure availability)."),
	bdef("transaction.state.log.num.partitions", TypeInt, v("50"), ReadOnly, atLeast(1),
		"The number of partitions for the transaction topic (should not change after deployment)."),
	bdef("transaction.state.log.segment.bytes", TypeInt, v("104857600"), ReadOnly, atLeast(1),
		"The transaction topic segment bytes should be kept relatively small in order to facilitate faster log compaction and cache loads."),
	bdef("transaction.abort.timed.out.transaction.cleanup.interval.ms", TypeInt, v("10000"), ReadOnly, atLeast(1),
		"The interval at which to rollback transactions that have timed out."),
	bdef("transaction.remove.expired.transaction.cleanup.interval.ms", TypeInt, v("3600000"), ReadOnly, atLeast(1),
		"The interval at which to remove transactions that have expired due to transactional.id.expiration.ms passing."),
	bdef("producer.id.expiration.ms", TypeInt, v("86400000"), ClusterWide, atLeast(1),
		"The time in ms that a topic partition leader will wait before expiring producer IDs."),
}

// compressionTypes is Kafka's BrokerCompressionType names, in Kafka's order.
var compressionTypes = oneOf("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")

var brokerByName = func() map[string]*Def {
	m := make(map[string]*Def, len(brokerDefs)+len(securityDefs)+len(authorizerDefs))
	for _, d := range append(append(append([]*Def(nil), brokerDefs...), securityDefs...), authorizerDefs...) {
		if m[d.Name] != nil {
			panic("config: duplicate broker property " + d.Name)
		}
		m[d.Name] = d
	}
	return m
}()

// BrokerDef returns the definition of a broker property, or nil if minikraft does not know it.
func BrokerDef(name string) *Def { return brokerByName[name] }

// BrokerDefs returns every broker property definition, sorted by name. The Defs are shared: do not
// modify them.
func BrokerDefs() []*Def {
	out := append(append(append([]*Def(nil), brokerDefs...), securityDefs...), authorizerDefs...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// brokerSynonyms is Kafka's DynamicBrokerConfig.brokerConfigSynonyms: the properties that set the
// same thing in different units, most specific first.
func brokerSynonyms(name string) []string {
	switch name {
	case "log.roll.ms", "log.roll.hours":
		return []string{"log.roll.ms", "log.roll.hours"}
	case "log.roll.jitter.ms", "log.roll.jitter.hours":
		return []string{"log.roll.jitter.ms", "log.roll.jitter.hours"}
	case "log.flush.interval.ms":
		return []string{"log.flush.interval.ms", "log.flush.scheduler.interval.ms"}
	case "log.retention.ms", "log.retention.minutes", "log.retention.hours":
		return []string{"log.retention.ms", "log.retention.minutes", "log.retention.hours"}
	}
	return []string{name}
}
