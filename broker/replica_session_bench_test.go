package broker_test

import (
	"context"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft"
	"github.com/minikraft/minikraft/wire"
)

// BenchmarkIdleReplication measures what following idle partitions costs: a 3-node in-process
// cluster, one topic of 1,000 RF 3 partitions all led by node 0 (so one leader serves both
// followers), nothing produced. After the followers have fetched every partition, it counts for
// idleWindow the follower Fetch requests node 0 serves, their bytes and their answers' bytes
// (encoded again by the benchmark, records aside: there are none), and the process's CPU time
// (the three nodes together; node 0 does the reading of all 1,000 partitions per fetch). The
// "full-fetches" case sets max.incremental.fetch.session.cache.slots=0, so every follower fetch
// is a full one, as before followers used sessions.
//
//	go test -run '^$' -bench IdleReplication -benchtime 1x ./broker/
func BenchmarkIdleReplication(b *testing.B) {
	const (
		partitions = 1000
		idleWindow = 10 * time.Second
	)
	for _, c := range []struct{ name, slots string }{{"full-fetches", "0"}, {"sessions", "1000"}} {
		b.Run(c.name, func(b *testing.B) {
			cl := minikraft.NewCluster(b, 3, minikraft.Quiet(),
				minikraft.WithConfig("max.incremental.fetch.session.cache.slots", c.slots))
			var fetches, full, reqBytes, respBytes atomic.Int64
			var counting atomic.Bool
			remove := cl.Node(0).Mux().Intercept(1, 0, func(ctx context.Context, r *wire.Request, next wire.HandlerFunc) wire.Future {
				req := r.Msg.(*kmsg.FetchRequest)
				if req.ReplicaID < 0 || !counting.Load() {
					return next(ctx, r)
				}
				fetches.Add(1)
				if req.SessionEpoch <= 0 {
					full.Add(1)
				}
				reqBytes.Add(int64(len(req.AppendTo(nil))))
				fut := next(ctx, r)
				return func() (kmsg.Response, error) {
					resp, err := fut()
					if fr, ok := resp.(*wire.FetchResponse); ok {
						respBytes.Add(int64(len(fr.AppendTo(nil))))
					}
					return resp, err
				}
			})
			defer remove()

			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			kcl, err := kgo.NewClient(kgo.SeedBrokers(cl.Addrs()...))
			if err != nil {
				b.Fatal(err)
			}
			defer kcl.Close()
			req := kmsg.NewPtrCreateTopicsRequest()
			req.TimeoutMillis = 60_000
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "idle", -1, -1
			for p := range int32(partitions) {
				ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
				ra.Partition, ra.Replicas = p, []int32{0, 1, 2}
				rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
			}
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctx, kcl)
			if err != nil || resp.Topics[0].ErrorCode != 0 {
				b.Fatalf("create topic: %v, %+v", err, resp)
			}
			if err := cl.WaitForLeaders(ctx, "idle"); err != nil {
				b.Fatal(err)
			}
			// Settle: both followers fetch all partitions (a few rounds of their long poll).
			time.Sleep(5 * time.Second)

			b.ResetTimer()
			cpu0 := cpuTime()
			counting.Store(true)
			start := time.Now()
			time.Sleep(idleWindow)
			counting.Store(false)
			secs := time.Since(start).Seconds()
			cpu := (cpuTime() - cpu0).Seconds()
			b.StopTimer()
			n := float64(fetches.Load())
			b.ReportMetric(n/secs, "fetches/s")
			b.ReportMetric(float64(full.Load())/secs, "full-fetches/s")
			b.ReportMetric(float64(reqBytes.Load())/secs, "req-B/s")
			b.ReportMetric(float64(respBytes.Load())/secs, "resp-B/s")
			b.ReportMetric(cpu*1000/secs, "cpu-ms/s")
			if n > 0 {
				b.ReportMetric(cpu*1000/n, "cpu-ms/fetch")
			}
			b.ReportMetric(leaderFetchCost(ctx, b, cl, partitions, c.slots != "0"), "µs/rawfetch")
		})
	}
}

// leaderFetchCost times back-to-back follower fetches of all the idle partitions from node 0
// (MaxWait 0, so only the reads, the session's work and the coding are counted; node 1's replica
// id, at its real fetch offset 0, so nothing changes): full sessionless fetches, or, with
// sessions, empty incremental fetches in a session the first fetch creates. It returns the
// process CPU per fetch in µs, the client's coding included (a follower pays it too).
func leaderFetchCost(ctx context.Context, b *testing.B, cl *minikraft.Cluster, partitions int, sessions bool) float64 {
	conn, err := net.Dial("tcp", cl.Addrs()[0])
	if err != nil {
		b.Fatal(err)
	}
	raw := wire.NewClient(conn, "bench", 64<<20)
	defer raw.Close()
	const rounds = 200
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxBytes = 12, 1, 10<<20
	req.SessionEpoch = -1
	if sessions {
		req.SessionEpoch = 0
	}
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "idle"
	for p := range int32(partitions) {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes = p, 1<<20
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	var cpu time.Duration
	for i := range rounds + 1 {
		if i == 1 {
			cpu = cpuTime() // the first, full, fetch of a session is not counted
		}
		resp, err := raw.Request(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		fr := resp.(*kmsg.FetchResponse)
		if fr.ErrorCode != 0 {
			b.Fatalf("fetch: error %d", fr.ErrorCode)
		}
		if sessions {
			if fr.SessionID == 0 {
				b.Fatal("no fetch session")
			}
			req.SessionID, req.SessionEpoch, req.Topics = fr.SessionID, int32(i+1), nil
		}
	}
	return float64((cpuTime() - cpu).Microseconds()) / rounds
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
