package broker

// SyncGroup (key 14), versions 0–5.
//
// The leader hands in the assignment; every member waits for and receives its own part.

func init() { register(14, 0, 5, groupAPI) }
