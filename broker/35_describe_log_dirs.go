package broker

// DescribeLogDirs (key 35), versions 0–4.
//
// One log directory (the first of log.dirs; minikraft keeps all partitions there), listing each
// local replica asked for (or all when Topics is null) with its size on disk and, for a leader, a
// lag of 0 (a follower's lag is the leader's high watermark minus its own end, once followers
// exist). v4 adds the file system's total and usable bytes.

import (
	"context"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/acl"
	"github.com/minikraft/minikraft/wire"
)

func init() { register(35, 0, 4, (*Broker).handleDescribeLogDirs) }

func (b *Broker) handleDescribeLogDirs(_ context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.DescribeLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	if !b.checkerFor(r).cluster(acl.OpDescribe) {
		// Kafka: no directories; v3+ says why.
		if req.Version >= 3 {
			resp.ErrorCode = errClusterAuth.Code
		}
		return wire.Done(resp, nil)
	}
	dir := kmsg.NewDescribeLogDirsResponseDir()
	abs, err := filepath.Abs(b.dataDir)
	if err != nil {
		abs = b.dataDir
	}
	dir.Dir = abs
	dir.TotalBytes, dir.UsableBytes = -1, -1
	var fs syscall.Statfs_t
	if syscall.Statfs(b.dataDir, &fs) == nil {
		dir.TotalBytes = int64(fs.Blocks) * int64(fs.Bsize)
		dir.UsableBytes = int64(fs.Bavail) * int64(fs.Bsize)
	}

	local := b.replicas.All()
	want := func(topic string, p int32) bool { return true }
	if req.Topics != nil {
		asked := make(map[string][]int32)
		for _, t := range req.Topics {
			asked[t.Topic] = append(asked[t.Topic], t.Partitions...)
		}
		want = func(topic string, p int32) bool { return slices.Contains(asked[topic], p) }
	}
	names := make([]string, 0, len(local))
	for name := range local {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		dt := kmsg.NewDescribeLogDirsResponseDirTopic()
		dt.Topic = name
		ids := make([]int32, 0, len(local[name]))
		for id := range local[name] {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			if !want(name, id) {
				continue
			}
			lp := local[name][id]
			dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			dp.Partition = id
			dp.Size = lp.Log().Size()
			if !lp.IsLeader() {
				dp.OffsetLag = max(0, lp.HighWatermark()-lp.LogEndOffset())
			}
			dt.Partitions = append(dt.Partitions, dp)
		}
		if len(dt.Partitions) > 0 {
			dir.Topics = append(dir.Topics, dt)
		}
	}
	resp.Dirs = append(resp.Dirs, dir)
	return wire.Done(resp, nil)
}
