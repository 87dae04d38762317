package broker

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"

	"github.com/minikraft/minikraft/broker/config"
	"github.com/minikraft/minikraft/broker/partition"
	"github.com/minikraft/minikraft/compress"
	"github.com/minikraft/minikraft/log"
	"github.com/minikraft/minikraft/raftmeta"
)

// applyMetadata brings the local partitions in line with st: opens replicas newly assigned here,
// applies leader and ISR changes, pushes config changes into logs, and deletes replicas of topics
// that are gone. It is idempotent and is also called synchronously by requests that changed the
// metadata, so their answers see the result.
func (b *Broker) applyMetadata(st *raftmeta.State) {
	b.applyMu.Lock()
	defer b.applyMu.Unlock()
	self := b.cfg.Broker.NodeID

	for name, t := range st.Topics {
		b.parts.mu.RLock()
		lt := b.parts.topics[name]
		b.parts.mu.RUnlock()
		if lt != nil && lt.id != t.ID {
			b.removeTopic(name) // deleted and re-created under the same name
			lt = nil
		}
		tc := b.topicConfig(st, name)
		if lt == nil {
			lt = &localTopic{id: t.ID, cfg: tc, parts: make(map[int32]*localPartition)}
		}
		cfgChanged := !reflect.DeepEqual(tc, lt.cfg)
		newParts := make(map[int32]*localPartition, len(lt.parts))
		for id, lp := range lt.parts {
			newParts[id] = lp
		}
		for _, mp := range t.Partitions {
			lp := newParts[mp.ID]
			if !slices.Contains(mp.Replicas, self) {
				if lp != nil {
					b.dropPartition(name, lp, true)
					delete(newParts, mp.ID)
				}
				continue
			}
			if lp == nil {
				p, err := b.openPartition(t, mp.ID, tc)
				if err != nil {
					b.log.Error("cannot open partition", "topic", name, "partition", mp.ID, "err", err)
					continue
				}
				lp = &localPartition{Partition: p, applied: -1}
				newParts[mp.ID] = lp
			} else if cfgChanged {
				lp.Log().SetConfig(logConfig(tc))
				lp.SetConfig(b.partitionConfig(name, mp.ID, tc))
			}
			if lp.applied != mp.PartitionEpoch {
				var err error
				if mp.Leader == self {
					err = lp.BecomeLeader(mp.LeaderEpoch, mp.PartitionEpoch, mp.Replicas, mp.ISR)
				} else {
					err = lp.BecomeFollower(mp.Leader, mp.LeaderEpoch, mp.PartitionEpoch, mp.Replicas)
				}
				if err != nil {
					b.log.Error("partition role change failed", "topic", name, "partition", mp.ID, "err", err)
					continue
				}
				lp.applied = mp.PartitionEpoch
			}
		}
		b.parts.mu.Lock()
		b.parts.topics[name] = &localTopic{id: t.ID, cfg: tc, parts: newParts}
		b.parts.mu.Unlock()
	}

	b.parts.mu.RLock()
	var gone []string
	for name := range b.parts.topics {
		if st.Topics[name] == nil {
			gone = append(gone, name)
		}
	}
	b.parts.mu.RUnlock()
	for _, name := range gone {
		b.removeTopic(name)
	}
	b.syncGroupCoordinator(st)
	b.syncFetchers()
}

// removeTopic deletes every local replica of a topic.
func (b *Broker) removeTopic(name string) {
	b.parts.mu.Lock()
	lt := b.parts.topics[name]
	delete(b.parts.topics, name)
	b.parts.mu.Unlock()
	if lt == nil {
		return
	}
	for _, lp := range lt.parts {
		b.dropPartition(name, lp, true)
	}
}

func (b *Broker) dropPartition(topic string, lp *localPartition, deleteData bool) {
	var err error
	if deleteData {
		err = lp.Delete()
	} else {
		err = lp.Close()
	}
	if err != nil {
		b.log.Warn("removing partition", "topic", topic, "err", err)
	}
}

// openPartition opens (or creates) the log of one local replica. A directory left by an earlier
// topic of the same name (a different topic id in partition.metadata) is removed first, so a
// re-created topic never serves the old one's records.
func (b *Broker) openPartition(t *raftmeta.Topic, id int32, tc config.Topic) (*partition.Partition, error) {
	dir := filepath.Join(b.dataDir, t.Name+"-"+strconv.Itoa(int(id)))
	idText := base64.RawURLEncoding.EncodeToString(t.ID[:])
	metaPath := filepath.Join(dir, "partition.metadata")
	props, err := readProperties(metaPath)
	switch {
	case err == nil && props["topic_id"] != idText:
		b.log.Info("removing stale replica of an earlier topic with the same name", "dir", dir)
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	l, err := log.Open(dir, logConfig(tc), log.Options{Logger: b.log.With("topic", t.Name, "partition", id), Codecs: compress.Codecs{}})
	if err != nil {
		return nil, err
	}
	if props == nil || props["topic_id"] != idText {
		if err := os.WriteFile(metaPath, []byte(fmt.Sprintf("version: 0\ntopic_id: %s\n", idText)), 0o644); err != nil {
			l.Close()
			return nil, err
		}
	}
	return partition.New(l, b.partitionConfig(t.Name, id, tc))
}

func (b *Broker) partitionConfig(topic string, id int32, tc config.Topic) partition.Config {
	return partition.Config{
		Topic:             topic,
		Partition:         id,
		NodeID:            b.cfg.Broker.NodeID,
		MinInsyncReplicas: tc.MinInsyncReplicas,
		ReplicaLagTimeMax: b.cfg.Broker.ReplicaLagTimeMax,
		Logger:            b.log,
	}
}

// logConfig turns a topic's effective configuration into the log's.
func logConfig(tc config.Topic) log.Config {
	c := log.DefaultConfig()
	c.SegmentBytes = int64(tc.SegmentBytes)
	c.SegmentMs = tc.SegmentMs
	c.IndexIntervalBytes = tc.IndexIntervalBytes
	c.SegmentIndexBytes = tc.SegmentIndexBytes
	c.MaxMessageBytes = tc.MaxMessageBytes
	c.MessageTimestampType = tc.MessageTimestampType
	c.FileDeleteDelayMs = tc.FileDeleteDelayMs
	return withRetention(c, tc)
}

// topicConfig resolves a topic's effective configuration: topic override, then this broker's
// dynamic config, the cluster-wide dynamic default, the static properties and Kafka's default.
func (b *Broker) topicConfig(st *raftmeta.State, topic string) config.Topic {
	entries := config.ResolveTopic(
		st.Configs[raftmeta.ConfigResource{Type: raftmeta.ConfigResourceTopic, Name: topic}],
		st.Configs[raftmeta.BrokerConfigResource(b.cfg.Broker.NodeID)],
		st.Configs[raftmeta.ConfigResource{Type: raftmeta.ConfigResourceBroker}],
		b.cfg.Broker.Props,
	)
	return config.TopicFrom(entries)
}
