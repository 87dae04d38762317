package broker

// DescribeGroups (key 15), versions 0–5.
//
// State, protocol and members (with their metadata and assignment) of each named group.

func init() { register(15, 0, 5, groupAPI) }
