// Package broker is a minikraft node: the Kafka protocol's face and the wiring of everything
// below it.
//
// A Broker owns its listeners, the Raft metadata node (raftmeta), the replica manager that keeps
// the local partitions (broker/replica, over broker/partition and log), the controller duties
// when it leads the quorum (broker/controller), the group coordinator (broker/group) and the
// transaction coordinator (broker/txn, given its store, producer ids and a WriteTxnMarkers sender
// in txn_glue.go). Each
// Kafka API lives in its own file named after its key, NN_name.go, which starts with the versions
// it serves and how it behaves, and registers its handler in init; the same table feeds
// ApiVersions, so an API is advertised exactly when it is handled.
//
// Metadata flows one way: a change is proposed through Raft, applied by every node's FSM, and the
// broker has its replica manager reconcile the local partitions with each new immutable State
// (replica.Manager.Apply, with the group and transaction coordinators' share in the same pass:
// replica_glue.go). A
// request that changed metadata is answered only after the change is applied locally, so the
// client's next Metadata request to the same broker already shows it.
//
// security_glue.go reads each client listener's TLS and SASL settings (broker/security) into the
// wire.Security it is served with, and makes the dialer of the node's own connections to
// inter-broker listeners (replica fetchers, WriteTxnMarkers), which does that listener's TLS
// handshake and PLAIN login. SaslHandshake and SaslAuthenticate reaching the Mux (after
// authentication, or on a listener without SASL) answer ILLEGAL_SASL_STATE (wire.HandleSASL).
//
// authz.go is the authorizer (authorizer.class.name): broker/acl's Authorizer over the current
// metadata's ACLs, and the checker each handler asks for its request's principal and client
// address; group_authz.go and txn_authz.go apply Kafka's checks around the group and transaction
// coordinators, acls_glue.go is the controller's side of CreateAcls and DeleteAcls.
//
// fixture.go is what the in-process test fixture needs beyond the Kafka APIs (issue 21): the
// whole-cluster ResetCluster and RestoreTopics on the active controller, the metadata index a
// node has applied (AppliedIndex), a copy of a local replica up to its high watermark
// (CopyReplica) and a leader's high watermark.
package broker
