package replica

import (
	"errors"
	"time"

	"github.com/minikraft/minikraft/broker/config"
	"github.com/minikraft/minikraft/internal/periodic"
	"github.com/minikraft/minikraft/log"
)

// The log manager's background duties for every local replica, leader or follower (Kafka's
// LogManager scheduler and LogCleaner threads):
//   - every log.retention.check.interval.ms, delete segments past retention.ms, retention.bytes
//     or the log start offset (log.DeleteOldSegments, bounded by the replica's high watermark),
//     and flush logs whose flush.ms has passed, and forget idempotent producers whose last write
//     is producer.id.expiration.ms old (Kafka checks that every 10 minutes of its own);
//   - every log.cleaner.backoff.ms, compact the logs whose cleanup.policy has compact
//     (log.Clean), unless log.cleaner.enable is false.
//
// Each replica applies its own retention and cleaning, as in Kafka.

// retentionLoop runs retention and, in a goroutine of its own, the log cleaner, until the broker
// stops.
func (m *Manager) retentionLoop() {
	if m.cfg.Broker.LogCleanerEnable {
		m.goBackground(m.cleanerLoop)
	}
	interval := m.cfg.Broker.LogRetentionCheckInterval
	if interval <= 0 {
		interval = 5 * time.Minute
	}
	periodic.Every(m.ctx, interval, m.enforceRetention)
}

// cleanerLoop compacts the compacted logs every log.cleaner.backoff.ms.
func (m *Manager) cleanerLoop() {
	// log.cleaner.backoff.ms may be 0 (Kafka then checks again at once); a ticker needs more.
	periodic.Every(m.ctx, max(m.cfg.Broker.LogCleanerBackoff, time.Millisecond), m.cleanLogs)
}

// enforceRetention applies retention and flush.ms to every local replica once.
func (m *Manager) enforceRetention() {
	m.eachLog(func(topic string, id int32, lp *localPartition, tc config.Topic) {
		l := lp.Log()
		n, err := l.DeleteOldSegments(lp.HighWatermark())
		switch {
		case err != nil && !errors.Is(err, log.ErrClosed):
			m.log.Error("log retention failed", "topic", topic, "partition", id, "err", err)
		case n > 0:
			m.log.Info("deleted log segments", "topic", topic, "partition", id, "segments", n, "log_start_offset", l.StartOffset())
		}
		if err := l.FlushIfDue(); err != nil && !errors.Is(err, log.ErrClosed) {
			m.log.Error("log flush failed", "topic", topic, "partition", id, "err", err)
		}
		if n := lp.ExpireProducers(time.Now(), m.producerIDExpiration()); n > 0 {
			m.log.Debug("expired producer ids", "topic", topic, "partition", id, "producers", n)
		}
	})
}

// producerIDExpiration is producer.id.expiration.ms (one day unless set).
func (m *Manager) producerIDExpiration() time.Duration {
	if d := m.cfg.Broker.ProducerIDExpiration; d > 0 {
		return d
	}
	return 24 * time.Hour
}

// cleanLogs compacts every local replica of a compacted topic that needs it.
func (m *Manager) cleanLogs() {
	m.eachLog(func(topic string, id int32, lp *localPartition, tc config.Topic) {
		if !tc.Compact() || m.ctx.Err() != nil {
			return
		}
		st, err := lp.Log().Clean(lp.HighWatermark())
		switch {
		case err != nil && !errors.Is(err, log.ErrClosed):
			m.log.Error("log cleaning failed", "topic", topic, "partition", id, "err", err)
		case st.Cleaned:
			m.log.Debug("cleaned log", "topic", topic, "partition", id, "records_removed", st.RecordsRemoved,
				"bytes_read", st.BytesRead, "bytes_written", st.BytesWritten, "dirty_ratio", st.DirtyRatio)
		}
	})
}

// eachLog calls fn for every local replica with its topic's current configuration, first making
// sure the log acts on the topic's retention and cleaning settings.
func (m *Manager) eachLog(fn func(topic string, id int32, lp *localPartition, tc config.Topic)) {
	for topic, parts := range m.parts.all() {
		for id := range parts {
			if m.ctx.Err() != nil {
				return
			}
			lp, tc, ok := m.parts.get(topic, id)
			if !ok {
				continue // removed meanwhile
			}
			l := lp.Log()
			if cur := l.Config(); withRetention(cur, tc) != cur {
				l.SetConfig(withRetention(cur, tc))
			}
			fn(topic, id, lp, tc)
		}
	}
}

// withRetention adds a topic's retention, cleaning and flush settings to its log configuration.
// logConfig (apply.go) should end with it, so config changes reach logs at once;
// eachLog applies it too before every pass.
func withRetention(c log.Config, tc config.Topic) log.Config {
	c.Delete, c.Compact = tc.Delete(), tc.Compact()
	c.RetentionMs, c.RetentionBytes = tc.RetentionMs, tc.RetentionBytes
	c.DeleteRetentionMs = tc.DeleteRetentionMs
	c.MinCleanableDirtyRatio = tc.MinCleanableDirtyRatio
	c.MinCompactionLagMs, c.MaxCompactionLagMs = tc.MinCompactionLagMs, tc.MaxCompactionLagMs
	c.SegmentJitterMs = tc.SegmentJitterMs
	c.FlushMessages, c.FlushMs = tc.FlushMessages, tc.FlushMs
	return c
}
