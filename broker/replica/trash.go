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

// trash removes the directories of deleted replicas in the background, as Kafka does: a deleted
// replica's directory is renamed "<topic>-<n>.<random hex>-delete" while Apply runs (one rename,
// so a Reset or DeleteTopics of many partitions does not wait on unlinking their files, which
// takes most of a millisecond per partition on a virtual disk), and a goroutine of the manager
// removes it. The rename frees the name at once: a topic re-created under the same name opens a
// new, empty directory. Directories left when the manager stopped first are removed at the next
// start (Run). Without Run (a manager of a test, or after Stop), deletion is synchronous.
type trash struct {
	mu      sync.Mutex // leaf
	running bool
	queue   []string
	wake    chan struct{}
	log     *slog.Logger
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

// delete closes p and puts its directory in the trash (or removes it now when no goroutine
// empties the trash).
func (t *trash) delete(p *partition.Partition) error {
	t.mu.Lock()
	running := t.running
	t.mu.Unlock()
	if !running {
		return p.Delete()
	}
	var id [8]byte
	rand.Read(id[:])
	to := p.Log().Dir() + "." + hex.EncodeToString(id[:]) + trashSuffix
	if err := p.DeleteTo(to); err != nil {
		return err
	}
	t.mu.Lock()
	t.queue = append(t.queue, to)
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
	return nil
}

func (t *trash) loop(ctx context.Context) {
	defer func() {
		t.mu.Lock()
		t.running = false
		t.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.wake:
		}
		for ctx.Err() == nil {
			t.mu.Lock()
			if len(t.queue) == 0 {
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
	}
}
