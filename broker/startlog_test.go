package broker_test

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"

	"github.com/minikraft/minikraft"
)

// syncBuffer is a bytes.Buffer safe for the nodes' goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestSingleNodeStartsWithoutWarnings: a healthy one-node cluster starts, elects itself and
// serves without a line at WARN or above. hashicorp/raft's "heartbeat timeout reached, starting
// election" used to be a WARN on every start.
func TestSingleNodeStartsWithoutWarnings(t *testing.T) {
	var out syncBuffer
	l := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c := minikraft.NewCluster(t, 1, minikraft.WithLogger(l))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); s != "" {
		t.Errorf("a normal start and stop logged:\n%s", s)
	}
}
