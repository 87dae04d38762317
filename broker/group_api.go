package broker

import (
	"context"
	"fmt"
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/group"
	"github.com/minikraft/minikraft/wire"
)

// groupAPI serves every group request. It queues the request in its group before returning, as
// every handler performs its effects before it returns (see the wire package's doc), and waits
// for the group's answer in the response future. So a connection's OffsetCommit is in its group
// before the Produce that follows it is appended, and a JoinGroup parked for a rebalance does not
// stop the connection from reading.
//
// With an authorizer, authorizeGroupRequest (group_authz.go) answers a denied request itself,
// or takes the denied topics or groups out and puts their errors into the group's answer.
func groupAPI(b *Broker, ctx context.Context, r *wire.Request) wire.Future {
	ctx = group.WithClient(ctx, clientID(r), clientHost(r))
	msg := r.Msg
	var post func(kmsg.Response)
	if az := b.checkerFor(r); az.enabled() {
		var early kmsg.Response
		if early, msg, post = authorizeGroupRequest(az, msg); early != nil {
			return wire.Done(early, nil)
		}
	}
	wait := b.groups.Start(ctx, msg)
	if wait == nil {
		// Only group requests are registered with groupAPI: anything else is a programming error.
		panic(fmt.Sprintf("broker: %s is not a group request", kmsg.NameForKey(r.Key)))
	}
	return func() (kmsg.Response, error) {
		resp := wait()
		if post != nil {
			post(resp)
		}
		return resp, nil
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
