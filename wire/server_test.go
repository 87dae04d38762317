package wire

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestPipelinedResponsesInOrder(t *testing.T) {
	s := startServer(t, ServerConfig{})
	c := dial(t, s.addr)
	names := []string{"slow", "fast1", "fast2", "fast3"}
	var corrs []int32
	for _, n := range names {
		corrs = append(corrs, c.send(metadataReq(n), 9))
	}
	// The later handlers run while the first Future is still blocked: that is pipelining.
	waitFor(t, "all handlers called", func() bool { return len(s.th.seen()) == len(names) })
	if got := s.th.seen(); !slices.Equal(got, names) {
		t.Fatalf("handler order %v, want %v", got, names)
	}
	// Responses 2-4 are ready long before 1, yet must come after it.
	close(s.th.release)
	for i, n := range names {
		corr, resp := c.recv(3, 9)
		if corr != corrs[i] {
			t.Fatalf("response %d has correlation id %d, want %d", i, corr, corrs[i])
		}
		if got := topicsOf(t, resp); !slices.Equal(got, []string{n}) {
			t.Fatalf("response %d is for %v, want %s", i, got, n)
		}
	}
	if s.th.overlap.Load() {
		t.Fatal("two handler calls of one connection overlapped")
	}
}

func TestHandlersSerialUnderLoad(t *testing.T) {
	s := startServer(t, ServerConfig{})
	c := dial(t, s.addr)
	const n = 200
	var want []string
	var frames []byte
	for i := range n {
		name := "t" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		want = append(want, name)
		frames = append(frames, encodeRequest(metadataReq(name), 8, int32(i))...)
	}
	c.write(frames) // one write: the server reads far ahead of its responses
	for i := range n {
		corr, resp := c.recv(3, 8)
		if corr != int32(i) || topicsOf(t, resp)[0] != want[i] {
			t.Fatalf("response %d: corr %d topics %v", i, corr, topicsOf(t, resp))
		}
	}
	if got := s.th.seen(); !slices.Equal(got, want) {
		t.Fatalf("handler order differs from request order")
	}
	if s.th.overlap.Load() {
		t.Fatal("two handler calls of one connection overlapped")
	}
}

func TestMaxInFlightBoundsReadAhead(t *testing.T) {
	s := startServer(t, ServerConfig{MaxInFlight: 2})
	c := dial(t, s.addr)
	names := []string{"slow", "f1", "f2", "f3", "f4", "f5"}
	for _, n := range names {
		c.send(metadataReq(n), 9)
	}
	// The writer holds "slow", the queue holds f1 and f2, and the reader holds f3 waiting for room.
	waitFor(t, "read-ahead to fill", func() bool { return len(s.th.seen()) == 4 })
	consistently(t, 50*time.Millisecond, "read-ahead bound", func() bool { return len(s.th.seen()) == 4 })
	close(s.th.release)
	for i, n := range names {
		corr, resp := c.recv(3, 9)
		if corr != int32(i+1) || topicsOf(t, resp)[0] != n {
			t.Fatalf("response %d: corr %d topics %v", i, corr, topicsOf(t, resp))
		}
	}
}

func TestAcksZeroSendsNothing(t *testing.T) {
	s := startServer(t, ServerConfig{})
	c := dial(t, s.addr)
	p := kmsg.NewPtrProduceRequest()
	p.Acks = 0
	c.send(p, 7)
	p.Acks = 1
	acked := c.send(p, 7)
	md := c.send(metadataReq("after"), 8)
	if corr, _ := c.recv(0, 7); corr != acked {
		t.Fatalf("first response has correlation id %d, want %d (the acks=1 produce)", corr, acked)
	}
	if corr, _ := c.recv(3, 8); corr != md {
		t.Fatalf("second response has correlation id %d, want %d", corr, md)
	}
}

