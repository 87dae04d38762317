package minikraft_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/minikraft/minikraft"
)

// aclJAAS is the PLAIN users of the ACL tests: root (super.users), alice (given ACLs), bob
// (none), and broker, the nodes' own login on their links, which is in no ACL and not in
// super.users: the node's links must work anyway.
const aclJAAS = `org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="broker-pw" ` +
	`user_broker="broker-pw" user_root="root-pw" user_alice="alice-pw" user_bob="bob-pw";`

// aclCluster starts n nodes whose client and inter-broker listener is SASL_PLAINTEXT with
// StandardAuthorizer on.
func aclCluster(t *testing.T, n int) *minikraft.Cluster {
	return minikraft.NewCluster(t, n,
		minikraft.WithConfig("listener.security.protocol.map", "PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT"),
		minikraft.WithConfig("sasl.enabled.mechanisms", "PLAIN"),
		minikraft.WithConfig("listener.name.plaintext.plain.sasl.jaas.config", aclJAAS),
		minikraft.WithConfig("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"),
		minikraft.WithConfig("super.users", "User:root"),
	)
}

func aclClient(t *testing.T, c *minikraft.Cluster, user string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Addrs()...),
		kgo.SASL(plain.Auth{User: user, Pass: user + "-pw"}.AsMechanism()),
		kgo.RequestRetries(2), kgo.RetryTimeout(3 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// wantCode fails unless got is want (Kafka error codes; 0 is success).
func wantCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	w := int16(0)
	if want != nil {
		w = want.Code
	}
	if got != w {
		t.Errorf("%s: error %v, want %v", what, kerr.ErrorForCode(got), want)
	}
}

