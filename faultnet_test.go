package minikraft

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// The fault net's cuts on raw connections between two pretend nodes, 0 and 1, each a listener
// whose accepted connections are handed to the test.

type fakeNode struct {
	ln       net.Listener
	accepted chan net.Conn
}

func newFakeNode(t *testing.T, n *faultNet, id int32) *fakeNode {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f := &fakeNode{ln: ln, accepted: make(chan net.Conn, 4)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			f.accepted <- c
		}
	}()
	n.addNode(id, ln.Addr().String())
	return f
}

// link dials from node `from` to node to and returns both ends: the dialler's and the
// listener's.
func dialLink(t *testing.T, n *faultNet, from int32, to *fakeNode) (dialer, listener net.Conn, err error) {
	t.Helper()
	c, err := n.dialer(from)(context.Background(), "tcp", to.ln.Addr().String())
	if err != nil {
		return nil, nil, err
	}
	t.Cleanup(func() { c.Close() })
	return c, <-to.accepted, nil
}

// delivered writes a byte on w and reports whether r reads it within a short while.
func delivered(t *testing.T, w, r net.Conn) bool {
	t.Helper()
	if _, err := w.Write([]byte{'x'}); err != nil {
		return false
	}
	r.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	defer r.SetReadDeadline(time.Time{})
	var b [1]byte
	_, err := io.ReadFull(r, b[:])
	return err == nil
}

// TestFaultNetOneWay: a one-way cut 0→1 loses what 0 sends to 1 on connections dialled either
// way, delivers what 1 sends to 0, and closes the connections that lost bytes when healed.
func TestFaultNetOneWay(t *testing.T) {
	n := newFaultNet()
	nodes := []*fakeNode{newFakeNode(t, n, 0), newFakeNode(t, n, 1)}
	d01, l01, err := dialLink(t, n, 0, nodes[1]) // 0 dialled 1: 0 writes on d01
	if err != nil {
		t.Fatal(err)
	}
	d10, l10, err := dialLink(t, n, 1, nodes[0]) // 1 dialled 0: 0 writes on l10
	if err != nil {
		t.Fatal(err)
	}
	n.cut([]int32{0}, []int32{1}, false)
	if delivered(t, d01, l01) {
		t.Error("0's write on its own connection reached 1")
	}
	if delivered(t, l10, d10) {
		t.Error("0's answer on 1's connection reached 1")
	}
	if !delivered(t, l01, d01) || !delivered(t, d10, l10) {
		t.Error("1's bytes to 0 were lost: the cut is one way")
	}
	// New connections are made, and lose 0's bytes too.
	d01b, l01b, err := dialLink(t, n, 0, nodes[1])
	if err != nil {
		t.Fatalf("dial across a one-way cut: %v", err)
	}
	if delivered(t, d01b, l01b) {
		t.Error("0's write on a new connection reached 1")
	}
	n.healAll()
	// The connections that lost bytes are closed; new ones carry both ways.
	if _, err := d01.Write([]byte{'y'}); err == nil {
		var b [1]byte
		l01.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := l01.Read(b[:]); err == nil {
			t.Error("a connection that lost bytes carried on after the heal")
		}
	}
	d, l, err := dialLink(t, n, 0, nodes[1])
	if err != nil {
		t.Fatal(err)
	}
	if !delivered(t, d, l) || !delivered(t, l, d) {
		t.Error("a new connection after the heal does not carry both ways")
	}
}

// TestFaultNetTwoWay: a two-way cut refuses dials and closes open connections; Heal of either
// node ends it.
func TestFaultNetTwoWay(t *testing.T) {
	n := newFaultNet()
	nodes := []*fakeNode{newFakeNode(t, n, 0), newFakeNode(t, n, 1), newFakeNode(t, n, 2)}
	d, _, err := dialLink(t, n, 0, nodes[1])
	if err != nil {
		t.Fatal(err)
	}
	n.cut([]int32{0}, []int32{1}, true)
	if _, err := d.Write([]byte{'x'}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write on a connection across a two-way cut: %v, want it closed", err)
	}
	if _, _, err := dialLink(t, n, 1, nodes[0]); !errors.Is(err, errIsolated) {
		t.Errorf("dial across a two-way cut: %v", err)
	}
	if _, _, err := dialLink(t, n, 0, nodes[2]); err != nil {
		t.Errorf("dial to a node outside the cut: %v", err)
	}
	n.heal(1)
	if _, _, err := dialLink(t, n, 0, nodes[1]); err != nil {
		t.Errorf("dial after Heal: %v", err)
	}
}
