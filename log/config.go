package log

import (
	"fmt"
	"math"
)

// Timestamp types, as in topic config message.timestamp.type.
const (
	CreateTime    = "CreateTime"
	LogAppendTime = "LogAppendTime"
)

// Config is the per-partition log configuration; every field is the topic
// config of the same meaning (names in the comments).
type Config struct {
	SegmentBytes         int64  // segment.bytes: roll when the active segment would exceed it
	SegmentMs            int64  // segment.ms: roll when the active segment is older than this
	SegmentJitterMs      int64  // segment.jitter.ms: each segment rolls up to this much earlier (a random draw)
	IndexIntervalBytes   int    // index.interval.bytes: bytes between sparse index entries
	SegmentIndexBytes    int    // segment.index.bytes: roll when an index would exceed it
	MaxMessageBytes      int    // max.message.bytes: largest batch accepted (checked by ValidateBatches' caller)
	MessageTimestampType string // message.timestamp.type: CreateTime or LogAppendTime
	FileDeleteDelayMs    int64  // file.delete.delay.ms: how long a deleted segment's files linger as .deleted
	FlushMessages        int64  // flush.messages: sync after this many records
	FlushMs              int64  // flush.ms: FlushIfDue syncs when this long has passed since the last flush

	// cleanup.policy: Delete ("delete") applies RetentionMs and
	// RetentionBytes in DeleteOldSegments; Compact ("compact") lets Clean
	// keep only the latest record per key. Both may be set; neither is
	// Kafka's empty policy (only DeleteRecords removes data).
	Delete  bool
	Compact bool

	RetentionMs            int64   // retention.ms: delete segments whose newest record is older; -1 unlimited
	RetentionBytes         int64   // retention.bytes: delete old segments while the log is larger; -1 unlimited
	DeleteRetentionMs      int64   // delete.retention.ms: how long the cleaner keeps tombstones
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio: clean when the dirty share of the log exceeds it
	MinCompactionLagMs     int64   // min.compaction.lag.ms: records younger than this are not cleaned
	MaxCompactionLagMs     int64   // max.compaction.lag.ms: dirty records older than this are cleaned whatever the ratio
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:           1 << 30,
		SegmentMs:              7 * 24 * 60 * 60 * 1000,
		IndexIntervalBytes:     4096,
		SegmentIndexBytes:      10 << 20,
		MaxMessageBytes:        1048588,
		MessageTimestampType:   CreateTime,
		FileDeleteDelayMs:      60000,
		FlushMessages:          math.MaxInt64,
		FlushMs:                math.MaxInt64,
		Delete:                 true,
		RetentionMs:            7 * 24 * 60 * 60 * 1000,
		RetentionBytes:         -1,
		DeleteRetentionMs:      24 * 60 * 60 * 1000,
		MinCleanableDirtyRatio: 0.5,
		MaxCompactionLagMs:     math.MaxInt64,
	}
}

// Validate checks the ranges Kafka's topic config definitions enforce.
func (c Config) Validate() error {
	switch {
	case c.SegmentBytes < 14 || c.SegmentBytes > math.MaxInt32:
		// Positions in the offset index are int32, as in Kafka.
		return fmt.Errorf("%w: segment.bytes %d not in [14, %d]", ErrInvalidConfig, c.SegmentBytes, math.MaxInt32)
	case c.SegmentMs < 1:
		return fmt.Errorf("%w: segment.ms %d < 1", ErrInvalidConfig, c.SegmentMs)
	case c.SegmentJitterMs < 0:
		return fmt.Errorf("%w: segment.jitter.ms %d < 0", ErrInvalidConfig, c.SegmentJitterMs)
	case c.IndexIntervalBytes < 0:
		return fmt.Errorf("%w: index.interval.bytes %d < 0", ErrInvalidConfig, c.IndexIntervalBytes)
	case c.SegmentIndexBytes < 4:
		return fmt.Errorf("%w: segment.index.bytes %d < 4", ErrInvalidConfig, c.SegmentIndexBytes)
	case c.MaxMessageBytes < 0:
		return fmt.Errorf("%w: max.message.bytes %d < 0", ErrInvalidConfig, c.MaxMessageBytes)
	case c.MessageTimestampType != CreateTime && c.MessageTimestampType != LogAppendTime:
		return fmt.Errorf("%w: message.timestamp.type %q is not CreateTime or LogAppendTime", ErrInvalidConfig, c.MessageTimestampType)
	case c.FileDeleteDelayMs < 0:
		return fmt.Errorf("%w: file.delete.delay.ms %d < 0", ErrInvalidConfig, c.FileDeleteDelayMs)
	case c.FlushMessages < 1:
		return fmt.Errorf("%w: flush.messages %d < 1", ErrInvalidConfig, c.FlushMessages)
	case c.FlushMs < 0:
		return fmt.Errorf("%w: flush.ms %d < 0", ErrInvalidConfig, c.FlushMs)
	case c.RetentionMs < -1:
		return fmt.Errorf("%w: retention.ms %d < -1", ErrInvalidConfig, c.RetentionMs)
	case c.DeleteRetentionMs < 0:
		return fmt.Errorf("%w: delete.retention.ms %d < 0", ErrInvalidConfig, c.DeleteRetentionMs)
	case !(c.MinCleanableDirtyRatio >= 0 && c.MinCleanableDirtyRatio <= 1):
		return fmt.Errorf("%w: min.cleanable.dirty.ratio %v not in [0, 1]", ErrInvalidConfig, c.MinCleanableDirtyRatio)
	case c.MinCompactionLagMs < 0:
		return fmt.Errorf("%w: min.compaction.lag.ms %d < 0", ErrInvalidConfig, c.MinCompactionLagMs)
	case c.MaxCompactionLagMs < 1:
		return fmt.Errorf("%w: max.compaction.lag.ms %d < 1", ErrInvalidConfig, c.MaxCompactionLagMs)
	}
	return nil
}

func (c Config) logAppendTime() bool { return c.MessageTimestampType == LogAppendTime }