// TestACLMatrix: for each API family, a principal without the ACL is denied with Kafka's error
// code and one with it is served; prefixed and wildcard patterns; DENY over ALLOW; the ACL APIs
// themselves. One node, real sockets, SASL PLAIN users.
func TestACLMatrix(t *testing.T) {
	c := aclCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	root, alice, bob := aclClient(t, c, "root"), aclClient(t, c, "alice"), aclClient(t, c, "bob")
	adm := kadm.NewClient(root)
	for _, topic := range []string{"orders", "logs-app", "logs-secret", "public"} {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatalf("root creates %s: %v", topic, err)
		}
	}
	b := kadm.NewACLs
	acls := []*kadm.ACLBuilder{
		b().Allow("User:alice").Topics("orders").Operations(kadm.OpRead, kadm.OpWrite),
		b().Allow("User:alice").Topics("logs-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpWrite),
		b().Deny("User:alice").Topics("logs-secret").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpWrite),
		b().Allow("User:*").Topics("public").Operations(kadm.OpRead),
		b().Allow("User:alice").Topics("alice-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpCreate),
		b().Allow("User:alice").Groups("g1").Operations(kadm.OpRead),
		b().Allow("User:alice").Groups("g-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpRead),
		b().Allow("User:alice").TransactionalIDs("tx1").Operations(kadm.OpWrite),
	}
	for _, a := range acls {
		res, err := adm.CreateACLs(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("create %+v: %v", r, r.Err)
			}
		}
	}
	bk := func(cl *kgo.Client) *kgo.Broker { return cl.Broker(0) }

	// Produce: WRITE on the topic; prefixed ALLOW; prefixed DENY wins.
	produce := func(user, topic string) int16 {
		cl := aclClient(t, c, user, kgo.DisableIdempotentWrite())
		defer cl.Close()
		err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr()
		var ke *kerr.Error
		if err != nil && !errors.As(err, &ke) {
			t.Fatalf("%s produces to %s: %v", user, topic, err)
		}
		if ke == nil {
			return 0
		}
		return ke.Code
	}
	wantCode(t, "alice produces to orders", produce("alice", "orders"), nil)
	wantCode(t, "bob produces to orders", produce("bob", "orders"), kerr.TopicAuthorizationFailed)
	wantCode(t, "alice produces to logs-app (prefixed)", produce("alice", "logs-app"), nil)
	wantCode(t, "alice produces to logs-secret (prefixed DENY)", produce("alice", "logs-secret"), kerr.TopicAuthorizationFailed)
	wantCode(t, "root produces to logs-secret (super user)", produce("root", "logs-secret"), nil)

	// Fetch: READ; User:* on public.
	meta, err := adm.Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(cl *kgo.Client, topic string) int16 {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxBytes, req.SessionEpoch = -1, 1<<20, -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, meta.Topics[topic].ID // kgo sends v13: by id
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, bk(cl))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	wantCode(t, "alice fetches orders", fetch(alice, "orders"), nil)
	wantCode(t, "bob fetches orders", fetch(bob, "orders"), kerr.TopicAuthorizationFailed)
	wantCode(t, "bob fetches public (User:*)", fetch(bob, "public"), nil)
	wantCode(t, "alice fetches logs-app (WRITE only)", fetch(alice, "logs-app"), kerr.TopicAuthorizationFailed)

	// ListOffsets: DESCRIBE, implied by READ.
	listOffsets := func(cl *kgo.Client, topic string) int16 {
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, bk(cl))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	wantCode(t, "alice lists offsets of orders", listOffsets(alice, "orders"), nil)
	wantCode(t, "bob lists offsets of orders", listOffsets(bob, "orders"), kerr.TopicAuthorizationFailed)

	// Metadata: undescribable topics left out of "all", TOPIC_AUTHORIZATION_FAILED when named;
	// authorized operations.
	metadata := func(cl *kgo.Client, topics ...string) *kmsg.MetadataResponse {
		req := kmsg.NewPtrMetadataRequest()
		req.IncludeTopicAuthorizedOperations = true
		if topics != nil {
			for _, name := range topics {
				rt := kmsg.NewMetadataRequestTopic()
				rt.Topic = kmsg.StringPtr(name)
				req.Topics = append(req.Topics, rt)
			}
		} else {
			req.Topics = nil
		}
		resp, err := req.RequestWith(ctx, bk(cl))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	names := func(m *kmsg.MetadataResponse) []string {
		var out []string
		for _, tp := range m.Topics {
			if !slices.Contains([]string{"__consumer_offsets", "__transaction_state"}, *tp.Topic) {
				out = append(out, *tp.Topic)
			}
		}
		slices.Sort(out)
		return out
	}
	if got := names(metadata(bob)); !slices.Equal(got, []string{"public"}) {
		t.Errorf("bob sees %v, want [public]", got)
	}
	if got := names(metadata(alice)); !slices.Equal(got, []string{"logs-app", "logs-secret", "orders", "public"}) {
		t.Errorf("alice sees %v", got) // logs-secret: the DENY is for WRITE; the prefixed WRITE ALLOW implies DESCRIBE
	}
	m := metadata(bob, "orders")
	wantCode(t, "bob's metadata of orders", m.Topics[0].ErrorCode, kerr.TopicAuthorizationFailed)
	m = metadata(alice, "orders", "nosuch")
	if ops := m.Topics[0].AuthorizedOperations; ops != 1<<3|1<<4|1<<8 {
		t.Errorf("alice's operations on orders %b, want READ|WRITE|DESCRIBE", ops)
	}
	wantCode(t, "alice's metadata of nosuch (no CREATE to auto-create)", m.Topics[1].ErrorCode, kerr.TopicAuthorizationFailed)
	if ops := metadata(root, "orders").Topics[0].AuthorizedOperations; ops != 1<<3|1<<4|1<<5|1<<6|1<<7|1<<8|1<<10|1<<11 {
		t.Errorf("root's operations on orders %b", ops)
	}

	// Groups: FindCoordinator DESCRIBE, JoinGroup READ, OffsetCommit READ on group and topic,
	// DescribeGroups DESCRIBE with its operations, ListGroups filtered, DeleteGroups DELETE.
	findCoord := func(cl *kgo.Client, typ int8, key string) int16 {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorType, req.CoordinatorKeys = typ, []string{key} // kgo sends v4
		resp, err := req.RequestWith(ctx, bk(cl))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Coordinators[0].ErrorCode
	}
	wantCode(t, "alice finds g1's coordinator", findCoord(alice, 0, "g1"), nil)
	wantCode(t, "bob finds g1's coordinator", findCoord(bob, 0, "g1"), kerr.GroupAuthorizationFailed)
	wantCode(t, "alice finds tx1's coordinator", findCoord(alice, 1, "tx1"), nil)
	wantCode(t, "bob finds tx1's coordinator", findCoord(bob, 1, "tx1"), kerr.TransactionalIDAuthorizationFailed)
	join := func(cl *kgo.Client) int16 {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.ProtocolType, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = "g1", "consumer", 6000, 6000
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name = "range"
		req.Protocols = append(req.Protocols, p)
		for {
			resp, err := req.RequestWith(ctx, bk(cl))
			if err != nil {
				t.Fatal(err)
			}
			switch resp.ErrorCode {
			case kerr.MemberIDRequired.Code:
				req.MemberID = resp.MemberID
			case kerr.NotCoordinator.Code, kerr.CoordinatorLoadInProgress.Code, kerr.CoordinatorNotAvailable.Code:
				time.Sleep(50 * time.Millisecond) // the offsets topic is being created
			default:
				return resp.ErrorCode
			}
		}
	}
	wantCode(t, "alice joins g1", join(alice), nil)
	wantCode(t, "bob joins g1", join(bob), kerr.GroupAuthorizationFailed)
	commit := func(cl *kgo.Client, topic string) int16 {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.Generation = "g1", -1
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Offset = 1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		req.Version = 2
		resp, err := req.RequestWith(ctx, bk(cl))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	_ = commit // the group has a member now: commit as a simple consumer to another group below
	dg := func(cl *kgo.Client) kmsg.DescribeGroupsResponseGroup {
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Groups, req.IncludeAuthorizedOperations = []string{"g1"}, true
		resp, err := req.RequestWith(ctx, bk(cl))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Groups[0]
	}
	wantCode(t, "bob describes g1", dg(bob).ErrorCode, kerr.GroupAuthorizationFailed)
	if g := dg(alice); g.ErrorCode != 0 || g.AuthorizedOperations != 1<<3|1<<8 {
		t.Errorf("alice describes g1: %v, operations %b", kerr.ErrorForCode(g.ErrorCode), g.AuthorizedOperations)
	}
	lg := func(cl *kgo.Client) int {
		resp, err := kmsg.NewPtrListGroupsRequest().RequestWith(ctx, bk(cl))
		if err != nil {
			t.Fatal(err)
		}
		return len(resp.Groups)
	}
	if n := lg(bob); n != 0 {
		t.Errorf("bob lists %d groups", n)
	}
	if n := lg(alice); n != 1 {
		t.Errorf("alice lists %d groups, want 1", n)
	}
	delGroup := func(cl *kgo.Client) int16 {
		req := kmsg.NewPtrDeleteGroupsRequest()
		req.Groups = []string{"g1"}
		resp, err := req.RequestWith(ctx, bk(cl))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Groups[0].ErrorCode
	}
	wantCode(t, "alice deletes g1 (READ only)", delGroup(alice), kerr.GroupAuthorizationFailed)

	// A real consumer group under a prefixed group ACL: join, sync, fetch, commit, offsets.
	consumer := aclClient(t, c, "alice", kgo.ConsumeTopics("orders"), kgo.ConsumerGroup("g-alice"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	for got := 0; got < 1; {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("alice consumes orders in g-alice: %v", err)
		}
		got += fs.NumRecords()
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("alice commits in g-alice: %v", err)
	}
	offs, err := kadm.NewClient(alice).FetchOffsets(ctx, "g-alice")
	if err != nil || offs.Error() != nil {
		t.Fatalf("alice fetches g-alice's offsets: %v %v", err, offs.Error())
	}
	if o, _ := offs.Lookup("orders", 0); o.At != 1 {
		t.Errorf("g-alice's offset on orders-0: %+v", o)
	}
	if offs, err := kadm.NewClient(bob).FetchOffsets(ctx, "g-alice"); err == nil && offs.Error() == nil {
		t.Error("bob fetched g-alice's offsets")
	}
	consumer.Close()

	// Admin: CreateTopics CREATE (prefixed on the topic), DeleteTopics DELETE, configs.
	createTopic := func(cl *kgo.Client, name string) int16 {
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 1, 1
		req.Topics, req.TimeoutMillis = append(req.Topics, rt), 5000
		resp, err := req.RequestWith(ctx, bk(cl))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].ErrorCode
	}
	wantCode(t, "alice creates alice-new", createTopic(alice, "alice-new"), nil)
	wantCode(t, "alice creates other", createTopic(alice, "other"), kerr.TopicAuthorizationFailed)
	deleteTopic := func(cl *kgo.Client, name string) int16 {
		req := kmsg.NewPtrDeleteTopicsRequest()
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics, req.TimeoutMillis = append(req.Topics, rt), 5000
		resp, err := req.RequestWith(ctx, bk(cl))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].ErrorCode
	}
	wantCode(t, "alice deletes orders", deleteTopic(alice, "orders"), kerr.TopicAuthorizationFailed)
	wantCode(t, "alice deletes an unknown topic", deleteTopic(alice, "nosuch"), kerr.TopicAuthorizationFailed)
	describeConfigs := func(cl *kgo.Client, typ kmsg.ConfigResourceType, name string) int16 {
		req := kmsg.NewPtrDescribeConfigsRequest()
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = typ, name
		req.Resources = append(req.Resources, rr)
		resp, err := req.RequestWith(ctx, bk(cl))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Resources[0].ErrorCode
	}
	wantCode(t, "bob describes orders' configs", describeConfigs(bob, kmsg.ConfigResourceTypeTopic, "orders"), kerr.TopicAuthorizationFailed)
	wantCode(t, "alice describes broker 0's configs", describeConfigs(alice, kmsg.ConfigResourceTypeBroker, "0"), kerr.ClusterAuthorizationFailed)
	wantCode(t, "root describes broker 0's configs", describeConfigs(root, kmsg.ConfigResourceTypeBroker, "0"), nil)

	// Producer ids: the transactional id's WRITE; idempotence needs IDEMPOTENT_WRITE or WRITE
	// on some topic.
	initPID := func(cl *kgo.Client, txn *string) int16 {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.TransactionTimeoutMillis = txn, 10000
		var resp *kmsg.InitProducerIDResponse
		var err error
		if txn == nil {
			resp, err = req.RequestWith(ctx, bk(cl))
		} else {
			resp, err = req.RequestWith(ctx, cl) // to the coordinator, which kgo looks up
		}
		var ke *kerr.Error
		if errors.As(err, &ke) {
			return ke.Code // the coordinator lookup was refused
		}
		if err != nil {
			t.Fatal(err)
		}
		return resp.ErrorCode
	}
	wantCode(t, "alice's idempotent producer id", initPID(alice, nil), nil)
	wantCode(t, "bob's idempotent producer id", initPID(bob, nil), kerr.ClusterAuthorizationFailed)
	wantCode(t, "alice's transactional id tx1", initPID(alice, kmsg.StringPtr("tx1")), nil)
	wantCode(t, "bob's transactional id tx1", initPID(bob, kmsg.StringPtr("tx1")), kerr.TransactionalIDAuthorizationFailed)

	// Cluster operations.
	dc := func(cl *kgo.Client) int32 {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.IncludeClusterAuthorizedOperations = true
		resp, err := req.RequestWith(ctx, bk(cl))
		if err != nil {
			t.Fatal(err)
		}
		return resp.ClusterAuthorizedOperations
	}
	if ops := dc(alice); ops != 0 {
		t.Errorf("alice's cluster operations %b", ops)
	}
	if ops := dc(root); ops != 1<<5|1<<7|1<<8|1<<9|1<<10|1<<11|1<<12 {
		t.Errorf("root's cluster operations %b", ops)
	}
	quorum, err := kmsg.NewPtrDescribeQuorumRequest().RequestWith(ctx, bk(alice))
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "alice describes the quorum", quorum.ErrorCode, kerr.ClusterAuthorizationFailed)
	scram, err := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest().RequestWith(ctx, bk(alice))
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "alice describes SCRAM users", scram.ErrorCode, kerr.ClusterAuthorizationFailed)

	// The ACL APIs: DESCRIBE / ALTER on the cluster, filters, Kafka's refusals.
	anyACL := kmsg.NewPtrDescribeACLsRequest()
	anyACL.ResourceType, anyACL.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	anyACL.Operation, anyACL.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	if resp, err := anyACL.RequestWith(ctx, bk(alice)); err != nil || resp.ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Errorf("alice describes ACLs: %v %+v", err, resp)
	}
	if resp, err := anyACL.RequestWith(ctx, bk(root)); err != nil || resp.ErrorCode != 0 || len(resp.Resources) != 8 {
		t.Errorf("root describes ACLs: %v %+v", err, resp)
	}
	res, err := kadm.NewClient(alice).CreateACLs(ctx, b().Allow("User:alice").Topics("x").Operations(kadm.OpRead))
	if err != nil || len(res) != 1 || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Errorf("alice creates an ACL: %v %+v", err, res)
	}
	bad := kmsg.NewPtrCreateACLsRequest()
	cr := kmsg.NewCreateACLsRequestCreation()
	cr.ResourceType, cr.ResourceName, cr.ResourcePatternType = kmsg.ACLResourceTypeCluster, "other", kmsg.ACLResourcePatternTypeLiteral
	cr.Principal, cr.Host, cr.Operation, cr.PermissionType = "User:alice", "*", kmsg.ACLOperationAlter, kmsg.ACLPermissionTypeAllow
	bad.Creations = append(bad.Creations, cr)
	if resp, err := bad.RequestWith(ctx, bk(root)); err != nil || resp.Results[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("a CLUSTER resource not named kafka-cluster: %v %+v", err, resp)
	}
	unknown := kmsg.NewPtrDescribeACLsRequest()
	unknown.ResourceType, unknown.ResourcePatternType = kmsg.ACLResourceTypeUnknown, kmsg.ACLResourcePatternTypeAny
	unknown.Operation, unknown.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	if resp, err := unknown.RequestWith(ctx, bk(root)); err != nil || resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("a filter of resource type UNKNOWN: %v %+v", err, resp)
	}
	// MATCH: the literal, the prefixed and the wildcard-principal bindings that apply to orders.
	match := kmsg.NewPtrDescribeACLsRequest()
	match.ResourceType, match.ResourceName, match.ResourcePatternType = kmsg.ACLResourceTypeTopic, kmsg.StringPtr("logs-secret"), kmsg.ACLResourcePatternTypeMatch
	match.Operation, match.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	dresp, err := match.RequestWith(ctx, bk(root))
	if err != nil || dresp.ErrorCode != 0 || len(dresp.Resources) != 2 {
		t.Errorf("MATCH logs-secret: %v %+v", err, dresp)
	}
	// Deleting alice's literal ACLs on orders takes her WRITE away.
	dres, err := adm.DeleteACLs(ctx, b().Allow("User:alice").AllowHosts().Topics("orders").Operations(kadm.OpWrite))
	if err != nil || len(dres) != 1 || len(dres[0].Deleted) != 1 {
		t.Fatalf("delete: %v %+v", err, dres)
	}
	wantCode(t, "alice produces to orders after the delete", produce("alice", "orders"), kerr.TopicAuthorizationFailed)
	wantCode(t, "alice still fetches orders", fetch(alice, "orders"), nil)
	// A DENY for everyone beats alice's ALLOW.
	if _, err := adm.CreateACLs(ctx, b().Deny("User:*").Topics("orders").Operations(kadm.OpRead)); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "alice fetches orders under a User:* DENY", fetch(alice, "orders"), kerr.TopicAuthorizationFailed)

	// The fixture's Reset drops every ACL, as it drops topics and users.
	if err := c.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if resp, err := anyACL.RequestWith(ctx, bk(root)); err != nil || resp.ErrorCode != 0 || len(resp.Resources) != 0 {
		t.Errorf("ACLs after Reset: %v %+v", err, resp)
	}
}

