package minikraft_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/minikraft/minikraft"
)

// The goals of issue 21 as benchmarks:
//
//	go test -run '^$' -bench 'BenchmarkReset|BenchmarkFromSnapshot|BenchmarkBuild|BenchmarkStartCluster|BenchmarkPackage|BenchmarkFirstWrite' -benchtime 5x -timeout 30m .
//
// with MINIKRAFT_BENCH_DIR=/dev/shm to put the nodes' data on tmpfs.
//
// BenchmarkReset: Reset of a 3-node cluster that holds 100 topics (goal: under 20 ms).
// BenchmarkFromSnapshot: a 3-node cluster serving a 100-topic snapshot (goal: under 200 ms);
// BenchmarkBuildHundredTopics makes the same state through a client, BenchmarkStartCluster an
// empty cluster.
// BenchmarkPackage: 50 small tests on one minikraft cluster with Reset between them, against
// 50 kfake clusters each started fresh (goal: faster).
// BenchmarkFirstWrite: issue 18's NewCluster(3) to the first acks=all write (goal: under 100 ms).

// benchDir puts the nodes' data under $MINIKRAFT_BENCH_DIR (say /var/tmp, to measure a disk) or
// where the fixture puts it by default (/dev/shm on Linux).
func benchDir(b testing.TB) minikraft.Option { return minikraft.WithDir(benchTempDir(b)) }

// benchTempDir is a new directory under $MINIKRAFT_BENCH_DIR, else under /dev/shm where there is
// one (the fixture's default data directory on Linux), else a temporary one, removed when b ends.
// A snapshot goes there too: FromSnapshot links its files into the nodes' directories, which
// works only on the same file system (else it copies them).
func benchTempDir(b testing.TB) string {
	root := os.Getenv("MINIKRAFT_BENCH_DIR")
	if root == "" {
		if fi, err := os.Stat("/dev/shm"); err != nil || !fi.IsDir() {
			return b.TempDir()
		}
		root = "/dev/shm"
	}
	dir, err := os.MkdirTemp(root, "minikraft-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func benchClient(b testing.TB, addrs []string, opts ...kgo.Opt) *kgo.Client {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	return cl
}

// hundredTopics creates 100 one-partition topics on every node (RF 3) with one record each,
// and has a group commit an offset on each.
func hundredTopics(ctx context.Context, b testing.TB, c *minikraft.Cluster) {
	cl := benchClient(b, c.Addrs())
	defer cl.Close()
	names := make([]string, 100)
	recs := make([]*kgo.Record, 100)
	for i := range names {
		names[i] = fmt.Sprintf("bench-%03d", i)
		recs[i] = &kgo.Record{Topic: names[i], Value: []byte("v")}
	}
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, 1, 3, nil, names...)
	if err == nil {
		// On a loaded machine the client may time out and send the request again, after
		// the first one created some of the topics (emptyAfterReset checks that a Reset
		// left none).
		for _, r := range resp {
			if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
				err = r.Err
			}
		}
	}
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range names {
		if err := c.WaitForLeaders(ctx, n); err != nil {
			b.Fatal(err)
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	offs := kadm.Offsets{}
	for _, n := range names {
		offs.AddOffset(n, 0, 1, -1)
	}
	cr, err := kadm.NewClient(cl).CommitOffsets(ctx, "bench-group", offs)
	if err == nil {
		err = cr.Error()
	}
	if err != nil {
		b.Fatal(err)
	}
}

func BenchmarkReset(b *testing.B) {
	c := minikraft.NewCluster(b, 3, minikraft.Quiet(), benchDir(b))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		hundredTopics(ctx, b, c)
		b.StartTimer()
		if err := c.Reset(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		emptyAfterReset(b, c)
		b.StartTimer()
	}
}

// emptyAfterReset fails b if a node still has a topic that is not internal.
func emptyAfterReset(b testing.TB, c *minikraft.Cluster) {
	for i := range c.Addrs() {
		for name, t := range c.Node(i).Meta().State().Topics {
			if !t.Internal {
				b.Fatalf("node %d has topic %s after Reset", i, name)
			}
		}
	}
}

func BenchmarkFromSnapshot(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	src := minikraft.NewCluster(b, 3, minikraft.Quiet(), benchDir(b))
	hundredTopics(ctx, b, src)
	dir := benchTempDir(b)
	if err := src.Snapshot(dir); err != nil {
		b.Fatal(err)
	}
	src.Close()
	b.ResetTimer()
	for range b.N {
		c, err := minikraft.StartCluster(3, minikraft.FromSnapshot(dir), minikraft.Quiet(), benchDir(b))
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		c.Close()
		b.StartTimer()
	}
}

// BenchmarkBuildHundredTopics is what FromSnapshot replaces: a new cluster, and the 100 topics,
// records and group offsets made again through a client.
func BenchmarkBuildHundredTopics(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	for range b.N {
		c, err := minikraft.StartCluster(3, minikraft.Quiet(), benchDir(b))
		if err != nil {
			b.Fatal(err)
		}
		hundredTopics(ctx, b, c)
		b.StopTimer()
		c.Close()
		b.StartTimer()
	}
}

// BenchmarkStartCluster is the baseline of FromSnapshot: an empty 3-node cluster.
func BenchmarkStartCluster(b *testing.B) {
	for range b.N {
		c, err := minikraft.StartCluster(3, minikraft.Quiet(), benchDir(b))
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		c.Close()
		b.StartTimer()
	}
}

// smallTest is one test of a package: a topic, ten records, a group that reads and commits them.
func smallTest(ctx context.Context, b testing.TB, addrs []string, i int) {
	topic, group := fmt.Sprintf("t%d", i%5), fmt.Sprintf("g%d", i%5) // names that come back, as in a real package
	cl := benchClient(b, addrs, kgo.DefaultProduceTopic(topic))
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, -1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		b.Fatalf("test %d: create %s: %v", i, topic, err)
	}
	recs := make([]*kgo.Record, 10)
	for j := range recs {
		recs[j] = &kgo.Record{Value: []byte(fmt.Sprint(j))}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		b.Fatalf("test %d: produce: %v", i, err)
	}
	cons := benchClient(b, addrs, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	defer cons.Close()
	for got := 0; got < 10; {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			b.Fatalf("test %d: consumed %d of 10: %v", i, got, err)
		}
		for _, r := range fs.Records() {
			if r.Offset >= 10 {
				b.Fatalf("test %d: offset %d: a record of an earlier test", i, r.Offset)
			}
			got++
		}
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		b.Fatalf("test %d: commit: %v", i, err)
	}
}

