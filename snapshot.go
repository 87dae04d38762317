package minikraft

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/minikraft/minikraft/broker"
	"github.com/minikraft/minikraft/log"
	"github.com/minikraft/minikraft/raftmeta"
)

// Snapshot and FromSnapshot (issue 21): a running cluster's metadata and partition data to a
// directory, and clusters started from it.
//
// A snapshot directory holds:
//
//	metadata.json            the metadata at one Raft index (raftmeta.WriteState's document)
//	data/<topic>-<n>/        one copy of each partition's log, up to its high watermark, with
//	                         the partition.metadata that names its topic id
//	minikraft-snapshot.json  the manifest, written last: the node count and each partition's
//	                         end offset
//
// Group offsets need nothing of their own: they are records of __consumer_offsets, copied like
// any partition.

const (
	snapshotManifestFile = "minikraft-snapshot.json"
	snapshotMetadataFile = "metadata.json"
	snapshotDataDir      = "data"
	snapshotFormat       = 1
)

// snapshotManifest is minikraft-snapshot.json.
type snapshotManifest struct {
	Version    int                 `json:"version"`
	Nodes      int                 `json:"nodes"`
	Index      uint64              `json:"metadata_index"`
	Partitions []snapshotPartition `json:"partitions"`
}

type snapshotPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	End       int64  `json:"end_offset"` // the high watermark copied to
}

func (p snapshotPartition) dirName() string {
	return p.Topic + "-" + strconv.Itoa(int(p.Partition))
}

// FromSnapshot starts the cluster from a directory Cluster.Snapshot wrote: each node's data
// directory is seeded with the replicas the snapshot's metadata places on it (every replica
// gets the copy taken from the partition's leader), and once the nodes have registered the
// active controller installs the snapshot's topics, configs and producer id counter in one
// metadata entry. NewCluster/StartCluster return when every node has applied it and every
// partition's leader serves the records up to the snapshot's end offset: the same topics (and
// topic ids), records and committed group offsets. The cluster must have the snapshot's node
// count, and its data directories (WithDir) must be empty. Snapshots are not a stable format
// across minikraft versions.
func FromSnapshot(dir string) Option { return func(o *options) { o.snapshot = dir } }

// Snapshot writes the whole cluster's metadata and partition data to dir (created; it must be
// empty or absent), for FromSnapshot. It is consistent while clients produce and consume:
// each partition is copied up to its high watermark (records every in-sync replica has), and
// the metadata is the State at one Raft index taken after the copies, which must still have the
// same topics (an error otherwise: do not create or delete topics during a snapshot).
// __consumer_offsets is copied before the other topics, so a committed offset never points past
// the copied records of its partition (a consumer commits only what it has read, below the
// high watermark). Every partition needs a running replica; take snapshots with all nodes up.
func (c *Cluster) Snapshot(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := emptyDir(dir); err != nil {
		return fmt.Errorf("minikraft: Snapshot: %w", err)
	}
	if err := os.Mkdir(filepath.Join(dir, snapshotDataDir), 0o755); err != nil {
		return fmt.Errorf("minikraft: Snapshot: %w", err)
	}
	st, err := c.currentState(ctx)
	if err != nil {
		return fmt.Errorf("minikraft: Snapshot: %w", err)
	}
	parts := sortedPartitions(st)
	// Two rounds: the internal topics first (see above), then the rest.
	split := 0
	for split < len(parts) && st.Topics[parts[split].Topic].Internal {
		split++
	}
	for _, round := range [][]snapshotPartition{parts[:split], parts[split:]} {
		err := parallel(len(round), func(i int) error {
			end, err := c.copyPartition(st, round[i], filepath.Join(dir, snapshotDataDir, round[i].dirName()))
			round[i].End = end
			return err
		})
		if err != nil {
			return fmt.Errorf("minikraft: Snapshot: %w", err)
		}
	}
	after, err := c.currentState(ctx)
	if err != nil {
		return fmt.Errorf("minikraft: Snapshot: %w", err)
	}
	for _, p := range parts {
		t, was := after.Topics[p.Topic], st.Topics[p.Topic]
		if t == nil || t.ID != was.ID || len(t.Partitions) != len(was.Partitions) {
			return fmt.Errorf("minikraft: Snapshot: topic %s changed during the snapshot", p.Topic)
		}
	}
	if len(after.Topics) != len(st.Topics) {
		return errors.New("minikraft: Snapshot: topics were created during the snapshot")
	}
	var meta bytes.Buffer
	if err := raftmeta.WriteState(&meta, after); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, snapshotMetadataFile), meta.Bytes(), 0o644); err != nil {
		return err
	}
	man, err := json.MarshalIndent(snapshotManifest{Version: snapshotFormat, Nodes: len(c.nodes), Index: after.Index, Partitions: parts}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, snapshotManifestFile), man, 0o644)
}

