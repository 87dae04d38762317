package broker

import (
	"context"
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/group"
	"github.com/minikraft/minikraft/wire"
)

// groupAPI adapts a group coordinator method to a handler. The call runs in the response future,
// not in the handler: futures of one connection run in request order, so a client's commit and
// the fetch that follows it take effect in the order sent, while a JoinGroup that waits for a
// rebalance does not stop the connection from reading.
func groupAPI[Req kmsg.Request, Resp kmsg.Response](call func(*group.Coordinator, context.Context, Req) Resp) handlerFunc {
	return func(b *Broker, ctx context.Context, r *wire.Request) wire.Future {
		req := r.Msg.(Req)
		ctx = group.WithClient(ctx, clientID(r), clientHost(r))
		return func() (kmsg.Response, error) { return call(b.groups, ctx, req), nil }
	}
}

func clientID(r *wire.Request) string {
	if r.ClientID == nil {
		return ""
	}
	return *r.ClientID
}

// clientHost is the client's address as Kafka shows it in DescribeGroups: "/" and the IP.
func clientHost(r *wire.Request) string {
	if ta, ok := r.Conn.RemoteAddr.(*net.TCPAddr); ok {
		return "/" + ta.IP.String()
	}
	return "/" + r.Conn.RemoteAddr.String()
}