func TestResponseHeaders(t *testing.T) {
	s := startServer(t, ServerConfig{})
	c := dial(t, s.addr)
	for _, tc := range []struct {
		key, version int16
		req          kmsg.Request
		tagByte      bool
	}{
		{3, 8, metadataReq("x"), false},
		{3, 9, metadataReq("x"), true},
		{3, 12, metadataReq("x"), true},
		{18, 0, kmsg.NewPtrApiVersionsRequest(), false},
		{18, 3, kmsg.NewPtrApiVersionsRequest(), false}, // flexible body, but header v0 always
		{0, 8, &kmsg.ProduceRequest{Acks: 1}, false},
		{0, 9, &kmsg.ProduceRequest{Acks: -1}, true},
	} {
		// Version 3+ ApiVersions requests carry client software fields; fill them to be valid.
		if av, ok := tc.req.(*kmsg.ApiVersionsRequest); ok {
			av.ClientSoftwareName, av.ClientSoftwareVersion = "wire-test", "1"
		}
		corr := c.send(tc.req, tc.version)
		frame := c.mustReadFrame()
		if got := int32(binary.BigEndian.Uint32(frame)); got != corr {
			t.Fatalf("%s v%d: correlation id %d, want %d", kmsg.NameForKey(tc.key), tc.version, got, corr)
		}
		// Rebuild the expected body the way the handler did and compare the exact bytes.
		want := tc.req.ResponseKind()
		switch w := want.(type) {
		case *kmsg.MetadataResponse:
			w.ThrottleMillis = 0x01020304
			rt := kmsg.NewMetadataResponseTopic()
			rt.Topic = kmsg.StringPtr("x")
			w.Topics = append(w.Topics, rt)
		case *kmsg.ApiVersionsResponse:
			w.ApiKeys = s.mux.APIKeys()
		}
		body := want.AppendTo(nil)
		header := []byte{}
		if tc.tagByte {
			header = []byte{0}
		}
		if got := frame[4:]; !bytes.Equal(got, append(header, body...)) {
			t.Fatalf("%s v%d: response after correlation id is\n%x\nwant\n%x", kmsg.NameForKey(tc.key), tc.version, got, append(header, body...))
		}
		// And a kmsg decoder reading it with the right header rule agrees.
		resp := kmsg.ResponseForKey(tc.key)
		resp.SetVersion(tc.version)
		if err := resp.ReadFrom(frame[4+len(header):]); err != nil {
			t.Fatalf("%s v%d: kmsg decode: %v", kmsg.NameForKey(tc.key), tc.version, err)
		}
	}
}

