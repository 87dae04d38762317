package raftmeta

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

func newTestMux(t testing.TB) (*Mux, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := NewMux(ln, "c1", nil)
	served := make(chan error, 1)
	go func() { served <- m.Serve() }()
	t.Cleanup(func() {
		m.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return m, ln.Addr().String()
}

type accepted struct {
	c   net.Conn
	err error
}

func acceptAsync(l net.Listener) <-chan accepted {
	ch := make(chan accepted, 1)
	go func() {
		c, err := l.Accept()
		ch <- accepted{c, err}
	}()
	return ch
}

func TestMuxRoutesByTag(t *testing.T) {
	m, addr := newTestMux(t)
	raftLn, ctlLn := m.Listener(TagRaft), m.Listener(TagControl)
	if m.Listener(TagRaft) != raftLn {
		t.Fatal("a second Listener call for an open tag returned another listener")
	}
	if raftLn.Addr().String() != addr {
		t.Fatalf("Addr = %v, want %s", raftLn.Addr(), addr)
	}
	for _, tc := range []struct {
		tag byte
		ln  net.Listener
	}{{TagControl, ctlLn}, {TagRaft, raftLn}} {
		got := acceptAsync(tc.ln)
		c, err := dialTest(addr, tc.tag)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		a := <-got
		if a.err != nil {
			t.Fatal(a.err)
		}
		buf := make([]byte, 5)
		if _, err := io.ReadFull(a.c, buf); err != nil || string(buf) != "hello" {
			t.Fatalf("tag %q: read %q, %v (the tag byte must be consumed, nothing else)", tc.tag, buf, err)
		}
		a.c.Close()
		c.Close()
	}
}

func TestMuxUnknownTagClosed(t *testing.T) {
	m, addr := newTestMux(t)
	m.Listener(TagRaft)
	c, err := dialTest(addr, 'X')
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("read on an unknown-tag conn: %v, want EOF", err)
	}
}

func TestMuxListenerCloseAndReopen(t *testing.T) {
	m, addr := newTestMux(t)
	l := m.Listener(TagRaft)
	got := acceptAsync(l)
	l.Close()
	if a := <-got; !errors.Is(a.err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", a.err)
	}
	// A conn for a closed tag listener is dropped.
	c, err := dialTest(addr, TagRaft)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("read: %v, want EOF", err)
	}
	c.Close()
	// A restarted node asks again and gets a working listener.
	l2 := m.Listener(TagRaft)
	if l2 == l {
		t.Fatal("got the closed listener back")
	}
	got = acceptAsync(l2)
	c, err = dialTest(addr, TagRaft)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if a := <-got; a.err != nil {
		t.Fatal(a.err)
	} else {
		a.c.Close()
	}
}

func TestMuxClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := NewMux(ln, "c1", nil)
	l := m.Listener(TagControl)
	served := make(chan error, 1)
	go func() { served <- m.Serve() }()
	// A conn that never sends its tag must not hold Close up.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := acceptAsync(l)
	waitFor(t, 10*time.Second, "the mux to see the conn", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.pending) == 1
	})
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after Close = %v", err)
	}
	if a := <-got; !errors.Is(a.err, net.ErrClosed) {
		t.Fatalf("Accept after mux Close: %v", a.err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := m.Listener(TagRaft).Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Listener after Close: %v", err)
	}
}

func dialTest(addr string, tag byte) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return DialTag(ctx, nil, addr, tag, "c1")
}

func TestMuxRefusesOtherCluster(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := NewMux(ln, "cluster-a", nil)
	m.Listener(TagRaft)
	go m.Serve()
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = DialTag(ctx, nil, ln.Addr().String(), TagRaft, "cluster-b")
	var mm *ClusterIDMismatchError
	if !errors.As(err, &mm) || mm.Theirs != "cluster-a" || !errors.Is(err, ErrClusterIDMismatch) {
		t.Fatalf("dial from another cluster: %v", err)
	}
}
