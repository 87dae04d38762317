package broker

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/minikraft/minikraft/log"
	"github.com/minikraft/minikraft/raftmeta"
)

// What the test fixture (the root package's Cluster.Reset, Snapshot and FromSnapshot, issue 21)
// needs of a node, beyond the Kafka APIs: whole-cluster metadata commands on the active
// controller, the metadata index a node has applied, and a copy of a local replica.

// ResetCluster empties the cluster in one metadata entry (raftmeta.ResetCluster): every topic
// but the internal ones is deleted with its data, the internal ones are re-created empty under
// new ids (so the group coordinators drop every group and committed offset), and every dynamic
// config is removed. Idempotent producers' state goes with the partitions that held it. It
// must be called on the active controller (raftmeta.ErrNotLeader elsewhere) and returns the
// entry's metadata index: a node has applied the reset once its AppliedIndex reaches it.
func (b *Broker) ResetCluster(ctx context.Context) (uint64, error) {
	if b.ctrl == nil {
		return 0, raftmeta.ErrNotLeader
	}
	return b.ctrl.ResetCluster(ctx)
}

// RestoreTopics replaces every topic and dynamic config with st's in one metadata entry
// (raftmeta.RestoreTopics). Each node opens the replicas st places on it from what its data
// directory holds under their names, as after a restart, so the fixture seeds the directories
// first (CopyReplica). It must be called on the active controller and returns the metadata
// index that has the restored topics.
func (b *Broker) RestoreTopics(ctx context.Context, st *raftmeta.State) (uint64, error) {
	if b.ctrl == nil {
		return 0, raftmeta.ErrNotLeader
	}
	return b.ctrl.RestoreTopics(ctx, st)
}

// AppliedIndex is the metadata index this node's partitions (and group coordinator) are
// reconciled with: what it reports to the controller in its heartbeats (propagation.go).
func (b *Broker) AppliedIndex() uint64 { return b.applied.Load() }

// DataDir is the node's data directory (log.dirs), which holds a directory per local replica.
func (b *Broker) DataDir() string { return b.dataDir }

// CopyReplica writes this node's replica of topic-partition, the topic with id, from its log
// start offset up to its high watermark, as a closed log in dir (which must not exist yet),
// with the partition.metadata that names the topic id, so that a node given the directory
// under its data directory opens it as its replica; an empty replica leaves dir uncreated. Only committed records are copied (below
// the high watermark), so a copy taken under load holds what every in-sync replica holds. It
// returns the copy's end offset (the high watermark it copied to), and fails if the replica is
// not here or its topic is no longer id.
func (b *Broker) CopyReplica(topic string, part int32, id [16]byte, dir string) (int64, error) {
	sameTopic := func() error {
		if t := b.meta.State().Topics[topic]; t == nil || t.ID != id {
			return fmt.Errorf("broker: %s was deleted or re-created during the copy", topic)
		}
		return nil
	}
	if err := sameTopic(); err != nil {
		return 0, err
	}
	p, _, err := b.replicas.Local(topic, part)
	if err != nil {
		return 0, err
	}
	hw, start := p.HighWatermark(), p.LogStartOffset()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("broker: copy of %s-%d: %s exists already", topic, part, dir)
	}
	cfg := log.DefaultConfig()
	cfg.SegmentBytes = max(cfg.SegmentBytes, p.Log().Config().SegmentBytes)
	// An empty replica leaves no directory (log.Options.LazyDir), which FromSnapshot copies as
	// nothing: its node then opens the replica empty, as it would a new one.
	idText := base64.RawURLEncoding.EncodeToString(id[:])
	writeID := func(string) error {
		return os.WriteFile(filepath.Join(dir, "partition.metadata"), []byte("version: 0\ntopic_id: "+idText+"\n"), 0o644)
	}
	dst, err := log.Open(dir, cfg, log.Options{FS: b.logFS(), LazyDir: true, OnCreateDir: writeID})
	if err != nil {
		return 0, err
	}
	end, err := copyLog(p.Log(), dst, start, hw)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = sameTopic()
	}
	if err != nil {
		os.RemoveAll(dir)
		return 0, fmt.Errorf("broker: copy of %s-%d: %w", topic, part, err)
	}
	return end, nil
}

// copyLog appends src's batches from start up to hw to the empty dst, with their offsets, epochs
// and producer ids as they are (the follower's append), and gives dst src's log start offset.
// It returns dst's end offset.
func copyLog(src, dst *log.Log, start, hw int64) (int64, error) {
	off := start
	first := true
	for off < hw {
		data, err := src.Read(off, 1<<20, hw)
		if err != nil {
			return 0, err
		}
		if len(data) == 0 {
			break
		}
		if first {
			// The log start offset may fall inside a batch: the copy starts at the batch.
			h, err := log.ParseBatchHeader(data)
			if err != nil {
				return 0, err
			}
			if h.BaseOffset > 0 {
				if err := dst.TruncateFullyAndStartAt(h.BaseOffset); err != nil {
					return 0, err
				}
			}
			first = false
		}
		res, err := dst.AppendReplicated(data)
		if err != nil {
			return 0, err
		}
		off = res.LastOffset + 1
	}
	if first && start > 0 {
		if err := dst.TruncateFullyAndStartAt(start); err != nil {
			return 0, err
		}
	}
	if start > dst.StartOffset() {
		if err := dst.SetStartOffset(start); err != nil {
			return 0, err
		}
	}
	return dst.EndOffset(), nil
}

// HighWatermark is the high watermark of this node's replica of topic-partition, which must be
// its leader (NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION otherwise).
func (b *Broker) HighWatermark(topic string, part int32) (int64, error) {
	p, _, err := b.replicas.Leader(topic, part)
	if err != nil {
		return 0, err
	}
	return p.HighWatermark(), nil
}
