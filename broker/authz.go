package broker

import (
	"net"
	"slices"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/minikraft/minikraft/broker/acl"
	"github.com/minikraft/minikraft/broker/security"
	"github.com/minikraft/minikraft/raftmeta"
	"github.com/minikraft/minikraft/wire"
)

// The node's authorizer (authorizer.class.name): broker/acl's Authorizer over the ACLs in the
// current metadata, rebuilt when they change. Each handler asks checkerFor(r) once per request
// and checks the operations Kafka's KafkaApis checks for that API, with the same resources and
// error codes; without an authorizer the checker allows everything and the ACL APIs answer
// SECURITY_DISABLED.
//
// The node's own requests on the inter-broker listener (replica fetches, OffsetForLeaderEpoch,
// WriteTxnMarkers, AddPartitionsToTxn v4) must pass whatever the ACLs say, or a cluster with an
// authorizer and no ACLs could not replicate. Kafka leaves that to the operator (the broker's
// principal in super.users); minikraft does it itself: the principal the node logs in as on a
// SASL inter-broker listener is a super user, and on an inter-broker listener without SASL,
// where the node's connections are User:ANONYMOUS like any client's, anonymous connections to
// that listener (and only that one) are granted CLUSTER_ACTION on the cluster, which is what
// those requests need.
type authz struct {
	enabled      bool
	superUsers   []string
	allowIfNoACL bool
	interBroker  string // the inter-broker listener's name
	anonCluster  bool   // grant CLUSTER_ACTION to User:ANONYMOUS on interBroker
	cache        atomic.Pointer[authzCache]
}

// authzCache is the Authorizer built from one State's ACLs.
type authzCache struct {
	first *raftmeta.ACL // &State.ACLs[0] (nil: no ACLs): every change makes a new slice
	n     int
	a     *acl.Authorizer
}

// setupAuthorizer reads the authorizer properties and the node's own principal.
func (b *Broker) setupAuthorizer() error {
	bc := &b.cfg.Broker
	if bc.Authorizer == "" {
		return nil
	}
	z := &b.authz
	z.enabled = true
	z.allowIfNoACL = bc.AllowEveryoneIfNoACL
	z.superUsers = slices.Clone(bc.SuperUsers)
	z.interBroker = bc.InterBrokerListenerName
	if !bc.IsBroker() {
		return nil
	}
	proto, _ := bc.SecurityProtocol(bc.InterBrokerListenerName)
	c, err := security.ClientFor(bc.Props, bc.InterBrokerListenerName, proto)
	if err != nil {
		return err // setupSecurity has already reported it; unreachable in practice
	}
	if c != nil && c.Mechanism != "" && c.User != "" {
		z.superUsers = append(z.superUsers, "User:"+c.User)
	} else {
		z.anonCluster = true
	}
	return nil
}

// authorizer returns the Authorizer for the current metadata, nil without an authorizer.
func (b *Broker) authorizer() *acl.Authorizer {
	z := &b.authz
	if !z.enabled {
		return nil
	}
	acls := b.meta.State().ACLs
	var first *raftmeta.ACL
	if len(acls) > 0 {
		first = &acls[0]
	}
	if c := z.cache.Load(); c != nil && c.first == first && c.n == len(acls) {
		return c.a
	}
	bs := make([]acl.Binding, len(acls))
	for i, a := range acls {
		bs[i] = bindingOf(a)
	}
	c := &authzCache{first: first, n: len(acls), a: acl.New(bs, z.superUsers, z.allowIfNoACL)}
	z.cache.Store(c)
	return c.a
}

func bindingOf(a raftmeta.ACL) acl.Binding {
	return acl.Binding{
		ResourceType: acl.ResourceType(a.ResourceType), Name: a.ResourceName, Pattern: acl.PatternType(a.PatternType),
		Principal: a.Principal, Host: a.Host, Operation: acl.Operation(a.Operation), Permission: acl.Permission(a.Permission),
	}
}

func aclOf(b acl.Binding) raftmeta.ACL {
	return raftmeta.ACL{
		ResourceType: int8(b.ResourceType), ResourceName: b.Name, PatternType: int8(b.Pattern),
		Principal: b.Principal, Host: b.Host, Operation: int8(b.Operation), Permission: int8(b.Permission),
	}
}

