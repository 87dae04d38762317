package minikraft_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/minikraft/minikraft"
)

// TestClusterCloseLeavesNoGoroutines: a fixture cluster that served produce, fetch and a
// consumer group leaves no goroutine behind once closed, so tests that check for leaks (goleak)
// can embed it.
func TestClusterCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	c, err := minikraft.StartCluster(3)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic("leak"), kgo.AllowAutoTopicCreation(),
		kgo.ConsumeTopics("leak"), kgo.ConsumerGroup("leak-group"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for n := 0; n < 1; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal(fs.Errors())
		}
		n += fs.NumRecords()
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			stacks := string(buf[:runtime.Stack(buf, true)])
			var left []string
			for _, g := range strings.Split(stacks, "\n\n") {
				if !strings.Contains(g, "TestClusterCloseLeavesNoGoroutines") && !strings.Contains(g, "testing.") {
					left = append(left, g)
				}
			}
			t.Fatalf("%d goroutines before, %d after Close:\n%s", before, runtime.NumGoroutine(), strings.Join(left, "\n\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
