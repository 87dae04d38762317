package replica

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/config"
	"github.com/minikraft/minikraft/broker/partition"
	"github.com/minikraft/minikraft/log"
	"github.com/minikraft/minikraft/raftmeta"
)

// Config is what a Manager needs of its node: plain values and two small interfaces, never the
// broker itself.
type Config struct {
	// Broker is the node's static configuration: node.id, the replica.* and log.* settings,
	// inter.broker.listener.name, and the properties topic configs fall back on.
	Broker config.Broker
	// DataDir holds one directory per local replica, named topic-partition.
	DataDir string
	// FS is the file system of the replicas' logs and their partition.metadata; nil is
	// log.OSFS. The test fixture passes log.NoSyncFS (broker.Config.NoSync), and
	// log.CopyOnWriteFS over it when the data directory may hold links (FromSnapshot).
	FS log.FS
	// Logger receives the manager's logs; nil discards them.
	Logger *slog.Logger
	// Dial, if set, opens the replica fetchers' connections to leaders; nil dials directly.
	Dial raftmeta.Dialer
	// Metadata is the node's current cluster metadata: the brokers' addresses for the
	// fetchers, and which partitions exist for the errors of Leader and Local.
	Metadata Metadata
	// Controller takes the ISR changes this node proposes as a leader.
	Controller Controller
	// Reconciled, if set, is called by Apply under its lock once the local partitions match
	// the State, before the replica fetchers follow the new leaders: the broker's own
	// reaction to the metadata (its group coordinator's __consumer_offsets partitions).
	Reconciled func(st *raftmeta.State)
	// Reconciling, if set, is called by Apply under its lock before the local partitions
	// change: the broker lets go of what a replaced replica is about to lose (the groups of a
	// __consumer_offsets partition re-created by a reset), so that nothing meant for the old
	// replica reaches the new one.
	Reconciling func(st *raftmeta.State)
}

// Metadata is the read side of the cluster metadata the manager needs.
type Metadata interface {
	State() *raftmeta.State
}

// Controller is the active controller as a partition leader sees it: it commits an ISR change
// (an AlterPartition of one partition) or refuses it.
type Controller interface {
	AlterPartition(ctx context.Context, req *kmsg.AlterPartitionRequest) error
}

// Manager is the node's replica manager: its local partitions and everything that keeps them
// in line with the metadata and with their leaders.
type Manager struct {
	cfg Config
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the fetchers and the periodic duties

	applyMu  sync.Mutex // serialises Apply (and so Config.Reconciled)
	parts    registry
	fetchers fetchers
	throttle fetchThrottle // the follower throttle (throttle.go)
	trash    trash         // deleted replicas' directories, removed in the background (trash.go)
	// cfgCache is each topic's resolved configuration (topicConfig); guarded by applyMu.
	cfgCache map[string]cachedTopicConfig
	// appliedIndex is the metadata index of the newest State applied; guarded by applyMu.
	appliedIndex uint64
	// isrShrinks and isrExpands count committed ISR changes of partitions led here (metrics).
	isrShrinks, isrExpands atomic.Int64
}

// New makes a Manager with no local partitions; the first Apply opens them. Its goroutines
// end when ctx is done or at Stop.
func New(ctx context.Context, cfg Config) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{cfg: cfg, log: cfg.Logger}
	m.ctx, m.cancel = context.WithCancel(ctx)
	m.parts.init()
	return m
}

// Run starts the periodic duties of a broker's replicas: ISR proposals for the partitions it
// leads, retention and cleaning for all. A node that is only a controller holds no replicas and
// does not call it.
func (m *Manager) Run() {
	m.goBackground(m.isrLoop)
	m.goBackground(m.retentionLoop)
	m.trash.start(m)
}

func (m *Manager) goBackground(fn func()) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		fn()
	}()
}

// Stop ends the fetchers and the periodic duties and waits for them; the partitions stay open.
func (m *Manager) Stop() {
	m.cancel()
	m.wg.Wait()
}

// Close stops the manager and closes every local partition (each log writes its clean-shutdown
// marker). Nothing may call Apply after it.
func (m *Manager) Close() error {
	m.Stop()
	return m.parts.closeAll()
}

// localPartition is a partition this node holds a replica of.
type localPartition struct {
	*partition.Partition
	// applied is the partition epoch of the last metadata this replica was reconciled with; the
	// controller bumps it on every leader, ISR or replica change.
	applied int32
}

