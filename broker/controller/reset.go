package controller

import (
	"context"
	"fmt"

	"github.com/minikraft/minikraft/internal/uuid"
	"github.com/minikraft/minikraft/raftmeta"
)

// ResetCluster empties the cluster in one metadata entry (raftmeta.ResetCluster, the test
// fixture's Reset): it draws a fresh id for each internal topic, which is re-created empty
// under it, and returns the entry's raft index.
func (c *Controller) ResetCluster(ctx context.Context) (uint64, error) {
	ids := make(map[string][16]byte)
	for name, t := range c.meta.State().Topics {
		if t.Internal {
			ids[name] = uuid.New()
		}
	}
	res, err := c.meta.Propose(ctx, raftmeta.ResetCluster{NewIDs: ids})
	if err != nil {
		return 0, err
	}
	// The caller waits until every node has applied the entry: tell the followers now that it
	// is committed (a no-op when Propose did, raftmeta.Config.SpreadCommits).
	c.meta.Spread()
	idx, ok := res.(uint64)
	if !ok {
		return 0, fmt.Errorf("controller: ResetCluster answered %T", res)
	}
	return idx, nil
}

// RestoreTopics gives the cluster the topics, configs and producer id counter of st in one
// metadata entry (raftmeta.RestoreTopics, the test fixture's FromSnapshot) and returns the
// metadata index that has it.
func (c *Controller) RestoreTopics(ctx context.Context, st *raftmeta.State) (uint64, error) {
	if _, err := c.meta.Propose(ctx, st.RestoreCommand()); err != nil {
		return 0, err
	}
	c.meta.Spread() // as in ResetCluster
	// Propose returns once the entry is applied here: the State has it (or a later one).
	return c.meta.State().Index, nil
}