// replicateAll creates a three-replica topic with cl, writes to it transactionally with acks=all
// (the transaction's markers go to every partition leader, its partitions are verified with the
// coordinator) and reads the records back read_committed: it fails if any of the nodes' own
// requests on their links (replica fetches, OffsetForLeaderEpoch, WriteTxnMarkers,
// AddPartitionsToTxn v4) is refused.
func replicateAll(t *testing.T, ctx context.Context, c *minikraft.Cluster, opts ...kgo.Opt) {
	t.Helper()
	base := append([]kgo.Opt{kgo.SeedBrokers(c.Addrs()...)}, opts...)
	admCl, err := kgo.NewClient(base...)
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	if _, err := kadm.NewClient(admCl).CreateTopic(ctx, 3, 3, nil, "replicated"); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitForLeaders(ctx, "replicated"); err != nil {
		t.Fatal(err)
	}
	p, err := kgo.NewClient(append(base, kgo.TransactionalID("acl-txn"), kgo.RequiredAcks(kgo.AllISRAcks()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	const n = 30
	for i := 0; i < n; i++ {
		if err := p.ProduceSync(ctx, &kgo.Record{Topic: "replicated", Partition: int32(i % 3), Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	cons, err := kgo.NewClient(append(base, kgo.ConsumeTopics("replicated"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := 0
	for got < n {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume after %d: %v", got, err)
		}
		got += fs.NumRecords()
	}
	// Every replica is in the ISR: the followers fetched.
	md, err := kadm.NewClient(admCl).Metadata(ctx, "replicated")
	if err != nil {
		t.Fatal(err)
	}
	for _, pd := range md.Topics["replicated"].Partitions {
		if len(pd.ISR) != 3 {
			t.Errorf("partition %d ISR %v", pd.Partition, pd.ISR)
		}
	}
}

// TestACLInterBrokerSASL: a three-node SASL cluster with StandardAuthorizer, no ACL at all, and
// the nodes' own login (broker) not in super.users still replicates and writes transaction
// markers: the inter-broker principal passes as a super user.
func TestACLInterBrokerSASL(t *testing.T) {
	c := aclCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	replicateAll(t, ctx, c, kgo.SASL(plain.Auth{User: "root", Pass: "root-pw"}.AsMechanism()))
}

// TestACLInterBrokerPlaintext: on a PLAINTEXT inter-broker listener the nodes' connections are
// User:ANONYMOUS like the clients'; with ACLs on the cluster resource that do not name
// ANONYMOUS, the nodes' requests still pass (CLUSTER_ACTION for anonymous connections to the
// inter-broker listener), while an anonymous client gets nothing else on the cluster.
func TestACLInterBrokerPlaintext(t *testing.T) {
	c := minikraft.NewCluster(t, 3,
		minikraft.WithConfig("authorizer.class.name", "kafka.security.authorizer.AclAuthorizer"),
		minikraft.WithConfig("allow.everyone.if.no.acl.found", "true"))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	// The cluster resource gets an ACL (no one may do anything on it by default any more), the
	// topics none (everyone may use them).
	res, err := adm.CreateACLs(ctx, kadm.NewACLs().Allow("User:nobody").Clusters().Operations(kadm.OpDescribe))
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("create: %v %+v", err, res)
	}
	// An anonymous client is now refused cluster operations on every node, once each has the
	// ACL (the forwarding node answered after applying it; the others follow)...
	for id := int32(0); id < 3; id++ {
		for {
			resp, err := kmsg.NewPtrDescribeQuorumRequest().RequestWith(ctx, cl.Broker(int(id)))
			if err != nil {
				t.Fatal(err)
			}
			if resp.ErrorCode == kerr.ClusterAuthorizationFailed.Code {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("node %d: anonymous DescribeQuorum still answers %v", id, kerr.ErrorForCode(resp.ErrorCode))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// ...but the nodes' own requests pass.
	replicateAll(t, ctx, c)
}

// TestACLOffByDefault: without authorizer.class.name every request is allowed (an anonymous
// client creates, writes and sees the cluster's operations) and the ACL APIs answer
// SECURITY_DISABLED, as Kafka without an authorizer.
func TestACLOffByDefault(t *testing.T) {
	c := minikraft.NewCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "open", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	dc := kmsg.NewPtrDescribeClusterRequest()
	dc.IncludeClusterAuthorizedOperations = true
	if resp, err := dc.RequestWith(ctx, cl); err != nil || resp.ClusterAuthorizedOperations != 1<<5|1<<7|1<<8|1<<9|1<<10|1<<11|1<<12 {
		t.Errorf("cluster operations: %v %+v", err, resp)
	}
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType, req.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	if resp, err := req.RequestWith(ctx, cl); err != nil || resp.ErrorCode != kerr.SecurityDisabled.Code {
		t.Errorf("DescribeAcls: %v %+v", err, resp)
	}
}
