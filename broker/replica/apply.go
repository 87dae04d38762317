package replica

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/minikraft/minikraft/broker/config"
	"github.com/minikraft/minikraft/broker/partition"
	"github.com/minikraft/minikraft/compress"
	"github.com/minikraft/minikraft/log"
	"github.com/minikraft/minikraft/raftmeta"
)

// Apply brings the local partitions in line with st: opens replicas newly assigned here, applies
// leader and ISR changes, pushes config changes into logs, and deletes replicas of topics that
// are gone; then it calls Config.Reconciled and starts or stops replica fetchers for the leaders
// this node now follows. It is idempotent, and calls are serialised: the broker calls it on every
// new State and also synchronously from requests that changed the metadata, so their answers see
// the result.
func (m *Manager) Apply(st *raftmeta.State) {
	m.applyMu.Lock()
	defer m.applyMu.Unlock()
	if st.Index < m.appliedIndex {
		// An older State than one already applied (a request handler read it before the
		// metadata loop applied a newer one): applying it would bring back what the newer one
		// deleted, and a topic re-created since (a Reset's __consumer_offsets) would lose its
		// directory to the older topic of its name.
		return
	}
	m.appliedIndex = st.Index
	self := m.cfg.Broker.NodeID
	if m.cfg.Reconciling != nil {
		m.cfg.Reconciling(st)
	}

	reuse := make(map[newReplica]*partition.Partition)
	for name, t := range st.Topics {
		m.parts.mu.RLock()
		lt := m.parts.topics[name]
		m.parts.mu.RUnlock()
		if lt != nil && lt.id != t.ID {
			m.replaceTopic(t, reuse) // deleted and re-created under the same name
		}
	}
	opened := m.openNew(st, reuse)

	for name, t := range st.Topics {
		m.parts.mu.RLock()
		lt := m.parts.topics[name]
		m.parts.mu.RUnlock()
		tc := m.topicConfig(st, name)
		if lt == nil {
			lt = &localTopic{id: t.ID, cfg: tc}
		}
		cfgChanged := !reflect.DeepEqual(tc, lt.cfg)
		newParts := slices.Clone(lt.parts)
		for _, mp := range t.Partitions {
			lp := newParts.get(mp.ID)
			if !slices.Contains(mp.Replicas, self) {
				if lp != nil {
					m.dropPartition(name, lp, true)
					newParts[mp.ID] = nil
				}
				continue
			}
			if lp == nil {
				p := opened[newReplica{name, mp.ID}]
				if p == nil {
					continue // openNew logged why
				}
				lp = &localPartition{Partition: p, applied: -1}
				newParts = newParts.with(mp.ID, lp)
			} else if cfgChanged {
				lp.Log().SetConfig(logConfig(tc))
				lp.SetConfig(m.partitionConfig(name, mp.ID, tc))
			}
			if lp.applied != mp.PartitionEpoch {
				var err error
				if mp.Leader == self {
					m.countISRChange(lp.Partition, mp)
					err = lp.BecomeLeader(mp.LeaderEpoch, mp.PartitionEpoch, mp.Replicas, mp.ISR)
				} else {
					err = lp.BecomeFollower(mp.Leader, mp.LeaderEpoch, mp.PartitionEpoch, mp.Replicas)
				}
				if err != nil {
					m.log.Error("partition role change failed", "topic", name, "partition", mp.ID, "err", err)
					continue
				}
				lp.applied = mp.PartitionEpoch
			}
		}
		m.parts.mu.Lock()
		m.parts.topics[name] = &localTopic{id: t.ID, cfg: tc, parts: newParts}
		m.parts.mu.Unlock()
	}

	m.parts.mu.RLock()
	var gone []string
	for name := range m.parts.topics {
		if st.Topics[name] == nil {
			gone = append(gone, name)
		}
	}
	m.parts.mu.RUnlock()
	for _, name := range gone {
		m.removeTopic(name)
	}
	for name := range m.cfgCache {
		if st.Topics[name] == nil {
			delete(m.cfgCache, name)
		}
	}
	if m.cfg.Reconciled != nil {
		m.cfg.Reconciled(st)
	}
	m.syncFetchers()
}

