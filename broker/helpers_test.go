package broker_test

import (
	"context"
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft"
	"github.com/minikraft/minikraft/wire"
)

// rawClient is a Kafka connection to node i of c, closed with the test.
func rawClient(t *testing.T, c *minikraft.Cluster, i int) *wire.Client {
	t.Helper()
	conn, err := net.Dial("tcp", c.Addrs()[i])
	if err != nil {
		t.Fatal(err)
	}
	cl := wire.NewClient(conn, "test", 16<<20)
	t.Cleanup(func() { cl.Close() })
	return cl
}

// request sends req on cl and returns its response, failing the test on a transport error.
func request[Resp kmsg.Response](ctx context.Context, t *testing.T, cl *wire.Client, req kmsg.Request) Resp {
	t.Helper()
	resp, err := cl.Request(ctx, req)
	if err != nil {
		t.Fatalf("%T: %v", req, err)
	}
	return resp.(Resp)
}
