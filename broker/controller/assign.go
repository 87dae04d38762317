package controller

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

// Assign places numPartitions new partitions with rf replicas each on brokers (sorted ids of the
// live, unfenced brokers), continuing from partition id firstPartition. It follows Kafka's
// rack-unaware placement (AdminUtils.assignReplicasToBrokers): leaders go round-robin from a
// random start, and each partition's followers are shifted by an amount that changes every time
// the round-robin wraps, so replicas spread evenly and no two partitions repeat one follower
// order.
func Assign(brokers []int32, numPartitions, rf, firstPartition int, rnd *rand.Rand) ([][]int32, error) {
	n := len(brokers)
	if numPartitions <= 0 {
		return nil, fmt.Errorf("%w: Number of partitions must be larger than 0.", ErrInvalidPartitions)
	}
	if rf <= 0 {
		return nil, ErrInvalidReplicationFactor
	}
	if rf > n {
		return nil, ErrInvalidReplicationFactor
	}
	brokers = slices.Clone(brokers)
	slices.Sort(brokers)
	start := rnd.IntN(n)
	shift := rnd.IntN(n)
	out := make([][]int32, 0, numPartitions)
	for i := 0; i < numPartitions; i++ {
		pid := firstPartition + i
		if pid > 0 && pid%n == 0 {
			shift++
		}
		first := (pid + start) % n
		replicas := []int32{brokers[first]}
		for j := 0; j < rf-1; j++ {
			replicas = append(replicas, brokers[replicaIndex(first, shift, j, n)])
		}
		out = append(out, replicas)
	}
	return out, nil
}

func replicaIndex(first, shift, j, n int) int {
	s := 1 + (shift+j)%(n-1)
	return (first + s) % n
}
