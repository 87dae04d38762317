package acl

import (
	"fmt"
	"testing"
)

func lit(rt ResourceType, name, principal string, op Operation, perm Permission) Binding {
	return Binding{ResourceType: rt, Name: name, Pattern: PatLiteral, Principal: principal, Host: Wildcard, Operation: op, Permission: perm}
}

func pre(rt ResourceType, name, principal string, op Operation, perm Permission) Binding {
	b := lit(rt, name, principal, op, perm)
	b.Pattern = PatPrefixed
	return b
}

// TestAuthorize walks StandardAuthorizerData's rules one by one.
func TestAuthorize(t *testing.T) {
	hostBound := lit(ResTopic, "hosted", "User:alice", OpRead, PermAllow)
	hostBound.Host = "10.0.0.1"
	a := New([]Binding{
		lit(ResTopic, "orders", "User:alice", OpRead, PermAllow),
		lit(ResTopic, "orders", "User:bob", OpWrite, PermAllow),
		pre(ResTopic, "logs-", "User:alice", OpWrite, PermAllow),
		pre(ResTopic, "logs-secret", "User:alice", OpWrite, PermDeny),
		lit(ResTopic, "*", "User:carol", OpDescribe, PermAllow),
		lit(ResTopic, "public", "User:*", OpRead, PermAllow),
		lit(ResTopic, "public", "User:mallory", OpRead, PermDeny),
		lit(ResTopic, "all", "User:alice", OpAll, PermAllow),
		lit(ResTopic, "cfg", "User:alice", OpAlterConfigs, PermAllow),
		lit(ResTopic, "nodesc", "User:alice", OpRead, PermAllow),
		lit(ResTopic, "nodesc", "User:alice", OpRead, PermDeny),
		lit(ResTopic, "denyread", "User:alice", OpAll, PermAllow),
		lit(ResTopic, "denyread", "User:alice", OpRead, PermDeny),
		lit(ResGroup, "g", "User:alice", OpRead, PermAllow),
		lit(ResCluster, ClusterName, "User:alice", OpCreate, PermAllow),
		hostBound,
		{ResourceType: ResTopic, Name: "", Pattern: PatLiteral, Principal: "User:alice", Host: "*", Operation: OpRead, Permission: PermAllow}, // invalid: ignored
	}, []string{"User:admin"}, false)
	cases := []struct {
		principal string
		host      string
		op        Operation
		rt        ResourceType
		name      string
		want      bool
	}{
		{"User:admin", "1.2.3.4", OpAlter, ResCluster, ClusterName, true}, // super user
		{"User:alice", "1.2.3.4", OpRead, ResTopic, "orders", true},
		{"User:alice", "1.2.3.4", OpWrite, ResTopic, "orders", false},         // resource has ACLs: deny by default
		{"User:alice", "1.2.3.4", OpDescribe, ResTopic, "orders", true},       // READ implies DESCRIBE
		{"User:bob", "1.2.3.4", OpDescribe, ResTopic, "orders", true},         // WRITE implies DESCRIBE
		{"User:bob", "1.2.3.4", OpRead, ResTopic, "orders", false},            //
		{"User:alice", "1.2.3.4", OpRead, ResTopic, "unknown", false},         // no ACL, allow.everyone false
		{"User:alice", "1.2.3.4", OpWrite, ResTopic, "logs-app", true},        // prefixed
		{"User:alice", "1.2.3.4", OpWrite, ResTopic, "logs-secret-1", false},  // longer prefixed DENY wins
		{"User:alice", "1.2.3.4", OpWrite, ResTopic, "logs", false},           // shorter than the prefix
		{"User:carol", "1.2.3.4", OpDescribe, ResTopic, "anything", true},     // wildcard resource
		{"User:carol", "1.2.3.4", OpDescribe, ResTopic, "orders", true},       // wildcard besides literal ACLs
		{"User:carol", "1.2.3.4", OpRead, ResTopic, "anything", false},        //
		{"User:zed", "1.2.3.4", OpRead, ResTopic, "public", true},             // wildcard principal
		{"User:mallory", "1.2.3.4", OpRead, ResTopic, "public", false},        // DENY over ALLOW
		{"User:alice", "1.2.3.4", OpDelete, ResTopic, "all", true},            // ALL
		{"User:alice", "1.2.3.4", OpDescribeConfigs, ResTopic, "cfg", true},   // ALTER_CONFIGS implies DESCRIBE_CONFIGS
		{"User:alice", "1.2.3.4", OpDescribe, ResTopic, "cfg", false},         // but not DESCRIBE
		{"User:alice", "1.2.3.4", OpRead, ResTopic, "nodesc", false},          // DENY READ
		{"User:alice", "1.2.3.4", OpDescribe, ResTopic, "nodesc", true},       // a DENY READ does not deny DESCRIBE
		{"User:alice", "1.2.3.4", OpRead, ResTopic, "denyread", false},        // DENY READ beats ALLOW ALL
		{"User:alice", "1.2.3.4", OpWrite, ResTopic, "denyread", true},        //
		{"User:alice", "10.0.0.1", OpRead, ResTopic, "hosted", true},          // host
		{"User:alice", "10.0.0.2", OpRead, ResTopic, "hosted", false},         //
		{"User:alice", "1.2.3.4", OpRead, ResGroup, "g", true},                //
		{"User:alice", "1.2.3.4", OpRead, ResGroup, "h", false},               //
		{"User:alice", "1.2.3.4", OpDescribe, ResTransactionalID, "t", false}, // no ACL of the type at all
		{"User:alice", "1.2.3.4", OpCreate, ResCluster, ClusterName, true},    //
		{"User:alice", "1.2.3.4", OpAlter, ResCluster, ClusterName, false},    //
	}
	for _, c := range cases {
		if got := a.Authorize(c.principal, c.host, c.op, c.rt, c.name); got != c.want {
			t.Errorf("%s from %s: %d on %d %q = %v, want %v", c.principal, c.host, c.op, c.rt, c.name, got, c.want)
		}
	}
	if len(a.Bindings()) != 16 {
		t.Errorf("%d bindings kept, want 16 (the invalid one dropped)", len(a.Bindings()))
	}

	// allow.everyone.if.no.acl.found: only resources without any ACL.
	open := New([]Binding{lit(ResTopic, "orders", "User:alice", OpRead, PermAllow)}, nil, true)
	if !open.Authorize("User:bob", "h", OpWrite, ResTopic, "other") ||
		!open.Authorize("User:bob", "h", OpRead, ResGroup, "g") ||
		open.Authorize("User:bob", "h", OpRead, ResTopic, "orders") {
		t.Error("allow.everyone.if.no.acl.found")
	}
}

