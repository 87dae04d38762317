package config

import (
	"slices"
	"strconv"
	"strings"
)

// Topic is a topic's effective configuration, typed: what the log, the partition and the produce
// path act on. INT configs are int, LONG configs int64, as Kafka sizes them.
type Topic struct {
	CleanupPolicy                        []string // cleanup.policy: "delete", "compact", both, or none
	CompressionType                      string   // compression.type
	DeleteRetentionMs                    int64    // delete.retention.ms
	FileDeleteDelayMs                    int64    // file.delete.delay.ms
	FlushMessages                        int64    // flush.messages
	FlushMs                              int64    // flush.ms
	FollowerReplicationThrottledReplicas []string // follower.replication.throttled.replicas
	IndexIntervalBytes                   int      // index.interval.bytes
	LeaderReplicationThrottledReplicas   []string // leader.replication.throttled.replicas
	MaxCompactionLagMs                   int64    // max.compaction.lag.ms
	MaxMessageBytes                      int      // max.message.bytes
	MessageDownconversionEnable          bool     // message.downconversion.enable
	MessageFormatVersion                 string   // message.format.version (ignored, as by Kafka 3.x)
	MessageTimestampDifferenceMaxMs      int64    // message.timestamp.difference.max.ms
	MessageTimestampType                 string   // message.timestamp.type: "CreateTime" or "LogAppendTime"
	MinCleanableDirtyRatio               float64  // min.cleanable.dirty.ratio
	MinCompactionLagMs                   int64    // min.compaction.lag.ms
	MinInsyncReplicas                    int      // min.insync.replicas
	Preallocate                          bool     // preallocate
	RetentionBytes                       int64    // retention.bytes; -1 = unlimited
	RetentionMs                          int64    // retention.ms; -1 = unlimited
	SegmentBytes                         int      // segment.bytes
	SegmentIndexBytes                    int      // segment.index.bytes
	SegmentJitterMs                      int64    // segment.jitter.ms
	SegmentMs                            int64    // segment.ms
	UncleanLeaderElection                bool     // unclean.leader.election.enable
	RemoteStorageEnable                  bool     // remote.storage.enable (kept, no remote tier)
	LocalRetentionMs                     int64    // local.retention.ms; -2 = RetentionMs
	LocalRetentionBytes                  int64    // local.retention.bytes; -2 = RetentionBytes
}

// DefaultTopic returns Kafka's topic defaults (a topic with no overrides on a broker with default
// properties).
func DefaultTopic() Topic { return TopicFrom(nil) }

// TopicFrom builds the typed view from a ResolveTopic answer. A config missing from entries, or
// whose value does not parse, keeps Kafka's default.
func TopicFrom(entries []Entry) Topic {
	vals := map[string]string{}
	for _, d := range topicDefs {
		vals[d.Name] = *d.Default
	}
	for _, e := range entries {
		d := topicByName[e.Name]
		if d == nil || e.Value == nil {
			continue
		}
		if c, err := d.Parse(*e.Value); err == nil {
			vals[e.Name] = c
		}
	}
	num := func(name string) int64 { n, _ := strconv.ParseInt(vals[name], 10, 64); return n }
	flag := func(name string) bool { return vals[name] == "true" }
	ratio, _ := strconv.ParseFloat(vals["min.cleanable.dirty.ratio"], 64)
	return Topic{
		CleanupPolicy:                        listValue(vals["cleanup.policy"]),
		CompressionType:                      vals["compression.type"],
		DeleteRetentionMs:                    num("delete.retention.ms"),
		FileDeleteDelayMs:                    num("file.delete.delay.ms"),
		FlushMessages:                        num("flush.messages"),
		FlushMs:                              num("flush.ms"),
		FollowerReplicationThrottledReplicas: listValue(vals["follower.replication.throttled.replicas"]),
		IndexIntervalBytes:                   int(num("index.interval.bytes")),
		LeaderReplicationThrottledReplicas:   listValue(vals["leader.replication.throttled.replicas"]),
		MaxCompactionLagMs:                   num("max.compaction.lag.ms"),
		MaxMessageBytes:                      int(num("max.message.bytes")),
		MessageDownconversionEnable:          flag("message.downconversion.enable"),
		MessageFormatVersion:                 vals["message.format.version"],
		MessageTimestampDifferenceMaxMs:      num("message.timestamp.difference.max.ms"),
		MessageTimestampType:                 vals["message.timestamp.type"],
		MinCleanableDirtyRatio:               ratio,
		MinCompactionLagMs:                   num("min.compaction.lag.ms"),
		MinInsyncReplicas:                    int(num("min.insync.replicas")),
		Preallocate:                          flag("preallocate"),
		RetentionBytes:                       num("retention.bytes"),
		RetentionMs:                          num("retention.ms"),
		SegmentBytes:                         int(num("segment.bytes")),
		SegmentIndexBytes:                    int(num("segment.index.bytes")),
		SegmentJitterMs:                      num("segment.jitter.ms"),
		SegmentMs:                            num("segment.ms"),
		UncleanLeaderElection:                flag("unclean.leader.election.enable"),
		RemoteStorageEnable:                  flag("remote.storage.enable"),
		LocalRetentionMs:                     num("local.retention.ms"),
		LocalRetentionBytes:                  num("local.retention.bytes"),
	}
}