// countISRChange counts a committed change of the ISR of a partition this node goes on leading
// in the same leader epoch (Kafka's IsrShrinksPerSec and IsrExpandsPerSec, marked by the leader;
// a new leader's ISR is not a change of the old one's).
func (m *Manager) countISRChange(p *partition.Partition, mp *raftmeta.Partition) {
	if id, epoch := p.Leader(); id != m.cfg.Broker.NodeID || epoch != mp.LeaderEpoch {
		return
	}
	switch old := len(p.ISR()); {
	case len(mp.ISR) < old:
		m.isrShrinks.Add(1)
	case len(mp.ISR) > old:
		m.isrExpands.Add(1)
	}
}

// ISRChanges counts the ISR shrinks and expands committed for partitions this node led, since
// it started.
func (m *Manager) ISRChanges() (shrinks, expands int64) {
	return m.isrShrinks.Load(), m.isrExpands.Load()
}

// newReplica names a replica that openNew opens.
type newReplica struct {
	topic string
	id    int32
}

// openWorkers bounds how many replicas openNew opens at once.
const openWorkers = 8

// openNew opens (or creates) the replicas st places on this node that it does not hold yet, a
// few at a time: opening a replica is a dozen file system calls, most of which wait on the
// disk's journal rather than use a CPU, and a Reset, a FromSnapshot or a large CreateTopics
// opens tens or hundreds at once. A replica that cannot be opened is logged and left out (the
// next State tries again).
//
// A replica in reuse (replaceTopic's: the replica of an earlier topic of the same name) is
// emptied in place and taken over (recycleReplica) instead; if that fails it is deleted and
// the new replica created as any other.
func (m *Manager) openNew(st *raftmeta.State, reuse map[newReplica]*partition.Partition) map[newReplica]*partition.Partition {
	self := m.cfg.Broker.NodeID
	type job struct {
		t   *raftmeta.Topic
		id  int32
		tc  config.Topic
		old *partition.Partition // to recycle, or nil
		// writeID is the logs' OnCreateDir: one for all the topic's partitions (issue 18).
		writeID func(dir string) error
	}
	var jobs []job
	for name, t := range st.Topics {
		m.parts.mu.RLock()
		lt := m.parts.topics[name]
		m.parts.mu.RUnlock()
		var tc config.Topic
		var writeID func(string) error
		resolved := false
		for _, mp := range t.Partitions {
			if !slices.Contains(mp.Replicas, self) {
				continue
			}
			if lt != nil && lt.id == t.ID && lt.parts.get(mp.ID) != nil {
				continue
			}
			if !resolved {
				tc, resolved = m.topicConfig(st, name), true // not concurrently: it fills a cache
				writeID = m.topicIDWriter(t.ID)
			}
			jobs = append(jobs, job{t, mp.ID, tc, reuse[newReplica{name, mp.ID}], writeID})
		}
	}
	out := make(map[newReplica]*partition.Partition, len(jobs))
	var mu sync.Mutex
	open := func(j job) {
		var p *partition.Partition
		err := errors.New("no replica to recycle")
		if j.old != nil {
			if p, err = m.recycleReplica(j.t, j.id, j.tc, j.old, j.writeID); err != nil {
				m.log.Warn("cannot empty a replica in place; deleting it", "topic", j.t.Name, "partition", j.id, "err", err)
				m.dropPartition(j.t.Name, &localPartition{Partition: j.old}, true)
			}
		}
		if err != nil {
			p, err = m.openPartition(j.t, j.id, j.tc, j.writeID)
		}
		if err != nil {
			m.log.Error("cannot open partition", "topic", j.t.Name, "partition", j.id, "err", err)
			return
		}
		mu.Lock()
		out[newReplica{j.t.Name, j.id}] = p
		mu.Unlock()
	}
	if len(jobs) == 1 {
		open(jobs[0])
		return out
	}
	next := make(chan job)
	var wg sync.WaitGroup
	for range min(openWorkers, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				open(j)
			}
		}()
	}
	for _, j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()
	return out
}

