package config

import "sort"

const (
	msPerMinute = 60 * 1000
	msPerHour   = 60 * msPerMinute
)

func tdef(name string, t Type, dflt string, check checker, doc string, syns ...Synonym) *Def {
	return &Def{Name: name, Type: t, Default: v(dflt), Mode: ClusterWide, Check: check, Doc: doc, Synonyms: syns}
}

func syn(name string) Synonym { return Synonym{Name: name, Scale: 1} }

// topicDefs is Kafka 3.4's LogConfig: every topic config, its default, validator and the broker
// properties that supply its default (LogConfig.AllTopicConfigSynonyms), in Kafka's order.
var topicDefs = []*Def{
	tdef("cleanup.policy", TypeList, "delete", listOf("compact", "delete"),
		"This config designates the retention policy to use on log segments: \"delete\" discards old segments, \"compact\" enables log compaction.",
		syn("log.cleanup.policy")),
	tdef("compression.type", TypeString, "producer", compressionTypes,
		"Specify the final compression type for a given topic.",
		syn("compression.type")),
	tdef("delete.retention.ms", TypeLong, "86400000", atLeast(0),
		"The amount of time to retain delete tombstone markers for log compacted topics.",
		syn("log.cleaner.delete.retention.ms")),
	tdef("file.delete.delay.ms", TypeLong, "60000", atLeast(0),
		"The time to wait before deleting a file from the filesystem.",
		syn("log.segment.delete.delay.ms")),
	tdef("flush.messages", TypeLong, maxLong, atLeast(1),
		"This setting allows specifying an interval at which we will force an fsync of data written to the log.",
		syn("log.flush.interval.messages")),
	tdef("flush.ms", TypeLong, maxLong, atLeast(0),
		"This setting allows specifying a time interval at which we will force an fsync of data written to the log.",
		syn("log.flush.interval.ms"), syn("log.flush.scheduler.interval.ms")),
	tdef("follower.replication.throttled.replicas", TypeList, "", throttledReplicas("follower.replication.throttled.replicas"),
		"A list of replicas for which log replication should be throttled on the follower side."),
	tdef("index.interval.bytes", TypeInt, "4096", atLeast(0),
		"This setting controls how frequently Kafka adds an index entry to its offset index.",
		syn("log.index.interval.bytes")),
	tdef("leader.replication.throttled.replicas", TypeList, "", throttledReplicas("leader.replication.throttled.replicas"),
		"A list of replicas for which log replication should be throttled on the leader side."),
	tdef("max.compaction.lag.ms", TypeLong, maxLong, atLeast(1),
		"The maximum time a message will remain ineligible for compaction in the log.",
		syn("log.cleaner.max.compaction.lag.ms")),
	tdef("max.message.bytes", TypeInt, "1048588", atLeast(0),
		"The largest record batch size allowed by Kafka (after compression if compression is enabled).",
		syn("message.max.bytes")),
	tdef("message.downconversion.enable", TypeBoolean, "true", nil,
		"This configuration controls whether down-conversion of message formats is enabled to satisfy consume requests.",
		syn("log.message.downconversion.enable")),
	tdef("message.format.version", TypeString, "3.0-IV1", metadataVersion,
		"[DEPRECATED] Specify the message format version the broker will use to append messages to the logs.",
		syn("log.message.format.version")),
	tdef("message.timestamp.difference.max.ms", TypeLong, maxLong, atLeast(0),
		"The maximum difference allowed between the timestamp when a broker receives a message and the timestamp specified in the message.",
		syn("log.message.timestamp.difference.max.ms")),
	tdef("message.timestamp.type", TypeString, "CreateTime", oneOf("CreateTime", "LogAppendTime"),
		"Define whether the timestamp in the message is message create time or log append time.",
		syn("log.message.timestamp.type")),
	tdef("min.cleanable.dirty.ratio", TypeDouble, "0.5", between(0, 1),
		"This configuration controls how frequently the log compactor will attempt to clean the log (assuming log compaction is enabled).",
		syn("log.cleaner.min.cleanable.ratio")),
	tdef("min.compaction.lag.ms", TypeLong, "0", atLeast(0),
		"The minimum time a message will remain uncompacted in the log.",
		syn("log.cleaner.min.compaction.lag.ms")),
	tdef("min.insync.replicas", TypeInt, "1", atLeast(1),
		"When a producer sets acks to \"all\" (or \"-1\"), this configuration specifies the minimum number of replicas that must acknowledge a write for the write to be considered successful.",
		syn("min.insync.replicas")),
	tdef("preallocate", TypeBoolean, "false", nil,
		"True if we should preallocate the file on disk when creating a new log segment.",
		syn("log.preallocate")),
	tdef("retention.bytes", TypeLong, "-1", nil,
		"This configuration controls the maximum size a partition (which consists of log segments) can grow to before we will discard old log segments to free up space if we are using the \"delete\" retention policy.",
		syn("log.retention.bytes")),
	tdef("retention.ms", TypeLong, "604800000", atLeast(-1),
		"This configuration controls the maximum time we will retain a log before we will discard old log segments to free up space if we are using the \"delete\" retention policy.",
		syn("log.retention.ms"), Synonym{"log.retention.minutes", msPerMinute}, Synonym{"log.retention.hours", msPerHour}),
	tdef("segment.bytes", TypeInt, "1073741824", atLeast(14),
		"This configuration controls the segment file size for the log.",
		syn("log.segment.bytes")),
	tdef("segment.index.bytes", TypeInt, "10485760", atLeast(4),
		"This configuration controls the size of the index that maps offsets to file positions.",
		syn("log.index.size.max.bytes")),
	tdef("segment.jitter.ms", TypeLong, "0", atLeast(0),
		"The maximum random jitter subtracted from the scheduled segment roll time to avoid thundering herds of segment rolling.",
		syn("log.roll.jitter.ms"), Synonym{"log.roll.jitter.hours", msPerHour}),
	tdef("segment.ms", TypeLong, "604800000", atLeast(1),
		"This configuration controls the period of time after which Kafka will force the log to roll even if the segment file isn't full to ensure that retention can delete or compact old data.",
		syn("log.roll.ms"), Synonym{"log.roll.hours", msPerHour}),
	tdef("unclean.leader.election.enable", TypeBoolean, "false", nil,
		"Indicates whether to enable replicas not in the ISR set to be elected as leader as a last resort, even though doing so may result in data loss.",
		syn("unclean.leader.election.enable")),

	// Tiered storage (KIP-405) is defined but internal in Kafka 3.4: listed only when set, and
	// with no broker default. minikraft stores no remote tier; the values are kept and shown.
	{Name: "remote.storage.enable", Type: TypeBoolean, Default: v("false"), Mode: ClusterWide, Internal: true,
		Doc: "To enable tier storage for a topic, set `remote.storage.enable` as true."},
	{Name: "local.retention.ms", Type: TypeLong, Default: v("-2"), Mode: ClusterWide, Internal: true, Check: atLeast(-2),
		Doc: "The number of milli seconds to keep the local log segment before it gets deleted; -2 means retention.ms is used."},
	{Name: "local.retention.bytes", Type: TypeLong, Default: v("-2"), Mode: ClusterWide, Internal: true, Check: atLeast(-2),
		Doc: "The maximum size of local log segments that can grow for a partition before it deletes the old segments; -2 means retention.bytes is used."},
}

var topicByName = func() map[string]*Def {
	m := make(map[string]*Def, len(topicDefs))
	for _, d := range topicDefs {
		for _, s := range d.Synonyms {
			if brokerByName[s.Name] == nil {
				panic("config: topic config " + d.Name + " has unknown broker synonym " + s.Name)
			}
		}
		m[d.Name] = d
	}
	return m
}()

// TopicDef returns the definition of a topic config, or nil if Kafka has no such topic config.
func TopicDef(name string) *Def { return topicByName[name] }

// TopicDefs returns every topic config definition, sorted by name. The Defs are shared: do not
// modify them.
func TopicDefs() []*Def {
	out := append([]*Def(nil), topicDefs...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
