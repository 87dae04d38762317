package wire

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// recordingObserver keeps what a Server reported.
type recordingObserver struct {
	mu   sync.Mutex
	seen []observed
}

type observed struct {
	key, version int16
	elapsed      time.Duration
}

func (o *recordingObserver) RequestDone(key, version int16, elapsed time.Duration) {
	o.mu.Lock()
	o.seen = append(o.seen, observed{key, version, elapsed})
	o.mu.Unlock()
}

func (o *recordingObserver) get() []observed {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]observed(nil), o.seen...)
}

// TestObserver: every answered request is reported once, with its key and version, before its
// response reaches the client; an acks=0 Produce (answered with nothing) is reported too, and
// Connections counts the open connections by listener.
func TestObserver(t *testing.T) {
	obs := &recordingObserver{}
	s := startServer(t, ServerConfig{Observer: obs})
	c := dial(t, s.addr)
	c.send(metadataReq("a"), 9)
	c.recv(3, 9)
	if got := obs.get(); len(got) != 1 || got[0].key != 3 || got[0].version != 9 || got[0].elapsed < 0 || got[0].elapsed > testTimeout {
		t.Fatalf("after one Metadata: %+v", got)
	}
	p := kmsg.NewPtrProduceRequest()
	p.Acks = 0
	c.send(p, 7)
	c.send(metadataReq(), 12) // after the acks=0 Produce: its answer proves the Produce was handled
	c.recv(3, 12)
	got := obs.get()
	if len(got) != 3 || got[1].key != 0 || got[1].version != 7 || got[2].key != 3 || got[2].version != 12 {
		t.Fatalf("after Produce acks=0 and Metadata: %+v", got)
	}
	dial(t, s.addr)
	waitFor(t, "two connections counted", func() bool { return s.Connections()["PLAINTEXT"] == 2 })
}

// BenchmarkServeProduceObserved is BenchmarkServeProduce with an Observer, as the broker runs.
func BenchmarkServeProduceObserved(b *testing.B) {
	benchServeProduceWith(b, false, &countingObserver{})
}

// BenchmarkServeSmallProduce is a round trip of a Produce of one partition of 100 bytes, where
// the per-request work (and so an Observer's share of it) weighs most; ...Observed adds one.
func BenchmarkServeSmallProduce(b *testing.B)         { benchSmallProduce(b, nil) }
func BenchmarkServeSmallProduceObserved(b *testing.B) { benchSmallProduce(b, &countingObserver{}) }

func benchSmallProduce(b *testing.B, obs RequestObserver) {
	mux := NewMux()
	mux.Handle(0, 3, 11, func(_ context.Context, r *Request) Future {
		return Done(r.Msg.(*kmsg.ProduceRequest).ResponseKind(), nil)
	})
	frame := encodeRequest(produceReq(1, 100), 9, 1)
	benchRoundTrips(b, benchConnWith(b, mux, obs), frame, len(frame))
}

type countingObserver struct{ n [128]int64 }

func (o *countingObserver) RequestDone(key, _ int16, _ time.Duration) { o.n[key&127]++ }