// replaceTopic takes out the local replicas of the topic of t's name, which the new State
// re-creates as t under another topic id (deleted and created again in one metadata change: the
// internal topics at the fixture's Reset, raftmeta.ResetCluster). A replica that t keeps on this
// node goes into reuse, for openNew to empty in place and take over (recycleReplica); the
// others are deleted.
func (m *Manager) replaceTopic(t *raftmeta.Topic, reuse map[newReplica]*partition.Partition) {
	m.parts.mu.Lock()
	lt := m.parts.topics[t.Name]
	delete(m.parts.topics, t.Name)
	m.parts.mu.Unlock()
	if lt == nil {
		return
	}
	for id, lp := range lt.parts.all() {
		kept := false
		for _, mp := range t.Partitions {
			if mp.ID == id && slices.Contains(mp.Replicas, m.cfg.Broker.NodeID) {
				kept = true
			}
		}
		if kept {
			reuse[newReplica{t.Name, id}] = lp.Partition
		} else {
			m.dropPartition(t.Name, lp, true)
		}
	}
}

// recycleReplica empties old, a replica of an earlier topic of t's name, in place
// (partition.Recycle), records t's id in its partition.metadata and wraps its log as a new
// replica of t. Truncating first and writing the id after means a replica cut short by a crash
// names the old topic and is removed at the next open (openPartition), never one that names the
// new topic and holds the old one's records. After an error old is retired and still holds its
// log, for the caller to delete.
func (m *Manager) recycleReplica(t *raftmeta.Topic, id int32, tc config.Topic, old *partition.Partition, writeID func(dir string) error) (*partition.Partition, error) {
	l, err := old.Recycle()
	if err != nil {
		return nil, err
	}
	metaPath := filepath.Join(l.Dir(), "partition.metadata")
	if !l.SetOnCreateDir(writeID) {
		if err := writeTopicID(m.fs(), metaPath, t.ID); err != nil {
			return nil, err
		}
	}
	l.SetConfig(logConfig(tc))
	return partition.New(l, m.partitionConfig(t.Name, id, tc))
}

// removeTopic deletes every local replica of a topic.
func (m *Manager) removeTopic(name string) {
	m.parts.mu.Lock()
	lt := m.parts.topics[name]
	delete(m.parts.topics, name)
	m.parts.mu.Unlock()
	if lt == nil {
		return
	}
	for _, lp := range lt.parts.all() {
		m.dropPartition(name, lp, true)
	}
}

func (m *Manager) dropPartition(topic string, lp *localPartition, deleteData bool) {
	var err error
	if deleteData {
		err = m.trash.delete(lp.Partition)
	} else {
		err = lp.Close()
	}
	if err != nil {
		m.log.Warn("removing partition", "topic", topic, "err", err)
	}
}