// currentState is the active controller's metadata once every running node has applied it.
func (c *Cluster) currentState(ctx context.Context) (*raftmeta.State, error) {
	var st *raftmeta.State
	_, err := c.onController(ctx, func(b *broker.Broker) (uint64, error) {
		if !b.Meta().IsLeader() {
			return 0, raftmeta.ErrNotLeader
		}
		st = b.Meta().State()
		return st.Index, nil
	})
	if err != nil {
		return nil, err
	}
	return st, c.waitApplied(ctx, st.Index)
}

// copyPartition copies p from its leader, or from another running in-sync replica if the leader
// is not running.
func (c *Cluster) copyPartition(st *raftmeta.State, p snapshotPartition, dst string) (int64, error) {
	t := st.Topics[p.Topic]
	mp := t.Partitions[p.Partition]
	sources := append([]int32{mp.Leader}, mp.ISR...)
	var last error = fmt.Errorf("%s-%d has no running in-sync replica", p.Topic, p.Partition)
	for _, id := range sources {
		if id < 0 || int(id) >= len(c.nodes) {
			continue
		}
		b := c.Node(int(id))
		if b == nil {
			continue
		}
		end, err := b.CopyReplica(p.Topic, p.Partition, t.ID, dst)
		if err == nil {
			return end, nil
		}
		last = err
	}
	return 0, last
}

