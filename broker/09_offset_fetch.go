package broker

// OffsetFetch (key 9), versions 0–8.
//
// Committed offsets of one group (v0–7) or several (v8+, Groups). A group or partition without a
// commit gets offset -1 and no error, as in Kafka.

func init() { register(9, 0, 8, groupAPI) }
