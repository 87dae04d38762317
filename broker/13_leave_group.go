package broker

// LeaveGroup (key 13), versions 0–5.
//
// Removes members (one before v3, a batch from v3) and rebalances the rest.

func init() { register(13, 0, 5, groupAPI) }