func TestUnsupportedApiVersionsAnsweredAsV0(t *testing.T) {
	s := startServer(t, ServerConfig{})
	c := dial(t, s.addr)
	for _, v := range []int16{4, 5, 77} { // kmsg knows v4 and v5; 77 is from the future
		req := kmsg.NewPtrApiVersionsRequest()
		req.ClientSoftwareName, req.ClientSoftwareVersion = "wire-test", "1"
		corr := c.send(req, v)
		frame := c.mustReadFrame()
		if got := int32(binary.BigEndian.Uint32(frame)); got != corr {
			t.Fatalf("v%d: correlation id %d, want %d", v, got, corr)
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.SetVersion(0)
		if err := resp.ReadFrom(frame[4:]); err != nil {
			t.Fatalf("v%d: decoding as v0: %v", v, err)
		}
		if resp.ErrorCode != kerr.UnsupportedVersion.Code {
			t.Fatalf("v%d: error code %d, want UNSUPPORTED_VERSION", v, resp.ErrorCode)
		}
		if want := s.mux.APIKeys(); !slices.EqualFunc(resp.ApiKeys, want, sameAPIKey) {
			t.Fatalf("v%d: api keys %+v, want %+v", v, resp.ApiKeys, want)
		}
		if again := resp.AppendTo(nil); !bytes.Equal(again, frame[4:]) {
			t.Fatalf("v%d: response is not exactly a v0 body with a v0 header", v)
		}
	}
	// The connection stays usable: the client retries with a version we serve.
	req := kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName, req.ClientSoftwareVersion = "wire-test", "1"
	corr := c.send(req, 3)
	got, resp := c.recv(18, 3)
	if got != corr || resp.(*kmsg.ApiVersionsResponse).ErrorCode != 0 {
		t.Fatalf("retry: corr %d (want %d), resp %+v", got, corr, resp)
	}
}

func sameAPIKey(a, b kmsg.ApiVersionsResponseApiKey) bool {
	return a.ApiKey == b.ApiKey && a.MinVersion == b.MinVersion && a.MaxVersion == b.MaxVersion
}

func TestUnknownOrUnsupportedClosesConn(t *testing.T) {
	s := startServer(t, ServerConfig{})
	unknownToKmsg := []byte{0, 0, 0, 10, 0x03, 0xe7, 0, 0, 0, 0, 0, 1, 0xff, 0xff} // key 999
	for name, frame := range map[string][]byte{
		"key not served":     encodeRequest(kmsg.NewPtrCreateTopicsRequest(), 5, 1),
		"key unknown":        unknownToKmsg,
		"version too high":   encodeRequest(metadataReq("x"), 13, 1),
		"negative version":   encodeRequest(metadataReq("x"), -1, 1),
		"produce v12":        encodeRequest(kmsg.NewPtrProduceRequest(), 12, 1),
		"header only":        {0, 0, 0, 8, 0, 3, 0, 8, 0, 0, 0, 1},
		"short header":       {0, 0, 0, 3, 0, 3, 0},
		"empty frame":        {0, 0, 0, 0},
		"bad client id":      {0, 0, 0, 10, 0, 3, 0, 8, 0, 0, 0, 1, 0, 9},
		"bad header tags":    {0, 0, 0, 12, 0, 3, 0, 9, 0, 0, 0, 1, 0xff, 0xff, 5, 1},
		"negative frame":     {0xff, 0xff, 0xff, 0xff},
		"min negative frame": {0x80, 0, 0, 0},
	} {
		t.Run(name, func(t *testing.T) {
			c := dial(t, s.addr)
			c.write(frame)
			c.expectClosed()
		})
	}
	// The server still serves.
	c := dial(t, s.addr)
	corr := c.send(metadataReq("ok"), 9)
	if got, _ := c.recv(3, 9); got != corr {
		t.Fatalf("correlation id %d, want %d", got, corr)
	}
}

func TestTruncatedBodyClosesConn(t *testing.T) {
	s := startServer(t, ServerConfig{})

	// The frame claims more than is ever sent.
	c := dial(t, s.addr)
	c.write(append([]byte{0, 0, 0, 100}, make([]byte, 10)...))
	_ = c.nc.(*net.TCPConn).CloseWrite()
	c.expectClosed()

	// The frame is complete but the request inside it stops early.
	full := encodeRequest(metadataReq("some-topic", "another"), 9, 1)
	for _, cut := range []int{1, 5, 12, len(full) - 20} {
		b := slices.Clone(full[:len(full)-cut])
		binary.BigEndian.PutUint32(b, uint32(len(b)-4))
		c := dial(t, s.addr)
		c.write(b)
		c.expectClosed()
	}
}

func TestFrameSizeLimits(t *testing.T) {
	s := startServer(t, ServerConfig{MaxRequestBytes: 4096, MaxFirstRequestBytes: 1024})
	claim := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }

	// Before the first request the small cap applies: closed without sending any body.
	c := dial(t, s.addr)
	c.write(claim(2000))
	c.expectClosed()

	// After a first request the normal cap applies.
	c = dial(t, s.addr)
	corr := c.send(metadataReq("x"), 9)
	if got, _ := c.recv(3, 9); got != corr {
		t.Fatalf("correlation id %d, want %d", got, corr)
	}
	big := encodeRequest(metadataReq(strings.Repeat("x", 2000)), 9, 2) // over 1024, under 4096: fine now
	c.write(big)
	if _, resp := c.recv(3, 9); len(topicsOf(t, resp)[0]) != 2000 {
		t.Fatal("wrong response to a 2 KB request")
	}
	c.write(claim(4097))
	c.expectClosed()
}

