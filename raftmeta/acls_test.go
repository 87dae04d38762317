package raftmeta

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// TestACLs: adds and removes apply copy-on-write and keep the list sorted and unique, survive
// the log encoding, a snapshot and RestoreTopics, and are cleared by ResetCluster; a binding
// the authorizer could not read is refused without touching the State.
func TestACLs(t *testing.T) {
	read := ACL{ResourceType: 2, ResourceName: "orders", PatternType: 3, Principal: "User:alice", Host: "*", Operation: 3, Permission: 3}
	deny := ACL{ResourceType: 2, ResourceName: "ord", PatternType: 4, Principal: "User:*", Host: "*", Operation: 4, Permission: 2}
	group := ACL{ResourceType: 3, ResourceName: "*", PatternType: 3, Principal: "User:alice", Host: "10.0.0.1", Operation: 2, Permission: 3}
	cmd := AlterACLs{Add: []ACL{group, read, deny, read}}
	b, err := EncodeCommand(cmd)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := DecodeCommand(b)
	if err != nil || !reflect.DeepEqual(dec, cmd) {
		t.Fatalf("round trip: %v %+v", err, dec)
	}
	s0 := emptyState()
	s1, res := apply(s0, 1, dec)
	if res != nil {
		t.Fatal(res)
	}
	if want := []ACL{deny, read, group}; !reflect.DeepEqual(s1.ACLs, want) {
		t.Fatalf("ACLs %+v, want %+v", s1.ACLs, want)
	}
	s2, res := apply(s1, 2, AlterACLs{Remove: []ACL{deny, {ResourceType: 2, ResourceName: "gone"}}})
	if res != nil || !reflect.DeepEqual(s2.ACLs, []ACL{read, group}) || len(s1.ACLs) != 3 {
		t.Fatalf("remove: %v %+v (previous %+v)", res, s2.ACLs, s1.ACLs)
	}
	var buf bytes.Buffer
	if err := writeState(&buf, s1); err != nil {
		t.Fatal(err)
	}
	s3, err := readState(&buf)
	if err != nil || !reflect.DeepEqual(s3.ACLs, s1.ACLs) {
		t.Fatalf("snapshot: %v %+v", err, s3.ACLs)
	}
	s4, res := apply(s0, 3, s1.RestoreCommand())
	if res != nil || !reflect.DeepEqual(s4.ACLs, s1.ACLs) {
		t.Fatalf("restore: %v %+v", res, s4.ACLs)
	}
	s5, res := apply(s1, 4, ResetCluster{NewIDs: map[string][16]byte{}})
	if err, _ := res.(error); err != nil || len(s5.ACLs) != 0 {
		t.Fatalf("reset kept %+v (%v)", s5.ACLs, res)
	}
	bad := read
	bad.PatternType = 1 // ANY is a filter, never a binding
	s6, res := apply(s2, 5, AlterACLs{Add: []ACL{group, bad}})
	if err, _ := res.(error); !errors.Is(err, ErrInvalidCommand) || !reflect.DeepEqual(s6.ACLs, s2.ACLs) {
		t.Fatalf("bad pattern: %v %+v", res, s6.ACLs)
	}
}
