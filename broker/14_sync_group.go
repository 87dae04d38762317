package broker

// SyncGroup (key 14), versions 0–5.
//
// The leader hands in the assignment; every member waits for and receives its own part.

import "github.com/minikraft/minikraft/broker/group"

func init() { register(14, 0, 5, groupAPI((*group.Coordinator).SyncGroup)) }