// TestClaimedSizeNotAllocated sends a header claiming 100 MiB and a few bytes: the server must not
// allocate the claim, and must close the conn on EOF.
func TestClaimedSizeNotAllocated(t *testing.T) {
	s := startServer(t, ServerConfig{MaxFirstRequestBytes: DefaultMaxRequestBytes})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const conns = 4
	for range conns {
		c := dial(t, s.addr)
		c.write(append([]byte{0x06, 0x40, 0, 0}, "abcde"...)) // 100 MiB
		_ = c.nc.(*net.TCPConn).CloseWrite()
		c.expectClosed() // so the server has read everything it ever will
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > conns*1<<20 {
		t.Fatalf("allocated %d bytes for %d conns claiming 100 MiB each", grew, conns)
	}
}

func TestReadFrameGrowsWithData(t *testing.T) {
	// A 100 MiB claim with 5 bytes behind it costs one small buffer.
	src := append([]byte{0x06, 0x40, 0, 0}, "abcde"...)
	var ms runtime.MemStats
	allocated := func(f func()) uint64 {
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		f()
		runtime.ReadMemStats(&ms)
		return ms.TotalAlloc - before
	}
	n := allocated(func() {
		if _, err := readFrame(bytes.NewReader(src), DefaultMaxRequestBytes); !errors.Is(err, ErrTruncated) {
			t.Fatalf("err = %v, want ErrTruncated", err)
		}
	})
	if n > 2*firstChunk {
		t.Fatalf("readFrame allocated %d bytes for a 9-byte input", n)
	}
	if allocs := testing.AllocsPerRun(20, func() { _, _ = readFrame(bytes.NewReader(src), DefaultMaxRequestBytes) }); allocs > 12 {
		t.Fatalf("%v allocations per truncated read", allocs)
	}

	// A large frame that does arrive is read whole, across many doublings.
	payload := make([]byte, 3*firstChunk+17)
	for i := range payload {
		payload[i] = byte(i)
	}
	got, err := readFrame(bytes.NewReader(binary.BigEndian.AppendUint32(nil, uint32(len(payload)))), DefaultMaxRequestBytes)
	if !errors.Is(err, ErrTruncated) || got != nil {
		t.Fatalf("header only: %v", err)
	}
	got, err = readFrame(bytes.NewReader(append(binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload...)), DefaultMaxRequestBytes)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("large frame: err %v, equal %v", err, bytes.Equal(got, payload))
	}
	// Negative and oversized sizes fail before reading any body.
	for _, size := range []uint32{0xffffffff, 0x80000000, 1025} {
		if _, err := readFrame(bytes.NewReader(binary.BigEndian.AppendUint32(nil, size)), 1024); !errors.Is(err, ErrFrameSize) {
			t.Fatalf("size %#x: err %v, want ErrFrameSize", size, err)
		}
	}
}

func TestPanicsCloseOnlyThatConn(t *testing.T) {
	s := startServer(t, ServerConfig{})
	other := dial(t, s.addr)
	corr := other.send(metadataReq("before"), 9)
	if got, _ := other.recv(3, 9); got != corr {
		t.Fatalf("correlation id %d, want %d", got, corr)
	}
	for _, trigger := range []string{"boom", "futboom", "futerr"} {
		c := dial(t, s.addr)
		c.send(metadataReq(trigger), 9)
		c.expectClosed()

		corr := other.send(metadataReq("still-here"), 9)
		if got, _ := other.recv(3, 9); got != corr {
			t.Fatalf("after %s: correlation id %d, want %d", trigger, got, corr)
		}
	}
	// New connections are served too.
	c := dial(t, s.addr)
	corr = c.send(metadataReq("new"), 9)
	if got, _ := c.recv(3, 9); got != corr {
		t.Fatalf("correlation id %d, want %d", got, corr)
	}
}

func TestCloseEndsBlockedConnsWithoutLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	th := newTestHandlers()
	s := NewServer(newTestMux(th), ServerConfig{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln, "PLAINTEXT") }()

	var clients []*client
	for range 5 {
		c := dial(t, ln.Addr().String())
		c.send(metadataReq("block"), 9) // a Future that ends only with the connection
		c.send(metadataReq("queued"), 9)
		clients = append(clients, c)
	}
	// Also a conn served through ServeConn, over a pipe.
	a, b := net.Pipe()
	defer b.Close()
	pipeDone := make(chan struct{})
	go func() { defer close(pipeDone); s.ServeConn(a, "INTERNAL") }()
	waitFor(t, "all handlers called", func() bool { return len(th.seen()) == 10 })

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve returned %v after Close, want nil", err)
	}
	<-pipeDone
	for _, c := range clients {
		c.expectClosed()
	}
	if err := s.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	// After Close, ServeConn refuses at once, closing the conn.
	x, y := net.Pipe()
	s.ServeConn(x, "LATE")
	_ = y.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := y.Read(make([]byte, 1)); err == nil {
		t.Fatal("late ServeConn left the conn open")
	}
	for _, c := range clients {
		_ = c.nc.Close()
	}
	waitFor(t, "goroutines to drain", func() bool { return runtime.NumGoroutine() <= before })
	waitForNoWireGoroutines(t)
}

