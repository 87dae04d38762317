package broker

// Heartbeat (key 12), versions 0–4.
//
// Keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.

func init() { register(12, 0, 4, groupAPI) }
