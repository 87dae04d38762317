package txncheck

import (
	"context"
	"math/rand/v2"
	"time"
)

// Fault is one kind of failure the nemesis injects into one node.
type Fault struct {
	Name string
	// Inject breaks node and returns how to repair it. An error means nothing was broken.
	Inject func(node int) (repair func() error, err error)
}

// Nemesis injects faults until ctx ends: it waits a random 0.5-2 s, breaks a random node with a
// random fault, keeps it broken for a random 1-4 s, repairs it, and starts over, so at most one
// node is down at any moment. It returns how many faults of each kind it injected, and the
// errors it met (a repair that failed is retried, up to 20 times).
func Nemesis(ctx context.Context, nodes int, faults []Fault, logf func(string, ...any)) map[string]int {
	counts := map[string]int{}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	sleep := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	for sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond) {
		f, n := faults[rng.IntN(len(faults))], rng.IntN(nodes)
		repair, err := f.Inject(n)
		if err != nil {
			logf("nemesis: %s node %d: %v", f.Name, n, err)
			continue
		}
		counts[f.Name]++
		logf("nemesis: %s node %d", f.Name, n)
		sleep(time.Duration(1000+rng.IntN(3000)) * time.Millisecond)
		// The repair runs even after ctx ends: the cluster must be whole for the final reads.
		for i := 0; ; i++ {
			if err := repair(); err == nil {
				break
			} else if i == 20 {
				logf("nemesis: repairing %s of node %d: %v (giving up)", f.Name, n, err)
				break
			} else {
				logf("nemesis: repairing %s of node %d: %v", f.Name, n, err)
			}
			time.Sleep(500 * time.Millisecond)
		}
		logf("nemesis: repaired %s node %d", f.Name, n)
	}
	return counts
}
