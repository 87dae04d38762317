package broker

import "github.com/minikraft/minikraft/wire"

// What the test fixture (the root package) and the binary's test admin endpoint reach into a
// running node for, beyond Mux: the control APIs' Mux and the follower throttle.

// ControlMux is the Mux of the control APIs this node serves on its CONTROLLER listener
// (control_server.go: BrokerRegistration, BrokerHeartbeat, AlterPartition, the forwarded admin
// requests...), nil on a node that is not a controller. Tests intercept requests on it as on
// Mux.
func (b *Broker) ControlMux() *wire.Mux { return b.ctlMux }

// SetReplicaFetchThrottle limits the bytes per second this node's replica fetchers take from
// their leaders (bytesPerSecond <= 0: no limit), so that it lags for real as a follower
// (replica.Manager.SetFetchThrottle). It does nothing on a node without replicas.
func (b *Broker) SetReplicaFetchThrottle(bytesPerSecond int64) {
	if b.replicas != nil {
		b.replicas.SetFetchThrottle(bytesPerSecond)
	}
}

// ReplicaFetchThrottle is the limit SetReplicaFetchThrottle set, 0 for none.
func (b *Broker) ReplicaFetchThrottle() int64 {
	if b.replicas == nil {
		return 0
	}
	return b.replicas.FetchThrottle()
}

// ClusterID is the cluster id this node serves (from its configuration or its data directory).
func (b *Broker) ClusterID() string { return b.clusterID() }