func TestServeReturnsListenerError(t *testing.T) {
	s := NewServer(NewMux(), ServerConfig{})
	defer s.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln, "PLAINTEXT") }()
	// Closing the listener behind the server's back is an error, not a Close.
	waitFor(t, "listener registered", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.listeners) == 1
	})
	_ = ln.Close()
	if err := <-served; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve returned %v, want net.ErrClosed", err)
	}
}

func TestConnInfoAndContext(t *testing.T) {
	m := NewMux()
	got := make(chan *Request, 1)
	canceled := make(chan struct{})
	m.Handle(3, 0, 12, func(ctx context.Context, r *Request) Future {
		got <- r
		go func() { <-ctx.Done(); close(canceled) }()
		return Done(r.Msg.ResponseKind(), nil)
	})
	s := NewServer(m, ServerConfig{})
	defer s.Close()
	a, b := net.Pipe()
	done := make(chan struct{})
	go func() { defer close(done); s.ServeConn(a, "EXTERNAL") }()
	c := &client{t: t, nc: b, br: bufio.NewReader(b)}
	_ = b.SetDeadline(time.Now().Add(testTimeout))
	corr := c.send(metadataReq("x"), 9)
	if g, _ := c.recv(3, 9); g != corr {
		t.Fatalf("correlation id %d, want %d", g, corr)
	}
	r := <-got
	if r.Conn == nil || r.Conn.Listener != "EXTERNAL" || r.Conn.RemoteAddr == nil || r.Conn.LocalAddr == nil {
		t.Fatalf("ConnInfo %+v", r.Conn)
	}
	if r.ClientID == nil || *r.ClientID != "wire-test" || r.CorrelationID != corr || r.Key != 3 || r.Version != 9 {
		t.Fatalf("request header %+v", r)
	}
	_ = b.Close()
	<-done
	<-canceled // the handler's context ends with its connection
}

// A response must not wait in the write buffer behind a later request's blocked Future.
func TestResponseNotHeldBehindBlockedFuture(t *testing.T) {
	s := startServer(t, ServerConfig{})
	c := dial(t, s.addr)
	// "gate" resolves only once "marker" was handled, so when its response is written "slow" is
	// certainly queued behind it, and the writer is about to block on slow's Future.
	names := []string{"gate", "slow", "marker"}
	for _, n := range names {
		c.send(metadataReq(n), 9)
	}
	if corr, resp := c.recv(3, 9); corr != 1 || topicsOf(t, resp)[0] != "gate" {
		t.Fatalf("first response: corr %d topics %v", corr, topicsOf(t, resp))
	}
	close(s.th.release)
	for i, n := range names[1:] {
		corr, resp := c.recv(3, 9)
		if corr != int32(i+2) || topicsOf(t, resp)[0] != n {
			t.Fatalf("response %d: corr %d topics %v", i+1, corr, topicsOf(t, resp))
		}
	}
}

// TestDoneFuturesKnown: the reader tells a Future made by Done, wherever it was made, from one
// that may block, which it leaves to the writer.
func TestDoneFuturesKnown(t *testing.T) {
	made := []Future{Done(nil, nil), Done(kmsg.NewPtrMetadataResponse(), nil), doneElsewhere()}
	for i, f := range made {
		if !isDone(f) {
			t.Fatalf("Future %d made by Done not known as done", i)
		}
	}
	block := make(chan struct{})
	for i, f := range []Future{nil, func() (kmsg.Response, error) { <-block; return nil, nil }} {
		if isDone(f) {
			t.Fatalf("Future %d taken for done", i)
		}
	}
}

func doneElsewhere() Future { return Done(kmsg.NewPtrApiVersionsResponse(), errors.New("x")) }
