package acl

import (
	"slices"
	"strings"
)

// Authorizer answers Kafka's authorize(principal, host, operation, resource) over a fixed set
// of bindings. It is immutable once built: the broker builds a new one when the metadata's ACLs
// change and may use one from many goroutines at once.
type Authorizer struct {
	super        map[string]bool
	allowIfNoACL bool
	types        [ResUser + 1]*typeIndex
	bindings     []Binding
}

// typeIndex holds the bindings of one resource type.
type typeIndex struct {
	literal    map[string]*bucket // LITERAL patterns but "*", by name
	wildcard   *bucket            // the LITERAL "*" pattern
	prefixed   map[string]*bucket // PREFIXED patterns, by prefix
	prefixLens []int              // the distinct lengths of the prefixes, ascending
}

// bucket holds the entries of one resource pattern, by principal. A bucket exists only with
// at least one entry: its presence means "the resource has ACLs".
type bucket map[string][]entry

type entry struct {
	host string
	op   Operation
	perm Permission
}

// New builds an Authorizer. superUsers are principals ("User:admin") allowed everything;
// allowIfNoACL is allow.everyone.if.no.acl.found. Bindings that do not Validate are ignored
// (the metadata holds only valid ones).
func New(bindings []Binding, superUsers []string, allowIfNoACL bool) *Authorizer {
	a := &Authorizer{super: map[string]bool{}, allowIfNoACL: allowIfNoACL}
	for _, s := range superUsers {
		a.super[s] = true
	}
	for _, b := range bindings {
		if b.Validate() != nil {
			continue
		}
		a.bindings = append(a.bindings, b)
		ti := a.types[b.ResourceType]
		if ti == nil {
			ti = &typeIndex{literal: map[string]*bucket{}, prefixed: map[string]*bucket{}}
			a.types[b.ResourceType] = ti
		}
		var bk *bucket
		switch {
		case b.Pattern == PatLiteral && b.Name == Wildcard:
			if ti.wildcard == nil {
				ti.wildcard = &bucket{}
			}
			bk = ti.wildcard
		case b.Pattern == PatLiteral:
			bk = bucketIn(ti.literal, b.Name)
		default:
			bk = bucketIn(ti.prefixed, b.Name)
			if !slices.Contains(ti.prefixLens, len(b.Name)) {
				ti.prefixLens = append(ti.prefixLens, len(b.Name))
			}
		}
		(*bk)[b.Principal] = append((*bk)[b.Principal], entry{host: b.Host, op: b.Operation, perm: b.Permission})
	}
	for _, ti := range a.types {
		if ti != nil {
			slices.Sort(ti.prefixLens)
		}
	}
	return a
}

// bucketIn returns m's bucket for name, adding an empty one if there is none.
func bucketIn(m map[string]*bucket, name string) *bucket {
	bk := m[name]
	if bk == nil {
		bk = &bucket{}
		m[name] = bk
	}
	return bk
}

// IsSuperUser reports whether principal is one of the super users.
func (a *Authorizer) IsSuperUser(principal string) bool { return a.super[principal] }

// Bindings returns every binding the Authorizer holds (do not modify).
func (a *Authorizer) Bindings() []Binding { return a.bindings }

// Authorize reports whether principal, connected from host (the client's IP address), may do
// op on the resource of type rt named name (ClusterName for the cluster).
func (a *Authorizer) Authorize(principal, host string, op Operation, rt ResourceType, name string) bool {
	if a.super[principal] {
		return true
	}
	if rt < 0 || int(rt) >= len(a.types) || a.types[rt] == nil {
		return a.allowIfNoACL
	}
	ti := a.types[rt]
	var m matcher
	m.principal, m.host, m.op = principal, host, op
	if m.check(ti.literal[name]) {
		return false
	}
	for _, n := range ti.prefixLens {
		if n > len(name) {
			break
		}
		if m.check(ti.prefixed[name[:n]]) {
			return false
		}
	}
	if m.check(ti.wildcard) {
		return false
	}
	switch {
	case m.allowed:
		return true
	case !m.found:
		return a.allowIfNoACL
	}
	return false
}

