package wire

import (
	"bytes"
	"context"
	"net"
	"testing"
)

// TestClientRequestReuse reads responses of several sizes through RequestReuse: each is intact,
// one that fits the kept buffer is read into it, a larger one replaces it with its size class's
// capacity, a response under a quarter of it keeps it (a follower's fetches alternate between
// data and bare high watermarks), and keptSmallLimit of those in a row let it go, so an idle
// fetcher does not keep its largest response.
func TestClientRequestReuse(t *testing.T) {
	mux := NewMux()
	mux.Handle(MetadataFetchKey, 0, 0, func(_ context.Context, r *Request) Future {
		req := r.Msg.(*MetadataFetchRequest)
		resp := req.ResponseKind().(*MetadataFetchResponse)
		resp.State = bytes.Repeat([]byte{byte(req.After % 251)}, int(req.After))
		return Done(resp, nil)
	})
	srv := NewServer(mux, ServerConfig{})
	defer srv.Close()
	a, b := net.Pipe()
	go srv.ServeConn(b, "CONTROLLER")
	c := NewClient(a, "test", 1<<20)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	get := func(size uint64) []byte {
		t.Helper()
		resp, err := c.RequestReuse(ctx, &MetadataFetchRequest{After: size})
		if err != nil {
			t.Fatal(err)
		}
		st := resp.(*MetadataFetchResponse).State
		if want := bytes.Repeat([]byte{byte(size % 251)}, int(size)); !bytes.Equal(st, want) {
			t.Fatalf("response of %d bytes: got %d bytes, not the expected ones", size, len(st))
		}
		return st
	}
	get(100 << 10)
	kept := c.resp
	if cap(kept) < 100<<10 {
		t.Fatalf("kept buffer of %d bytes after a 100 KiB response", cap(kept))
	}
	get(90 << 10) // fits: read into the kept buffer
	if &c.resp[0] != &kept[0] || cap(c.resp) != cap(kept) {
		t.Fatal("a response that fits did not reuse the kept buffer")
	}
	get(300 << 10) // larger: a new buffer of its class (up to 25% more), kept
	if n := cap(c.resp); n < 300<<10 || n > 375<<10 {
		t.Fatalf("kept buffer of %d bytes after a 300 KiB response", n)
	}
	kept = c.resp
	get(310 << 10) // a little larger: fits the class's room
	if &c.resp[0] != &kept[0] {
		t.Fatal("a response 3% larger did not fit the kept buffer's size class")
	}
	// Small responses keep the buffer until keptSmallLimit of them come in a row; a large one
	// between them starts the count again.
	for range keptSmallLimit - 1 {
		get(10 << 10)
	}
	get(200 << 10)
	for range keptSmallLimit - 1 {
		get(10 << 10)
	}
	if c.resp == nil || &c.resp[0] != &kept[0] {
		t.Fatal("the kept buffer was let go before keptSmallLimit small responses in a row")
	}
	get(10 << 10)
	if c.resp != nil {
		t.Fatalf("a %d-byte buffer kept after %d small responses in a row", cap(c.resp), keptSmallLimit)
	}
	get(50 << 10)
	get(0)
	// Plain Request never touches the kept buffer.
	kept = c.resp
	if _, err := c.Request(ctx, &MetadataFetchRequest{After: 40 << 10}); err != nil {
		t.Fatal(err)
	}
	if len(kept) > 0 && &c.resp[0] != &kept[0] {
		t.Fatal("Request replaced the kept buffer")
	}
}
