package raftmeta

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// TestScramCredentials: upserts and deletes apply copy-on-write, survive the log encoding and a
// snapshot, and an incomplete credential is refused without touching the State.
func TestScramCredentials(t *testing.T) {
	cred := ScramCredential{Salt: []byte("salt"), StoredKey: []byte("stored"), ServerKey: []byte("server"), Iterations: 4096}
	s0 := emptyState()
	cmd := AlterScramCredentials{Upsert: []ScramEntry{
		{Key: ScramKey{User: "alice", Mechanism: ScramSHA256}, Credential: cred},
		{Key: ScramKey{User: "alice", Mechanism: ScramSHA512}, Credential: cred},
		{Key: ScramKey{User: "bob", Mechanism: ScramSHA256}, Credential: cred},
	}}
	b, err := EncodeCommand(cmd)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := DecodeCommand(b)
	if err != nil || !reflect.DeepEqual(dec, cmd) {
		t.Fatalf("round trip: %v %+v", err, dec)
	}
	s1, res := apply(s0, 1, dec)
	if res != nil {
		t.Fatal(res)
	}
	if got, ok := s1.Scram("alice", ScramSHA512); !ok || !reflect.DeepEqual(got, cred) {
		t.Fatalf("alice: %+v %v", got, ok)
	}
	if len(s0.ScramCredentials) != 0 {
		t.Fatal("apply wrote into the previous State")
	}
	s2, res := apply(s1, 2, AlterScramCredentials{Delete: []ScramKey{{User: "alice", Mechanism: ScramSHA256}}})
	if res != nil {
		t.Fatal(res)
	}
	if _, ok := s2.Scram("alice", ScramSHA256); ok || len(s2.ScramCredentials) != 2 || len(s1.ScramCredentials) != 3 {
		t.Fatalf("delete: %+v", s2.ScramCredentials)
	}
	var buf bytes.Buffer
	if err := writeState(&buf, s2); err != nil {
		t.Fatal(err)
	}
	s3, err := readState(&buf)
	if err != nil || !reflect.DeepEqual(s3.ScramCredentials, s2.ScramCredentials) {
		t.Fatalf("snapshot: %v %+v", err, s3.ScramCredentials)
	}
	s5, res := apply(s2, 4, ResetCluster{NewIDs: map[string][16]byte{}})
	if err, _ := res.(error); err != nil || len(s5.ScramCredentials) != 0 {
		t.Fatalf("reset kept %+v (%v)", s5.ScramCredentials, res)
	}
	s4, res := apply(s2, 3, AlterScramCredentials{Upsert: []ScramEntry{{Key: ScramKey{User: "carol", Mechanism: 3}, Credential: cred}}})
	if err, _ := res.(error); !errors.Is(err, ErrInvalidCommand) || len(s4.ScramCredentials) != 2 {
		t.Fatalf("bad mechanism: %v", res)
	}
}