// sortedPartitions lists st's partitions, internal topics first, then by name and partition.
func sortedPartitions(st *raftmeta.State) []snapshotPartition {
	var out []snapshotPartition
	for name, t := range st.Topics {
		for _, p := range t.Partitions {
			out = append(out, snapshotPartition{Topic: name, Partition: p.ID})
		}
	}
	slices.SortFunc(out, func(a, b snapshotPartition) int {
		ia, ib := st.Topics[a.Topic].Internal, st.Topics[b.Topic].Internal
		if ia != ib {
			if ia {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out
}

// loadedSnapshot is a snapshot read back by FromSnapshot.
type loadedSnapshot struct {
	manifest snapshotManifest
	state    *raftmeta.State
	// seeded yields the result of copying the replicas into the nodes' data directories, once.
	seeded chan error
}

// seedSnapshot reads the snapshot in dir and starts copying each partition to the data
// directory of every node that holds one of its replicas; s.seeded yields the copy's result. It
// runs before the nodes start, and the copy goes on while they start, elect and register: a
// node opens no replica before restoreSnapshot installs the snapshot's metadata, which waits
// for the copy.
func (c *Cluster) seedSnapshot(dir string) (*loadedSnapshot, error) {
	var s loadedSnapshot
	man, err := os.ReadFile(filepath.Join(dir, snapshotManifestFile))
	if err != nil {
		return nil, fmt.Errorf("minikraft: FromSnapshot: %s is not a complete snapshot: %w", dir, err)
	}
	if err := json.Unmarshal(man, &s.manifest); err != nil {
		return nil, fmt.Errorf("minikraft: FromSnapshot: %w", err)
	}
	if s.manifest.Version != snapshotFormat {
		return nil, fmt.Errorf("minikraft: FromSnapshot: snapshot format %d, this version reads %d", s.manifest.Version, snapshotFormat)
	}
	if s.manifest.Nodes != len(c.nodes) {
		return nil, fmt.Errorf("minikraft: FromSnapshot: the snapshot is of a %d-node cluster; this cluster has %d nodes", s.manifest.Nodes, len(c.nodes))
	}
	f, err := os.Open(filepath.Join(dir, snapshotMetadataFile))
	if err != nil {
		return nil, fmt.Errorf("minikraft: FromSnapshot: %w", err)
	}
	s.state, err = raftmeta.ReadState(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("minikraft: FromSnapshot: %w", err)
	}
	for _, cn := range c.nodes {
		if err := emptyDir(cn.dir); err != nil {
			return nil, fmt.Errorf("minikraft: FromSnapshot: node %d: %w", cn.id, err)
		}
	}
	type copyJob struct{ src, dst string }
	var jobs []copyJob
	for _, p := range s.manifest.Partitions {
		mp := s.state.Partition(p.Topic, p.Partition)
		if mp == nil {
			return nil, fmt.Errorf("minikraft: FromSnapshot: %s-%d is in the manifest, not in the metadata", p.Topic, p.Partition)
		}
		for _, r := range mp.Replicas {
			if r < 0 || int(r) >= len(c.nodes) {
				return nil, fmt.Errorf("minikraft: FromSnapshot: %s-%d has a replica on node %d, not in a %d-node cluster", p.Topic, p.Partition, r, len(c.nodes))
			}
			jobs = append(jobs, copyJob{filepath.Join(dir, snapshotDataDir, p.dirName()), filepath.Join(c.nodes[r].dir, p.dirName())})
		}
	}
	s.seeded = make(chan error, 1)
	go func() {
		err := parallel(len(jobs), func(i int) error { return copyDir(jobs[i].src, jobs[i].dst) })
		if err != nil {
			err = fmt.Errorf("minikraft: FromSnapshot: %w", err)
		}
		s.seeded <- err
	}()
	return &s, nil
}

// restoreSnapshot installs the snapshot's metadata on the started cluster and waits until every
// partition's leader serves what the snapshot holds.
func (c *Cluster) restoreSnapshot(ctx context.Context, s *loadedSnapshot) error {
	if err := s.waitSeeded(); err != nil {
		return err
	}
	idx, err := c.onController(ctx, func(b *broker.Broker) (uint64, error) { return b.RestoreTopics(ctx, s.state) })
	if err != nil {
		return fmt.Errorf("minikraft: FromSnapshot: %w", err)
	}
	if err := c.waitApplied(ctx, idx); err != nil {
		return fmt.Errorf("minikraft: FromSnapshot: %w", err)
	}
	// A leader's high watermark starts at its log start and advances as its followers fetch:
	// wait until each partition's serves the snapshot's records.
	pending := slices.Clone(s.manifest.Partitions)
	for len(pending) > 0 {
		pending = slices.DeleteFunc(pending, func(p snapshotPartition) bool {
			mp := s.state.Partition(p.Topic, p.Partition)
			if mp.Leader < 0 {
				return true // no leader in the snapshot: nothing to wait for
			}
			b := c.Node(int(mp.Leader))
			if b == nil {
				return false
			}
			hw, err := b.HighWatermark(p.Topic, p.Partition)
			return err == nil && hw >= p.End
		})
		if len(pending) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			p := pending[0]
			return fmt.Errorf("minikraft: FromSnapshot: %s-%d (and %d more) not served up to the snapshot's offsets: %w", p.Topic, p.Partition, len(pending)-1, ctx.Err())
		case <-time.After(200 * time.Microsecond):
		}
	}
	return nil
}

// waitSeeded waits for the copy seedSnapshot started and returns its error. Every path out of
// start calls it once the copy began, so that no copy goes on into a closed cluster's
// directories.
func (s *loadedSnapshot) waitSeeded() error {
	if s == nil || s.seeded == nil {
		return nil
	}
	err := <-s.seeded
	s.seeded = nil
	return err
}

// emptyDir makes sure dir exists and holds nothing.
func emptyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return fmt.Errorf("%s is not empty", dir)
	}
	return nil
}

// replacedWhole are the files of a replica's directory that a broker never writes in place: the
// log package replaces its checkpoints whole (a temporary file renamed over them), removes
// clean-shutdown before its first change to an opened log (a removal, which leaves the other
// link alone). copyDir hard-links them on every platform. partition.metadata is not among them:
// a Reset overwrites a recycled replica's in place, through log.CopyOnWriteFS, so it is linked
// only where that file system knows link counts. TestSnapshotRestore and
// TestSnapshotUnchangedByRestoredCluster check that the snapshot is unchanged by what the
// restored clusters did.
var replacedWhole = map[string]bool{
	"leader-epoch-checkpoint":   true,
	"log-start-offset":          true,
	"recovery-point":            true,
	"cleaner-offset-checkpoint": true,
	"clean-shutdown":            true,
	// The log's transaction state as Close left it: written whole (a temporary renamed over it).
	"transaction-state-checkpoint": true,
}

// copyDir copies the files of directory src into dst (created), if src exists; a replica's directory has no
// subdirectory. It hard-links every file instead where it can: a link is one directory entry,
// where a copy creates and writes a file, and on a virtual disk file creation is most of
// FromSnapshot's time. Segment and index files, which the log writes in place, are linked only
// where log.CopyOnWriteFS knows link counts (the fixture's nodes then open their logs through
// it, so the first write to a linked file copies it: the snapshot never changes); elsewhere,
// and across file systems, they are copied (os.File.ReadFrom copies in the kernel where it
// can, with copy_file_range).
func copyDir(src, dst string) error {
	ents, err := os.ReadDir(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // an empty replica has no directory (log.Options.LazyDir), nor does its copy
	}
	if err != nil {
		return err
	}
	if err := os.Mkdir(dst, 0o755); err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			return fmt.Errorf("%s: %s is not a regular file", src, e.Name())
		}
		from, to := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		if (log.LinkedFilesSafe || replacedWhole[e.Name()]) && os.Link(from, to) == nil {
			continue // else (another file system, say) copied
		}
		if err := copyFile(from, to); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// parallel runs f(0..n-1) on a few goroutines and returns the first error.
func parallel(n int, f func(i int) error) error {
	const workers = 8
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  int
	)
	for w := 0; w < min(workers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil
				mu.Unlock()
				if i >= n || stop {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}