// localTopic is the node's view of one topic it holds replicas of.
type localTopic struct {
	id    [16]byte
	cfg   config.Topic
	parts partSet
}

// partSet is a topic's local partitions by id. A slice, as a topic's ids are dense (0 to its
// partition count less one): an idle partition costs it a pointer rather than a map entry of
// some 36 bytes (issue 18). Published sets are never changed: a writer changes a copy.
type partSet []*localPartition

// get returns partition id's replica, nil if there is none here.
func (s partSet) get(id int32) *localPartition {
	if id < 0 || int(id) >= len(s) {
		return nil
	}
	return s[id]
}

// with returns s holding lp as partition id; s must be the caller's own copy.
func (s partSet) with(id int32, lp *localPartition) partSet {
	for int(id) >= len(s) {
		s = append(s, nil)
	}
	s[id] = lp
	return s
}

// all yields the replicas with their ids.
func (s partSet) all() iter.Seq2[int32, *localPartition] {
	return func(yield func(int32, *localPartition) bool) {
		for id, lp := range s {
			if lp != nil && !yield(int32(id), lp) {
				return
			}
		}
	}
}

// registry is the set of local partitions. Lookups take a read lock; only Apply writes.
type registry struct {
	mu     sync.RWMutex
	topics map[string]*localTopic
}

func (r *registry) init() { r.topics = make(map[string]*localTopic) }

func (r *registry) get(topic string, p int32) (*localPartition, config.Topic, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t := r.topics[topic]
	if t == nil {
		return nil, config.Topic{}, false
	}
	lp := t.parts.get(p)
	return lp, t.cfg, lp != nil
}

// all returns every local partition.
func (r *registry) all() map[string]map[int32]*localPartition {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[string]map[int32]*localPartition, len(r.topics))
	for name, t := range r.topics {
		m := make(map[int32]*localPartition, len(t.parts))
		for id, lp := range t.parts.all() {
			m[id] = lp
		}
		out[name] = m
	}
	return out
}

// Closing a log syncs its files and writes its clean-shutdown marker, a few fsyncs each, which
// the file system commits faster together than one after another (a journal commit carries
// many): closeWorkers partitions close at a time, so a node of 10,000 partitions stops in
// seconds, not minutes.
func (r *registry) closeAll() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	type job struct {
		name string
		id   int32
		lp   *localPartition
	}
	jobs := make(chan job)
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for range closeWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := j.lp.Close(); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("closing %s-%d: %w", j.name, j.id, err))
					mu.Unlock()
				}
			}
		}()
	}
	for name, t := range r.topics {
		for id, lp := range t.parts.all() {
			jobs <- job{name, id, lp}
		}
	}
	close(jobs)
	wg.Wait()
	r.topics = make(map[string]*localTopic)
	return errors.Join(errs...)
}

// closeWorkers is how many partitions closeAll closes at a time.
const closeWorkers = 32

// All returns every local replica by topic and partition id, for DescribeLogDirs. The maps are
// the caller's.
func (m *Manager) All() map[string]map[int32]*partition.Partition {
	out := make(map[string]map[int32]*partition.Partition)
	for name, tp := range m.parts.all() {
		ps := make(map[int32]*partition.Partition, len(tp))
		for id, lp := range tp {
			ps[id] = lp.Partition
		}
		out[name] = ps
	}
	return out
}

// Leader returns the local leader replica of topic/partition with its topic config, or the Kafka
// error a client should see: UNKNOWN_TOPIC_OR_PARTITION when the metadata has no such
// partition, NOT_LEADER_OR_FOLLOWER when this node does not lead it.
func (m *Manager) Leader(topic string, p int32) (*partition.Partition, config.Topic, error) {
	lp, tc, err := m.Local(topic, p)
	if err == nil && !lp.IsLeader() {
		err = kerr.NotLeaderForPartition
	}
	if err != nil {
		return nil, tc, err
	}
	return lp, tc, nil
}

// Local is Leader for any local replica, leader or follower.
func (m *Manager) Local(topic string, p int32) (*partition.Partition, config.Topic, error) {
	lp, tc, ok := m.parts.get(topic, p)
	if !ok {
		st := m.cfg.Metadata.State()
		t := st.Topics[topic]
		if t == nil || p < 0 || int(p) >= len(t.Partitions) {
			return nil, tc, kerr.UnknownTopicOrPartition
		}
		return nil, tc, kerr.NotLeaderForPartition
	}
	return lp.Partition, tc, nil
}
