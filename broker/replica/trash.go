package replica

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/minikraft/minikraft/broker/partition"
)

// trash deletes replicas in the background, as Kafka does. Apply only retires a deleted
// replica (partition.Retire: every request to it fails from then on) and queues it; a goroutine
// of the manager then closes its log and renames its directory "<topic>-<n>.<random
// hex>-delete" (log.DeleteTo), and later removes that directory. So a Reset or DeleteTopics of
// a hundred partitions does not wait on closing, renaming and unlinking their files, which took
// most of a Reset's time on a busy virtual disk.
//
// A directory name is reused when a topic is re-created under it (the same topic names after a
// Reset): openPartition first calls settle, which moves a retired replica still holding the name
// out of the way at once, or waits for the goroutine that is moving it. Retired replicas still
// queued when the manager stops are moved on the way out (the loop drains them), and
// directories left when the manager stopped are removed at the next start (Run). Without Run (a
// manager of a test, or after Stop), deletion is synchronous.
type trash struct {
	mu      sync.Mutex // leaf
	running bool
	// retired are the retired replicas whose directory still has its name, by directory.
	retired map[string]*retiredReplica
	order   []string // retired's keys in the order they were retired
	queue   []string // renamed directories to remove
	wake    chan struct{}
	log     *slog.Logger
}

// retiredReplica is a replica waiting to be moved to the trash; done is closed once it is.
type retiredReplica struct {
	p      *partition.Partition
	taken  bool // someone is moving it now
	done   chan struct{}
	result error
}

// trashSuffix ends a trash directory's name; a replica's directory ends with its partition id.
const trashSuffix = "-delete"

// start queues what an earlier run left in dataDir and starts the removing goroutine.
func (t *trash) start(m *Manager) {
	t.mu.Lock()
	t.running = true
	t.wake = make(chan struct{}, 1)
	t.log = m.log
	if ents, err := os.ReadDir(m.cfg.DataDir); err == nil {
		for _, e := range ents {
			if e.IsDir() && strings.HasSuffix(e.Name(), trashSuffix) {
				t.queue = append(t.queue, filepath.Join(m.cfg.DataDir, e.Name()))
			}
		}
	}
	if len(t.queue) > 0 {
		t.wake <- struct{}{}
	}
	t.mu.Unlock()
	m.goBackground(func() { t.loop(m.ctx) })
}

// delete retires p and queues it for the trash (or deletes it now when no goroutine empties the
// trash).
func (t *trash) delete(p *partition.Partition) error {
	t.mu.Lock()
	if !t.running {
		t.mu.Unlock()
		return p.Delete()
	}
	p.Retire()
	dir := p.Log().Dir()
	if old := t.retired[dir]; old != nil && !old.taken {
		// Cannot happen (settle runs before a directory is opened again); keep the older
		// replica's move rather than lose it.
		t.mu.Unlock()
		t.move(dir, old)
		t.mu.Lock()
	}
	if t.retired == nil {
		t.retired = make(map[string]*retiredReplica)
	}
	t.retired[dir] = &retiredReplica{p: p, done: make(chan struct{})}
	t.order = append(t.order, dir)
	t.mu.Unlock()
	t.poke()
	return nil
}

func (t *trash) poke() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// settle makes sure no retired replica holds dir: it moves one that does to the trash now, or
// waits until the goroutine moving it is done. Called before dir is opened as a new replica.
func (t *trash) settle(dir string) error {
	t.mu.Lock()
	r := t.retired[dir]
	if r == nil {
		t.mu.Unlock()
		return nil
	}
	if r.taken {
		t.mu.Unlock()
		<-r.done
		return r.result
	}
	t.mu.Unlock()
	return t.move(dir, r)
}

// move renames r's directory into the trash (closing its log) unless someone else took it.
func (t *trash) move(dir string, r *retiredReplica) error {
	t.mu.Lock()
	if r.taken {
		t.mu.Unlock()
		<-r.done
		return r.result
	}
	r.taken = true
	t.mu.Unlock()
	var id [8]byte
	rand.Read(id[:])
	to := dir + "." + hex.EncodeToString(id[:]) + trashSuffix
	err := r.p.DeleteTo(to)
	t.mu.Lock()
	if t.retired[dir] == r {
		delete(t.retired, dir)
	}
	if err == nil {
		t.queue = append(t.queue, to)
	}
	r.result = err
	close(r.done)
	t.mu.Unlock()
	if err != nil {
		t.log.Warn("deleting a replica", "dir", dir, "err", err)
	}
	return err
}

// nextRetired is the oldest retired replica nobody is moving yet.
func (t *trash) nextRetired() (string, *retiredReplica) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.order) > 0 {
		dir := t.order[0]
		t.order = t.order[1:]
		if r := t.retired[dir]; r != nil && !r.taken {
			return dir, r
		}
	}
	return "", nil
}

func (t *trash) loop(ctx context.Context) {
	defer func() {
		// Move what is still retired, so that no replica is left open under its name: the
		// next start would take it for a live one. Its removal waits for that start.
		for {
			for dir, r := t.nextRetired(); r != nil; dir, r = t.nextRetired() {
				t.move(dir, r)
			}
			t.mu.Lock()
			if len(t.order) == 0 {
				t.running = false // from now on delete is synchronous
				t.mu.Unlock()
				return
			}
			t.mu.Unlock()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.wake:
		}
		// Free the names first (a close and a rename each), then unlink the files.
		for dir, r := t.nextRetired(); r != nil && ctx.Err() == nil; dir, r = t.nextRetired() {
			t.move(dir, r)
		}
		for ctx.Err() == nil {
			t.mu.Lock()
			if len(t.queue) == 0 || len(t.order) > 0 {
				t.mu.Unlock()
				break
			}
			dir := t.queue[0]
			t.queue = t.queue[1:]
			t.mu.Unlock()
			if err := os.RemoveAll(dir); err != nil {
				t.log.Warn("removing a deleted replica's directory", "dir", dir, "err", err)
			}
		}
		t.mu.Lock()
		more := len(t.order) > 0 || len(t.queue) > 0
		t.mu.Unlock()
		if more {
			t.poke()
		}
	}
}
