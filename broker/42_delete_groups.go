package broker

// DeleteGroups (key 42), versions 0–2.
//
// Deletes empty groups and their offsets (NON_EMPTY_GROUP while members remain).

import "github.com/minikraft/minikraft/broker/group"

func init() { register(42, 0, 2, groupAPI((*group.Coordinator).DeleteGroups)) }
