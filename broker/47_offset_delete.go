package broker

// OffsetDelete (key 47), version 0.
//
// Deletes a group's offsets for some partitions, refused (GROUP_SUBSCRIBED_TO_TOPIC) for topics an
// active consumer group still subscribes to.

func init() { register(47, 0, 0, groupAPI) }
