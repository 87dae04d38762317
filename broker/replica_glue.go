package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/replica"
	"github.com/minikraft/minikraft/log"
	"github.com/minikraft/minikraft/raftmeta"
)

// The broker's side of its replica manager (broker/replica): what the manager is given, and the
// one broker method the API handlers and control calls use to apply new metadata.

// newReplicaManager makes the node's replica manager. Its goroutines end with the broker's
// context.
func (b *Broker) newReplicaManager() *replica.Manager {
	return replica.New(b.ctx, replica.Config{
		Broker:     b.cfg.Broker,
		DataDir:    b.dataDir,
		FS:         b.logFS(),
		Logger:     b.log,
		Dial:       b.interBrokerDialer(),
		Metadata:   b.meta,
		Controller: isrController{b},
		// The group and transaction coordinators follow the __consumer_offsets and
		// __transaction_state leaderships in the same serialised pass, after the partitions
		// are promoted and before the fetchers move.
		Reconciled: func(st *raftmeta.State) {
			b.syncGroupCoordinator(st)
			if b.txns != nil {
				b.txns.sync(st)
			}
		},
		// A __consumer_offsets re-created under a new id (the fixture's Reset) loses its groups
		// before its replicas are replaced.
		Reconciling: b.resignReplacedOffsets,
	})
}

// applyMetadata brings the local partitions, and the group coordinator's partitions, in line
// with st (replica.Manager.Apply). Requests that changed the metadata call it before answering,
// so the client's next request to this broker sees the change.
func (b *Broker) applyMetadata(st *raftmeta.State) { b.replicas.Apply(st) }

// isrController sends the replica manager's ISR changes to the active controller.
type isrController struct{ b *Broker }

// AlterPartition sends req to the active controller (control.go's alterPartition).
func (c isrController) AlterPartition(ctx context.Context, req *kmsg.AlterPartitionRequest) error {
	return c.b.alterPartition(ctx, req)
}

// logFS is the file system of the node's partition logs: the real one, or for the test fixture
// (Config.NoSync) one that never fsyncs, and (Config.LinkedData) one that copies a hard-linked
// file before the log changes it.
func (b *Broker) logFS() log.FS {
	fsys := log.OSFS
	if b.cfg.NoSync {
		fsys = log.NoSyncFS(fsys)
	}
	if b.cfg.LinkedData {
		fsys = log.CopyOnWriteFS(fsys)
	}
	return fsys
}
