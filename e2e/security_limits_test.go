package e2e

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// TestSecureAuthLimits: a node's sasl.server.max.receive.size and connections.max.idle.ms reach
// its SASL listener. Before authentication a size prefix above the configured 2048 bytes closes
// the connection at once, without the body being sent (the default 512 KiB would wait for it);
// a client that stalls the handshake is dropped after connections.max.idle.ms (3 s), not before.
func TestSecureAuthLimits(t *testing.T) {
	e := newSecureEnv(t)
	_, ps := startSecureCluster(t, e, 1, "--config", "sasl.server.max.receive.size=2048", "--config", "connections.max.idle.ms=3000")
	addr := fmt.Sprintf("127.0.0.1:%d", ps[0].saslPlain)

	closedWithin := func(c net.Conn, d time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		c.SetReadDeadline(start.Add(d))
		_, err := io.ReadAll(c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("connection still open after %v", d)
		}
		return time.Since(start)
	}

	big, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	big.Write(binary.BigEndian.AppendUint32(nil, 2049))
	if took := closedWithin(big, 2*time.Second); took > time.Second {
		t.Fatalf("oversized frame: closed after %v, want at once", took)
	}

	stalled, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	stalled.Write([]byte{0, 0}) // half a size prefix, then nothing
	took := closedWithin(stalled, 10*time.Second)
	if took < 2*time.Second {
		t.Fatalf("stalled handshake dropped after %v, before connections.max.idle.ms (3s)", took)
	}
	t.Logf("stalled handshake dropped after %v (connections.max.idle.ms=3000)", took.Round(100*time.Millisecond))
}