// TopicFromMaps is TopicFrom(ResolveTopic(...)): the effective configuration of a topic from its
// overrides and the broker's layers.
func TopicFromMaps(topicOverrides, brokerDynamic, clusterDynamic, static map[string]string) Topic {
	return TopicFrom(ResolveTopic(topicOverrides, brokerDynamic, clusterDynamic, static))
}

// Compact reports whether cleanup.policy contains compact.
func (t Topic) Compact() bool { return slices.Contains(t.CleanupPolicy, "compact") }

// Delete reports whether cleanup.policy contains delete.
func (t Topic) Delete() bool { return slices.Contains(t.CleanupPolicy, "delete") }

// Validate checks the typed values against Kafka's validators (a Topic built by hand) and the
// min/max compaction lag rule.
func (t Topic) Validate() error {
	return ValidateTopic(t.Configs())
}

// Configs returns every field as a topic config in canonical form, the inverse of TopicFrom.
func (t Topic) Configs() map[string]string {
	i := func(n int) string { return strconv.Itoa(n) }
	l := func(n int64) string { return strconv.FormatInt(n, 10) }
	b := strconv.FormatBool
	join := func(s []string) string { return strings.Join(s, ",") }
	return map[string]string{
		"cleanup.policy":                          join(t.CleanupPolicy),
		"compression.type":                        t.CompressionType,
		"delete.retention.ms":                     l(t.DeleteRetentionMs),
		"file.delete.delay.ms":                    l(t.FileDeleteDelayMs),
		"flush.messages":                          l(t.FlushMessages),
		"flush.ms":                                l(t.FlushMs),
		"follower.replication.throttled.replicas": join(t.FollowerReplicationThrottledReplicas),
		"index.interval.bytes":                    i(t.IndexIntervalBytes),
		"leader.replication.throttled.replicas":   join(t.LeaderReplicationThrottledReplicas),
		"max.compaction.lag.ms":                   l(t.MaxCompactionLagMs),
		"max.message.bytes":                       i(t.MaxMessageBytes),
		"message.downconversion.enable":           b(t.MessageDownconversionEnable),
		"message.format.version":                  t.MessageFormatVersion,
		"message.timestamp.difference.max.ms":     l(t.MessageTimestampDifferenceMaxMs),
		"message.timestamp.type":                  t.MessageTimestampType,
		"min.cleanable.dirty.ratio":               javaDouble(t.MinCleanableDirtyRatio),
		"min.compaction.lag.ms":                   l(t.MinCompactionLagMs),
		"min.insync.replicas":                     i(t.MinInsyncReplicas),
		"preallocate":                             b(t.Preallocate),
		"retention.bytes":                         l(t.RetentionBytes),
		"retention.ms":                            l(t.RetentionMs),
		"segment.bytes":                           i(t.SegmentBytes),
		"segment.index.bytes":                     i(t.SegmentIndexBytes),
		"segment.jitter.ms":                       l(t.SegmentJitterMs),
		"segment.ms":                              l(t.SegmentMs),
		"unclean.leader.election.enable":          b(t.UncleanLeaderElection),
		"remote.storage.enable":                   b(t.RemoteStorageEnable),
		"local.retention.ms":                      l(t.LocalRetentionMs),
		"local.retention.bytes":                   l(t.LocalRetentionBytes),
	}
}
