// Package acl is Kafka's StandardAuthorizer without IO: the ACL vocabulary (resource, pattern,
// operation and permission types in Kafka's numbering), bindings and the filters of
// DescribeAcls / DeleteAcls (Kafka's AclBindingFilter.matches), and an immutable Authorizer
// built from a set of bindings, the super users and allow.everyone.if.no.acl.found.
//
// # The rules (StandardAuthorizerData)
//
//   - A super user is allowed everything, before any ACL is looked at.
//   - The ACLs that apply to a resource are those of its type whose pattern matches its name: a
//     LITERAL pattern with the same name, a LITERAL pattern named "*" (any name), and every
//     PREFIXED pattern that is a prefix of the name.
//   - Of those, an ACL decides if its principal is the request's or User:*, its host is the
//     client's address or "*", and its operation is the one asked or ALL. An ALLOW ACL also
//     covers the operations it implies: DESCRIBE by READ, WRITE, DELETE and ALTER;
//     DESCRIBE_CONFIGS by ALTER_CONFIGS. A DENY ACL covers only its own operation (or ALL): a
//     DENY READ does not deny DESCRIBE.
//   - One deciding DENY denies, whatever ALLOWs there are; else one deciding ALLOW allows.
//   - If no ACL applies to the resource at all (for any principal), the answer is
//     allow.everyone.if.no.acl.found (default false); if some apply but none decides, denied.
//
// # The index
//
// A check must cost well under a microsecond with thousands of ACLs (it runs for every
// partition of every request). The Authorizer groups bindings per resource type into a map of
// literal names, one wildcard bucket, and a map of prefixes with the sorted list of their
// distinct lengths; each bucket maps a principal to its entries. A check is then one map
// lookup per distinct prefix length plus two, and looks only at the entries of the request's
// principal and of User:*, without allocating. BenchmarkAuthorize measures it.
package acl