// matcher accumulates the verdict over the buckets that apply to one resource.
type matcher struct {
	principal, host string
	op              Operation
	found, allowed  bool
}

// check looks at one bucket and reports whether an entry in it denies.
func (m *matcher) check(b *bucket) (denied bool) {
	if b == nil {
		return false
	}
	m.found = true
	for _, e := range (*b)[m.principal] {
		if m.entry(e) {
			return true
		}
	}
	if m.principal != WildcardPrincipal {
		for _, e := range (*b)[WildcardPrincipal] {
			if m.entry(e) {
				return true
			}
		}
	}
	return false
}

// entry applies one entry whose pattern and principal match: true if it denies.
func (m *matcher) entry(e entry) bool {
	if e.host != Wildcard && e.host != m.host {
		return false
	}
	if e.op != OpAll && e.op != m.op {
		if e.perm != PermAllow || !implies(e.op, m.op) {
			return false
		}
	}
	if e.perm == PermDeny {
		return true
	}
	m.allowed = true
	return false
}

// implies reports whether an ALLOW of have grants want besides itself.
func implies(have, want Operation) bool {
	switch want {
	case OpDescribe:
		return have == OpRead || have == OpWrite || have == OpDelete || have == OpAlter
	case OpDescribeConfigs:
		return have == OpAlterConfigs
	}
	return false
}

// AuthorizedOperations is the authorized-operations field of a resource (Metadata,
// DescribeCluster, DescribeGroups): bit n set for each operation n of Supported(rt) that
// principal may do.
func (a *Authorizer) AuthorizedOperations(principal, host string, rt ResourceType, name string) int32 {
	var bits int32
	for _, op := range Supported(rt) {
		if a.Authorize(principal, host, op, rt, name) {
			bits |= 1 << op
		}
	}
	return bits
}

// AuthorizeAny is Kafka's authorizeByResourceType: whether principal may do op on at least one
// resource of type rt (InitProducerId without a transactional id: idempotent writes need WRITE
// on some topic when IDEMPOTENT_WRITE on the cluster is missing, KIP-679). An ALLOW counts
// unless a DENY for the same principal, host and operation covers its pattern: a LITERAL "*"
// DENY covers all, a PREFIXED DENY covers the patterns whose names start with it, a LITERAL
// DENY the same literal name. Without any binding of the type, allow.everyone.if.no.acl.found
// decides.
func (a *Authorizer) AuthorizeAny(principal, host string, op Operation, rt ResourceType) bool {
	if a.super[principal] {
		return true
	}
	decides := func(b Binding) bool {
		return (b.Principal == principal || b.Principal == WildcardPrincipal) &&
			(b.Host == Wildcard || b.Host == host) && (b.Operation == op || b.Operation == OpAll)
	}
	var denyPrefixes, denyLiterals []string
	any := false
	for _, b := range a.bindings {
		if b.ResourceType != rt {
			continue
		}
		any = true
		if b.Permission != PermDeny || !decides(b) {
			continue
		}
		switch {
		case b.Pattern == PatLiteral && b.Name == Wildcard:
			return false
		case b.Pattern == PatLiteral:
			denyLiterals = append(denyLiterals, b.Name)
		default:
			denyPrefixes = append(denyPrefixes, b.Name)
		}
	}
	if !any {
		return a.allowIfNoACL
	}
	for _, b := range a.bindings {
		if b.ResourceType != rt || b.Permission != PermAllow || !decides(b) {
			continue
		}
		covered := slices.ContainsFunc(denyPrefixes, func(p string) bool { return strings.HasPrefix(b.Name, p) }) ||
			(b.Pattern == PatLiteral && slices.Contains(denyLiterals, b.Name))
		if !covered {
			return true
		}
	}
	return false
}
