package periodic

import (
	"context"
	"time"
)

// Every calls f every interval until ctx is done. The first call is one interval after the
// start, and a call that overruns the interval delays the next rather than queueing more (a
// time.Ticker drops ticks).
func Every(ctx context.Context, interval time.Duration, f func()) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
		f()
	}
}
