package wire

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const testTimeout = 20 * time.Second // generous: the race detector on a loaded 2-core machine is slow

// waitFor polls cond until it holds, failing the test after testTimeout.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for delay := time.Millisecond; !cond(); delay = min(2*delay, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(delay)
	}
}

// consistently polls cond for d and fails the test if it ever stops holding.
func consistently(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !cond() {
			t.Fatalf("%s stopped holding", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// wireGoroutines counts live goroutines running this package's connection or server code.
func wireGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "wire.(*conn)") || strings.Contains(g, "wire.(*Server)") {
			count++
		}
	}
	return count
}

// waitForNoWireGoroutines fails the test if goroutines of this package outlive testTimeout.
func waitForNoWireGoroutines(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for wireGoroutines() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("wire goroutines left after Close:\n%s", stacks())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func stacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// testHandlers records what the handlers saw; Metadata requests act on their first topic's name.
type testHandlers struct {
	mu      sync.Mutex
	topics  []string // first topic of each Metadata request, in handler call order
	release chan struct{}
	marker  chan struct{} // closed when a "marker" request is handled
	active  atomic.Int32
	overlap atomic.Bool // set if two handler calls of one server ever ran at once
}

func (th *testHandlers) seen() []string {
	th.mu.Lock()
	defer th.mu.Unlock()
	return append([]string(nil), th.topics...)
}

// metadata serves Metadata. By first topic name: "slow" waits for release (or the conn's end),
// "gate" waits until a "marker" request has been handled (so the requests between them are queued),
// "block" waits for the conn's end, "boom" panics, "futboom" panics in the Future, "futerr" fails
// the Future; anything else is answered at once. Responses echo the topic names.
func (th *testHandlers) metadata(ctx context.Context, r *Request) Future {
	if th.active.Add(1) > 1 {
		th.overlap.Store(true)
	}
	defer th.active.Add(-1)
	runtime.Gosched() // widen the window in which an overlapping call would be seen

	req := r.Msg.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	resp.ThrottleMillis = 0x01020304
	var first string
	for i, t := range req.Topics {
		if t.Topic == nil {
			continue
		}
		if i == 0 {
			first = *t.Topic
		}
		rt := kmsg.NewMetadataResponseTopic()
		rt.Topic = kmsg.StringPtr(*t.Topic)
		resp.Topics = append(resp.Topics, rt)
	}
	th.mu.Lock()
	th.topics = append(th.topics, first)
	th.mu.Unlock()

	switch first {
	case "marker":
		close(th.marker)
	case "gate":
		return func() (kmsg.Response, error) {
			select {
			case <-th.marker:
				return resp, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	case "slow":
		return func() (kmsg.Response, error) {
			select {
			case <-th.release:
				return resp, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	case "block":
		return func() (kmsg.Response, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}
	case "boom":
		panic("boom")
	case "futboom":
		return func() (kmsg.Response, error) { panic("futboom") }
	case "futerr":
		return Done(nil, errors.New("futerr"))
	}
	return Done(resp, nil)
}

// newTestMux serves ApiVersions v0-v3, Metadata v0-v12 and Produce v0-v11 (acks=0 answers nothing).
func newTestMux(th *testHandlers) *Mux {
	m := NewMux()
	m.Handle(18, 0, 3, func(_ context.Context, r *Request) Future {
		resp := r.Msg.ResponseKind().(*kmsg.ApiVersionsResponse)
		resp.ApiKeys = m.APIKeys()
		return Done(resp, nil)
	})
	m.Handle(3, 0, 12, th.metadata)
	m.Handle(0, 0, 11, func(_ context.Context, r *Request) Future {
		req := r.Msg.(*kmsg.ProduceRequest)
		if req.Acks == 0 {
			return Done(nil, nil)
		}
		return Done(req.ResponseKind(), nil)
	})
	return m
}

func newTestHandlers() *testHandlers {
	return &testHandlers{release: make(chan struct{}), marker: make(chan struct{})}
}

type testServer struct {
	*Server
	th   *testHandlers
	mux  *Mux
	addr string
}

// startServer serves a test mux on a loopback listener. Cleanup closes it, checks that Serve
// returned nil and that no connection goroutine outlives Close.
func startServer(t *testing.T, cfg ServerConfig) *testServer {
	t.Helper()
	th := newTestHandlers()
	mux := newTestMux(th)
	if os.Getenv("WIRE_TEST_LOG") != "" {
		cfg.Logger = testLogger(t)
	}
	s := NewServer(mux, cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln, "PLAINTEXT") }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve returned %v after Close, want nil", err)
			}
		case <-time.After(testTimeout):
			t.Errorf("Serve did not return after Close")
		}
		// Close returns once every connection is done; their goroutines may still be unwinding.
		waitForNoWireGoroutines(t)
	})
	return &testServer{Server: s, th: th, mux: mux, addr: ln.Addr().String()}
}

type client struct {
	t    testing.TB
	nc   net.Conn
	br   *bufio.Reader
	corr int32
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(testTimeout))
	return &client{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// encodeRequest returns a complete request frame (size prefix included).
func encodeRequest(req kmsg.Request, version int16, corr int32) []byte {
	req.SetVersion(version)
	if req.Key() == 7 && version == 0 {
		// kmsg's formatter writes only the header for ControlledShutdown v0 (header v0), not the body.
		b := []byte{0, 0, 0, 0, 0, 7, 0, 0}
		b = binary.BigEndian.AppendUint32(b, uint32(corr))
		b = req.AppendTo(b)
		binary.BigEndian.PutUint32(b, uint32(len(b)-4))
		return b
	}
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID("wire-test")).AppendRequest(nil, req, corr)
}

func (c *client) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// send writes req at version and returns its correlation id.
func (c *client) send(req kmsg.Request, version int16) int32 {
	c.t.Helper()
	c.corr++
	c.write(encodeRequest(req, version, c.corr))
	return c.corr
}

func (c *client) readFrame() ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	_, err := io.ReadFull(c.br, b)
	return b, err
}

func (c *client) mustReadFrame() []byte {
	c.t.Helper()
	b, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("reading response: %v", err)
	}
	return b
}

// recv reads one response to a request of key/version and decodes it, checking the header form.
func (c *client) recv(key, version int16) (int32, kmsg.Response) {
	c.t.Helper()
	b := c.mustReadFrame()
	corr := int32(binary.BigEndian.Uint32(b))
	resp := kmsg.ResponseForKey(key)
	resp.SetVersion(version)
	body := b[4:]
	if resp.IsFlexible() && key != 18 {
		if body[0] != 0 {
			c.t.Fatalf("flexible response header: tag count %d, want 0", body[0])
		}
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		c.t.Fatalf("decoding %s v%d response: %v", kmsg.NameForKey(key), version, err)
	}
	return corr, resp
}

// expectClosed checks that the server closes the connection: a read ends with EOF or a reset,
// not with our deadline.
func (c *client) expectClosed() {
	c.t.Helper()
	b, err := c.readFrame()
	if err == nil {
		c.t.Fatalf("read a %d-byte frame, want the connection closed", len(b))
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("connection still open: %v", err)
	}
}

func metadataReq(topics ...string) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	for _, name := range topics {
		t := kmsg.NewMetadataRequestTopic()
		t.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, t)
	}
	return req
}

func topicsOf(t testing.TB, resp kmsg.Response) []string {
	t.Helper()
	m, ok := resp.(*kmsg.MetadataResponse)
	if !ok {
		t.Fatalf("response is %T, want Metadata", resp)
	}
	var names []string
	for _, tp := range m.Topics {
		names = append(names, *tp.Topic)
	}
	return names
}
