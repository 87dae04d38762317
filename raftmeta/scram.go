package raftmeta

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
)

// SCRAM credentials (KIP-554): what AlterUserScramCredentials stores and the brokers' SCRAM
// authenticators read. Only the derived keys are kept, never a password: the client sends the
// salted password and the broker derives StoredKey and ServerKey (RFC 5802) before proposing.

// ScramMechanism numbers, as Kafka's ScramMechanism enum (AlterUserScramCredentials' Mechanism).
const (
	ScramSHA256 int8 = 1
	ScramSHA512 int8 = 2
)

// ScramKey names one credential: a user's credential for one mechanism.
type ScramKey struct {
	User      string
	Mechanism int8
}

// ScramCredential is a user's SCRAM credential for one mechanism.
type ScramCredential struct {
	Salt       []byte
	StoredKey  []byte
	ServerKey  []byte
	Iterations int32
}

// ScramEntry is one credential with its key, as commands and snapshots list them.
type ScramEntry struct {
	Key        ScramKey
	Credential ScramCredential
}

// AlterScramCredentials upserts and deletes SCRAM credentials. The broker has validated every
// entry (Kafka's rules: known mechanism, iteration bounds, no user twice, deletions of existing
// credentials); apply only refuses what would corrupt the State. Result: nil.
type AlterScramCredentials struct {
	Upsert []ScramEntry `json:",omitempty"`
	Delete []ScramKey   `json:",omitempty"`
}

func (AlterScramCredentials) op() byte { return opAlterScramCredentials }

// Scram returns a user's credential for a mechanism.
func (s *State) Scram(user string, mechanism int8) (ScramCredential, bool) {
	c, ok := s.ScramCredentials[ScramKey{User: user, Mechanism: mechanism}]
	return c, ok
}

func (s *State) alterScramCredentials(c AlterScramCredentials) error {
	m := cloneMap(s.ScramCredentials)
	for _, k := range c.Delete {
		delete(m, k)
	}
	for _, e := range c.Upsert {
		switch {
		case e.Key.User == "":
			return fmt.Errorf("%w: SCRAM credential without a user", ErrInvalidCommand)
		case e.Key.Mechanism != ScramSHA256 && e.Key.Mechanism != ScramSHA512:
			return fmt.Errorf("%w: SCRAM mechanism %d", ErrInvalidCommand, e.Key.Mechanism)
		case e.Credential.Iterations <= 0 || len(e.Credential.StoredKey) == 0 || len(e.Credential.ServerKey) == 0:
			return fmt.Errorf("%w: incomplete SCRAM credential for %q", ErrInvalidCommand, e.Key.User)
		}
		m[e.Key] = e.Credential
	}
	s.ScramCredentials = m
	return nil
}

// scramEntries lists the credentials sorted by user and mechanism, for snapshots.
func scramEntries(m map[ScramKey]ScramCredential) []ScramEntry {
	keys := slices.SortedFunc(maps.Keys(m), func(a, b ScramKey) int {
		return cmp.Or(cmp.Compare(a.User, b.User), cmp.Compare(a.Mechanism, b.Mechanism))
	})
	out := make([]ScramEntry, 0, len(keys))
	for _, k := range keys {
		out = append(out, ScramEntry{Key: k, Credential: m[k]})
	}
	return out
}