const packageTests = 50

func BenchmarkPackage(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	for _, nodes := range []int{1, 3} {
		b.Run(fmt.Sprintf("minikraft-%dnode-reset", nodes), func(b *testing.B) {
			for range b.N {
				c, err := minikraft.StartCluster(nodes, minikraft.Quiet(), benchDir(b))
				if err != nil {
					b.Fatal(err)
				}
				for i := range packageTests {
					smallTest(ctx, b, c.Addrs(), i)
					if err := c.Reset(ctx); err != nil {
						b.Fatal(err)
					}
				}
				c.Close()
			}
		})
	}
	b.Run("kfake-fresh", func(b *testing.B) {
		for range b.N {
			for i := range packageTests {
				c, err := kfake.NewCluster()
				if err != nil {
					b.Fatal(err)
				}
				smallTest(ctx, b, c.ListenAddrs(), i)
				c.Close()
			}
		}
	})
}

// BenchmarkFirstWrite is issue 18's fixture figure: a 3-node cluster started, an RF 3 topic
// created, and its first acks=all write acknowledged (goal: under 100 ms), next to kfake's
// (which replicates nothing: a floor, not a peer).
func BenchmarkFirstWrite(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	firstWrite := func(b *testing.B, addrs []string) {
		cl := benchClient(b, addrs, kgo.DefaultProduceTopic("first"), kgo.RequiredAcks(kgo.AllISRAcks()))
		defer cl.Close()
		resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 3, nil, "first")
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			b.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("minikraft-3node", func(b *testing.B) {
		for range b.N {
			c, err := minikraft.StartCluster(3, minikraft.Quiet(), benchDir(b))
			if err != nil {
				b.Fatal(err)
			}
			firstWrite(b, c.Addrs())
			b.StopTimer()
			c.Close()
			b.StartTimer()
		}
	})
	b.Run("kfake", func(b *testing.B) {
		for range b.N {
			c, err := kfake.NewCluster(kfake.NumBrokers(3))
			if err != nil {
				b.Fatal(err)
			}
			firstWrite(b, c.ListenAddrs())
			b.StopTimer()
			c.Close()
			b.StartTimer()
		}
	})
}