// openPartition opens (or creates) the log of one local replica. A directory left by an earlier
// topic of the same name (a different topic id in partition.metadata) is removed first, so a
// re-created topic never serves the old one's records. writeID is its OnCreateDir (topicIDWriter).
func (m *Manager) openPartition(t *raftmeta.Topic, id int32, tc config.Topic, writeID func(dir string) error) (*partition.Partition, error) {
	dir := filepath.Join(m.cfg.DataDir, t.Name+"-"+strconv.Itoa(int(id)))
	// A deleted replica of an earlier topic of this name may still hold the directory (trash.go).
	if err := m.trash.settle(dir); err != nil {
		return nil, err
	}
	idText := base64.RawURLEncoding.EncodeToString(t.ID[:])
	metaPath := filepath.Join(dir, "partition.metadata")
	onDisk, err := readTopicID(metaPath)
	switch {
	case err == nil && onDisk != idText:
		m.log.Info("removing stale replica of an earlier topic with the same name", "dir", dir)
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	// The directory, and partition.metadata first in it, are created by the first file the log
	// writes (log.Options.LazyDir): an idle replica touches no file system.
	// The node's logger as it is: the log names its directory (topic and partition) in every
	// message, and a logger With its own attributes costs each idle partition a handler copy
	// (some 200 B with slog's text handler; issue 18).
	l, err := log.Open(dir, logConfig(tc), log.Options{FS: m.cfg.FS, Logger: m.log, Codecs: compress.Codecs{},
		LazyDir: true, OnCreateDir: writeID})
	if err != nil {
		return nil, err
	}
	if onDisk != idText && l.DirCreated() {
		// An existing directory without the id (a crash between its mkdir and the file).
		if err := writeTopicID(m.fs(), metaPath, t.ID); err != nil {
			l.Close()
			return nil, err
		}
	}
	return partition.New(l, m.partitionConfig(t.Name, id, tc))
}

// fs is Config.FS, or the real file system.
func (m *Manager) fs() log.FS {
	if m.cfg.FS == nil {
		return log.OSFS
	}
	return m.cfg.FS
}

// topicIDWriter is the logs' OnCreateDir for the replicas of the topic with id: it writes
// partition.metadata into the directory it is given, so one serves all the topic's partitions
// and no idle partition keeps a closure or a path of its own.
func (m *Manager) topicIDWriter(id [16]byte) func(dir string) error {
	return func(dir string) error { return writeTopicID(m.fs(), filepath.Join(dir, "partition.metadata"), id) }
}

// writeTopicID writes a replica's partition.metadata, naming the topic id (Kafka's
// PartitionMetadataFile). The file has the same length for every id, and a recycled replica's
// (a Reset's __consumer_offsets) is overwritten in place, not truncated first: on ext4,
// emptying a file and writing it again starts its writeback at close (auto_da_alloc), which
// cost a Reset up to 25 ms per replica on a loaded machine. A crash in the middle leaves an id
// that names no topic, and the replica is removed at the next open, as any of an earlier topic.
// It goes through the log's file system, so that a fixture's linked file (log.CopyOnWriteFS,
// FromSnapshot) is copied first, never changed under the snapshot it is linked to.
func writeTopicID(fsys log.FS, path string, id [16]byte) error {
	text := fmt.Sprintf("version: 0\ntopic_id: %s\n", base64.RawURLEncoding.EncodeToString(id[:]))
	f, err := fsys.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteAt([]byte(text), 0)
	if err == nil {
		var fi fs.FileInfo
		if fi, err = f.Stat(); err == nil && fi.Size() > int64(len(text)) {
			err = f.Truncate(int64(len(text))) // not written by this version
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readTopicID reads the topic id a replica's partition.metadata records (Kafka's
// PartitionMetadataFile: "version: 0" and "topic_id: <base64>" lines).
func readTopicID(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	for line := range strings.Lines(string(data)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "topic_id" {
			return strings.TrimSpace(v), nil
		}
	}
	return "", nil
}

func (m *Manager) partitionConfig(topic string, id int32, tc config.Topic) partition.Config {
	return partition.Config{
		Topic:             topic,
		Partition:         id,
		NodeID:            m.cfg.Broker.NodeID,
		MinInsyncReplicas: tc.MinInsyncReplicas,
		ReplicaLagTimeMax: m.cfg.Broker.ReplicaLagTimeMax,
		Logger:            m.log,
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
//
// Resolving takes tens of microseconds, and Apply does it for every topic on every new State, so
// a cluster of a hundred topics spent milliseconds per metadata change on it: the result is
// kept per topic (under applyMu) while the three dynamic config maps it came from are the same
// maps. The State is copy-on-write, so an unchanged map is the very same map, and a cached entry
// holds its maps, so their addresses cannot be reused by new ones.
func (m *Manager) topicConfig(st *raftmeta.State, topic string) config.Topic {
	in := [3]map[string]string{
		st.Configs[raftmeta.ConfigResource{Type: raftmeta.ConfigResourceTopic, Name: topic}],
		st.Configs[raftmeta.BrokerConfigResource(m.cfg.Broker.NodeID)],
		st.Configs[raftmeta.ConfigResource{Type: raftmeta.ConfigResourceBroker}],
	}
	if c, ok := m.cfgCache[topic]; ok && sameMap(c.in[0], in[0]) && sameMap(c.in[1], in[1]) && sameMap(c.in[2], in[2]) {
		return c.cfg
	}
	tc := config.TopicFrom(config.ResolveTopic(in[0], in[1], in[2], m.cfg.Broker.Props))
	if m.cfgCache == nil {
		m.cfgCache = make(map[string]cachedTopicConfig)
	}
	m.cfgCache[topic] = cachedTopicConfig{in: in, cfg: tc}
	return tc
}

// cachedTopicConfig is a topic's resolved configuration and the dynamic configs it came from.
type cachedTopicConfig struct {
	in  [3]map[string]string
	cfg config.Topic
}

// sameMap reports whether a and b are the same map (not merely equal ones).
func sameMap(a, b map[string]string) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}
