package raftmeta

import (
	"cmp"
	"fmt"
	"slices"
)

// ACLs (Kafka's StandardAuthorizer keeps them in the metadata log as AccessControlEntryRecord):
// what CreateAcls adds and DeleteAcls removes, and what every broker's authorizer reads. The
// broker validates each binding (Kafka's AclControlManager rules) and resolves DeleteAcls'
// filters against the State into the exact bindings to remove before proposing, so apply only
// adds and removes whole bindings and refuses what would corrupt the State.

// ACL is one access control binding, in Kafka's numbering: ResourceType (2 topic, 3 group,
// 4 cluster, 5 transactional id, 6 delegation token, 7 user), PatternType (3 literal,
// 4 prefixed), Operation (2 ALL ... 14), Permission (2 DENY, 3 ALLOW). Two bindings with the
// same fields are the same ACL: the State holds each at most once.
type ACL struct {
	ResourceType int8
	ResourceName string
	PatternType  int8
	Principal    string
	Host         string
	Operation    int8
	Permission   int8
}

// AlterACLs adds and removes ACLs. Adding one that exists and removing one that does not are
// no-ops (Kafka's CreateAcls of an existing binding succeeds; the controller resolved the
// removals from the State it proposed on, which a concurrent removal may have changed).
// Result: nil.
type AlterACLs struct {
	Add    []ACL `json:",omitempty"`
	Remove []ACL `json:",omitempty"`
}

func (AlterACLs) op() byte { return opAlterACLs }

// compareACL orders ACLs field by field: State.ACLs is sorted by it, so snapshots and the
// State are a pure function of the log.
func compareACL(a, b ACL) int {
	return cmp.Or(
		cmp.Compare(a.ResourceType, b.ResourceType),
		cmp.Compare(a.ResourceName, b.ResourceName),
		cmp.Compare(a.PatternType, b.PatternType),
		cmp.Compare(a.Principal, b.Principal),
		cmp.Compare(a.Host, b.Host),
		cmp.Compare(a.Operation, b.Operation),
		cmp.Compare(a.Permission, b.Permission),
	)
}

// checkACL refuses a binding no broker would have proposed: the authorizer could not tell what
// it means.
func checkACL(a ACL) error {
	switch {
	case a.ResourceType < 2 || a.ResourceType > 7:
		return fmt.Errorf("%w: ACL resource type %d", ErrInvalidCommand, a.ResourceType)
	case a.PatternType != 3 && a.PatternType != 4:
		return fmt.Errorf("%w: ACL pattern type %d", ErrInvalidCommand, a.PatternType)
	case a.Operation < 2 || a.Operation > 14:
		return fmt.Errorf("%w: ACL operation %d", ErrInvalidCommand, a.Operation)
	case a.Permission != 2 && a.Permission != 3:
		return fmt.Errorf("%w: ACL permission %d", ErrInvalidCommand, a.Permission)
	case a.ResourceName == "" || a.Principal == "" || a.Host == "":
		return fmt.Errorf("%w: ACL with an empty resource name, principal or host", ErrInvalidCommand)
	}
	return nil
}

func (s *State) alterACLs(c AlterACLs) error {
	for _, a := range c.Add {
		if err := checkACL(a); err != nil {
			return err
		}
	}
	out := slices.Clone(s.ACLs) // a new slice even when nothing changes: readers key caches on it
	for _, a := range c.Remove {
		if i, ok := slices.BinarySearchFunc(out, a, compareACL); ok {
			out = slices.Delete(out, i, i+1)
		}
	}
	for _, a := range c.Add {
		if i, ok := slices.BinarySearchFunc(out, a, compareACL); !ok {
			out = slices.Insert(out, i, a)
		}
	}
	s.ACLs = out
	return nil
}

// setACLs replaces the ACLs with acls (a snapshot's or RestoreTopics'), sorted and deduplicated.
func (s *State) setACLs(acls []ACL) error {
	for _, a := range acls {
		if err := checkACL(a); err != nil {
			return err
		}
	}
	out := slices.Clone(acls)
	slices.SortFunc(out, compareACL)
	s.ACLs = slices.CompactFunc(out, func(a, b ACL) bool { return compareACL(a, b) == 0 })
	return nil
}
