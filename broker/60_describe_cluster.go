package broker

// DescribeCluster (key 60), versions 0–1.
//
// The brokers with their addresses on the listener the request came in on, the cluster id and
// the id clients should treat as the controller (see Metadata). v1's EndpointType 1 (brokers) is
// the only type served here; asking for controllers (2) is UNSUPPORTED_ENDPOINT_TYPE, as on a
// Kafka broker. The cluster's authorized operations, when asked for, are those the principal
// may do on the cluster, 0 without DESCRIBE on it (as Kafka's handleDescribeCluster).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/wire"
)

func init() { register(60, 0, 1, (*Broker).handleDescribeCluster) }

func (b *Broker) handleDescribeCluster(_ context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = 1
	if req.Version >= 1 && req.EndpointType != 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		return wire.Done(resp, nil)
	}
	st := b.meta.State()
	resp.ClusterID = b.clusterID()
	resp.ControllerID = b.controllerIDForClients(st)
	resp.ClusterAuthorizedOperations = opsNotRequested
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = b.checkerFor(r).clusterOps()
	}
	for _, mb := range b.metadataBrokers(st, r.Conn.Listener) {
		db := kmsg.NewDescribeClusterResponseBroker()
		db.NodeID, db.Host, db.Port, db.Rack = mb.NodeID, mb.Host, mb.Port, mb.Rack
		resp.Brokers = append(resp.Brokers, db)
	}
	return wire.Done(resp, nil)
}
