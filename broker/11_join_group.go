package broker

// JoinGroup (key 11), versions 0–9.
//
// Joins a member to a group and waits for the rebalance to complete. From v4 a member without an
// id is first sent MEMBER_ID_REQUIRED with one to use; group.instance.id (v5+) makes the member
// static.

func init() { register(11, 0, 9, groupAPI) }
