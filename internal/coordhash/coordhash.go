// Package coordhash is how Kafka maps a coordinator key (a group id, a transactional id) to a
// partition of its internal topic, shared by the group and transaction coordinators.
package coordhash

import "math"

// Partition is Kafka's Utils.abs(key.hashCode) % numPartitions, where hashCode is Java's
// String.hashCode over UTF-16 code units and Utils.abs is Math.abs except that
// Integer.MIN_VALUE gives 0 (not x & 0x7fffffff, which is Utils.toPositive, the producer
// partitioner's: they differ for every negative hash). Zero partitions give 0.
func Partition(key string, numPartitions int) int32 {
	if numPartitions <= 0 {
		return 0
	}
	var h int32
	for _, r := range key {
		if r >= 0x10000 { // a surrogate pair in UTF-16
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	abs := int64(h)
	switch {
	case h == math.MinInt32:
		abs = 0
	case h < 0:
		abs = -abs
	}
	return int32(abs % int64(numPartitions))
}