// TestAuthorizedOperations: bits of Kafka's operation codes, limited to the type's operations.
func TestAuthorizedOperations(t *testing.T) {
	a := New([]Binding{lit(ResTopic, "t", "User:alice", OpRead, PermAllow)}, []string{"User:admin"}, false)
	if got, want := a.AuthorizedOperations("User:alice", "h", ResTopic, "t"), int32(1<<OpRead|1<<OpDescribe); got != want {
		t.Errorf("alice: %b, want %b", got, want)
	}
	if got, want := a.AuthorizedOperations("User:admin", "h", ResGroup, "g"), int32(1<<OpRead|1<<OpDescribe|1<<OpDelete); got != want {
		t.Errorf("admin group: %b, want %b", got, want)
	}
}

// TestAuthorizeAny: KIP-679's idempotent-write fallback.
func TestAuthorizeAny(t *testing.T) {
	a := New([]Binding{
		pre(ResTopic, "logs-", "User:alice", OpWrite, PermAllow),
		pre(ResTopic, "logs", "User:bob", OpWrite, PermAllow),
		pre(ResTopic, "lo", "User:bob", OpWrite, PermDeny),
		lit(ResTopic, "x", "User:carol", OpWrite, PermAllow),
		lit(ResTopic, "*", "User:carol", OpWrite, PermDeny),
	}, nil, false)
	for p, want := range map[string]bool{"User:alice": true, "User:bob": false, "User:carol": false, "User:dan": false} {
		if got := a.AuthorizeAny(p, "h", OpWrite, ResTopic); got != want {
			t.Errorf("%s: %v, want %v", p, got, want)
		}
	}
	if !New(nil, nil, true).AuthorizeAny("User:x", "h", OpWrite, ResTopic) {
		t.Error("no ACLs with allow.everyone.if.no.acl.found")
	}
}