// checker answers one request's authorization questions. The zero checker (no authorizer)
// allows everything.
type checker struct {
	a           *acl.Authorizer
	principal   string
	host        string
	anonCluster bool // this connection gets CLUSTER_ACTION (see authz)
}

// checkerFor returns the checker of r's connection. A request without a remote address is the
// node's own, served in-process (wire.Mux.Call: the transaction coordinator's markers to a
// partition led here) and is not checked, as it would pass as a super user over a socket.
func (b *Broker) checkerFor(r *wire.Request) checker {
	a := b.authorizer()
	if a == nil || r.Conn == nil || r.Conn.RemoteAddr == nil {
		return checker{}
	}
	c := checker{a: a, principal: wire.Anonymous, host: hostOf(r.Conn.RemoteAddr)}
	if r.Conn.Principal != "" {
		c.principal = r.Conn.Principal
	}
	c.anonCluster = b.authz.anonCluster && c.principal == wire.Anonymous && r.Conn.Listener == b.authz.interBroker
	return c
}

// hostOf is the client's address as ACL hosts name it (Kafka's InetAddress.getHostAddress).
func hostOf(addr net.Addr) string {
	switch a := addr.(type) {
	case *net.TCPAddr:
		return a.IP.String()
	case nil:
		return ""
	}
	h, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return h
}

// enabled reports whether requests are authorized at all.
func (c checker) enabled() bool { return c.a != nil }

// allow reports whether the request may do op on the resource.
func (c checker) allow(op acl.Operation, rt acl.ResourceType, name string) bool {
	if c.a == nil {
		return true
	}
	if c.anonCluster && rt == acl.ResCluster && op == acl.OpClusterAction {
		return true
	}
	return c.a.Authorize(c.principal, c.host, op, rt, name)
}

// topic, group, txnID and cluster are allow for one resource type.
func (c checker) topic(op acl.Operation, name string) bool { return c.allow(op, acl.ResTopic, name) }
func (c checker) group(op acl.Operation, name string) bool { return c.allow(op, acl.ResGroup, name) }
func (c checker) txnID(op acl.Operation, id string) bool {
	return c.allow(op, acl.ResTransactionalID, id)
}
func (c checker) cluster(op acl.Operation) bool { return c.allow(op, acl.ResCluster, acl.ClusterName) }

// ops is the authorized-operations field of a resource: without an authorizer every operation
// the resource type supports, as Kafka's AuthHelper.authorizedOperations answers.
func (c checker) ops(rt acl.ResourceType, name string) int32 {
	if c.a == nil {
		var bits int32
		for _, op := range acl.Supported(rt) {
			bits |= 1 << op
		}
		return bits
	}
	bits := c.a.AuthorizedOperations(c.principal, c.host, rt, name)
	if c.anonCluster && rt == acl.ResCluster {
		bits |= 1 << acl.OpClusterAction
	}
	return bits
}

// clusterOps is the cluster's authorized-operations field, when asked for: 0 without DESCRIBE
// on the cluster (Kafka's handleDescribeCluster and handleTopicMetadataRequest).
func (c checker) clusterOps() int32 {
	if !c.cluster(acl.OpDescribe) {
		return 0
	}
	return c.ops(acl.ResCluster, acl.ClusterName)
}

// configResource checks op (DESCRIBE_CONFIGS or ALTER_CONFIGS) on a config resource: a topic
// on the topic (TOPIC_AUTHORIZATION_FAILED), a broker or broker logger on the cluster
// (CLUSTER_AUTHORIZATION_FAILED). Other types are left to the handler to refuse.
func (c checker) configResource(op acl.Operation, rtype int8, name string) error {
	switch rtype {
	case raftmeta.ConfigResourceTopic:
		if !c.topic(op, name) {
			return errTopicAuth
		}
	case raftmeta.ConfigResourceBroker, raftmeta.ConfigResourceBrokerLogger:
		if !c.cluster(op) {
			return errClusterAuth
		}
	}
	return nil
}

// Kafka's errors for a denied resource.
var (
	errTopicAuth   = kerr.TopicAuthorizationFailed
	errGroupAuth   = kerr.GroupAuthorizationFailed
	errTxnIDAuth   = kerr.TransactionalIDAuthorizationFailed
	errClusterAuth = kerr.ClusterAuthorizationFailed
)
