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
	IndexIntervalBytes   int    // index.interval.bytes: bytes between sparse index entries
	SegmentIndexBytes    int    // segment.index.bytes: roll when an index would exceed it
	MaxMessageBytes      int    // max.message.bytes: largest batch accepted (checked by ValidateBatches' caller)
	MessageTimestampType string // message.timestamp.type: CreateTime or LogAppendTime
	FileDeleteDelayMs    int64  // file.delete.delay.ms: accepted for completeness; files are removed at once (see doc.go)
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:         1 << 30,
		SegmentMs:            7 * 24 * 60 * 60 * 1000,
		IndexIntervalBytes:   4096,
		SegmentIndexBytes:    10 << 20,
		MaxMessageBytes:      1048588,
		MessageTimestampType: CreateTime,
		FileDeleteDelayMs:    60000,
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
	}
	return nil
}

func (c Config) logAppendTime() bool { return c.MessageTimestampType == LogAppendTime }