// TestFilter: Kafka's AclBindingFilter.matches, MATCH included, and the filters Kafka refuses.
func TestFilter(t *testing.T) {
	s := func(v string) *string { return &v }
	any := Filter{ResourceType: ResAny, Pattern: PatAny, Operation: OpAny, Permission: PermAny}
	b1 := lit(ResTopic, "orders", "User:alice", OpRead, PermAllow)
	b2 := lit(ResTopic, "*", "User:bob", OpWrite, PermDeny)
	b3 := pre(ResTopic, "ord", "User:alice", OpWrite, PermAllow)
	b4 := lit(ResGroup, "orders", "User:alice", OpRead, PermAllow)
	all := []Binding{b1, b2, b3, b4}
	count := func(f Filter) int {
		n := 0
		for _, b := range all {
			if f.Matches(b) {
				n++
			}
		}
		return n
	}
	f := any
	if count(f) != 4 {
		t.Error("ANY")
	}
	f.Name = s("orders")
	if count(f) != 2 { // b1 and b4: ANY compares the name exactly
		t.Errorf("ANY orders: %d", count(f))
	}
	f.Pattern = PatMatch
	f.ResourceType = ResTopic
	if count(f) != 3 { // b1, b2 (wildcard), b3 (prefix)
		t.Errorf("MATCH orders: %d", count(f))
	}
	f.Pattern = PatLiteral
	if count(f) != 1 {
		t.Errorf("LITERAL orders: %d", count(f))
	}
	f = any
	f.Principal, f.Permission = s("User:alice"), PermAllow
	if count(f) != 3 {
		t.Errorf("alice ALLOW: %d", count(f))
	}
	for _, bad := range []Filter{{ResourceType: ResUnknown, Pattern: PatAny, Operation: OpAny, Permission: PermAny},
		{ResourceType: ResAny, Pattern: PatUnknown, Operation: OpAny, Permission: PermAny},
		{ResourceType: ResAny, Pattern: PatAny, Operation: OpUnknown, Permission: PermAny},
		{ResourceType: ResAny, Pattern: PatAny, Operation: OpAny, Permission: 9}} {
		if bad.Validate() == nil {
			t.Errorf("%+v passed", bad)
		}
	}
	if any.Validate() != nil {
		t.Error("ANY filter refused")
	}
}

// TestValidate: Kafka's refusals of a new binding.
func TestValidate(t *testing.T) {
	good := lit(ResTopic, "t", "User:alice", OpRead, PermAllow)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	mut := []func(*Binding){
		func(b *Binding) { b.ResourceType = ResAny },
		func(b *Binding) { b.Pattern = PatMatch },
		func(b *Binding) { b.Operation = OpAny },
		func(b *Binding) { b.Permission = PermAny },
		func(b *Binding) { b.ResourceType, b.Name = ResCluster, "c" },
		func(b *Binding) { b.Name = "" },
		func(b *Binding) { b.Principal = "alice" },
		func(b *Binding) { b.Host = "" },
	}
	for i, m := range mut {
		b := good
		m(&b)
		if b.Validate() == nil {
			t.Errorf("mutation %d passed: %+v", i, b)
		}
	}
}

// BenchmarkAuthorize: one check against 1,000 ACLs (literal, prefixed and wildcard ones over
// 300 topics and 20 principals, of which the checked resource has a few).
func BenchmarkAuthorize(b *testing.B) {
	var bs []Binding
	for i := 0; len(bs) < 1000; i++ {
		p := fmt.Sprintf("User:u%d", i%20)
		switch i % 4 {
		case 0, 1:
			bs = append(bs, lit(ResTopic, fmt.Sprintf("topic-%d", i%300), p, Operation(3+i%5), PermAllow))
		case 2:
			bs = append(bs, pre(ResTopic, fmt.Sprintf("team-%d-", i%50), p, OpWrite, PermAllow))
		default:
			bs = append(bs, lit(ResGroup, fmt.Sprintf("group-%d", i%100), p, OpRead, PermAllow))
		}
	}
	bs = append(bs, lit(ResTopic, "*", "User:*", OpDescribe, PermAllow), pre(ResTopic, "team-7-secret", "User:*", OpWrite, PermDeny))
	a := New(bs, []string{"User:admin"}, false)
	names := []string{"topic-17", "team-7-orders", "team-7-secret-x", "nothing-here"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a.Authorize("User:u7", "10.1.2.3", OpWrite, ResTopic, names[i%len(names)])
	}
}
