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

// AssignRackAware places replicas like Assign, but when brokers have racks (rack maps every
// broker id to its rack, "" for none) it follows Kafka's rack-aware placement
// (AdminUtils.assignReplicasToBrokersRackAware): brokers are ordered alternating between racks,
// and each partition's replicas go to distinct racks before any rack gets a second one, and to
// distinct brokers always. With no racks at all it is Assign.
func AssignRackAware(rack map[int32]string, numPartitions, rf, firstPartition int, rnd *rand.Rand) ([][]int32, error) {
	brokers := make([]int32, 0, len(rack))
	racks := map[string]bool{}
	for id, r := range rack {
		brokers = append(brokers, id)
		if r != "" {
			racks[r] = true
		}
	}
	if len(racks) == 0 {
		return Assign(brokers, numPartitions, rf, firstPartition, rnd)
	}
	if numPartitions <= 0 {
		return nil, fmt.Errorf("%w: Number of partitions must be larger than 0.", ErrInvalidPartitions)
	}
	n := len(brokers)
	if rf <= 0 || rf > n {
		return nil, ErrInvalidReplicationFactor
	}
	arranged := rackAlternated(rack)
	numRacks := len(rackSet(rack))
	start := rnd.IntN(n)
	shift := rnd.IntN(n)
	out := make([][]int32, 0, numPartitions)
	for i := 0; i < numPartitions; i++ {
		pid := firstPartition + i
		if pid > 0 && pid%n == 0 {
			shift++
		}
		first := (pid + start) % n
		leader := arranged[first]
		replicas := []int32{leader}
		usedRacks := map[string]bool{rack[leader]: true}
		usedBrokers := map[int32]bool{leader: true}
		for k := 0; len(replicas) < rf; k++ {
			b := arranged[replicaIndex(first, shift*numRacks, k, n)]
			r := rack[b]
			// Skip a broker whose rack already has a replica while another rack has none,
			// and a broker that already has one while another broker has none.
			if (!usedRacks[r] || len(usedRacks) == numRacks) && (!usedBrokers[b] || len(usedBrokers) == n) {
				replicas = append(replicas, b)
				usedRacks[r] = true
				usedBrokers[b] = true
			}
		}
		out = append(out, replicas)
	}
	return out, nil
}

func rackSet(rack map[int32]string) map[string][]int32 {
	byRack := map[string][]int32{}
	for id, r := range rack {
		byRack[r] = append(byRack[r], id)
	}
	return byRack
}

// rackAlternated orders brokers taking one from each rack in turn (racks and the brokers in each
// sorted), Kafka's getRackAlternatedBrokerList.
func rackAlternated(rack map[int32]string) []int32 {
	byRack := rackSet(rack)
	names := make([]string, 0, len(byRack))
	for r, ids := range byRack {
		slices.Sort(ids)
		names = append(names, r)
	}
	slices.Sort(names)
	out := make([]int32, 0, len(rack))
	next := make(map[string]int, len(names))
	for i := 0; len(out) < len(rack); i = (i + 1) % len(names) {
		r := names[i]
		if next[r] < len(byRack[r]) {
			out = append(out, byRack[r][next[r]])
			next[r]++
		}
	}
	return out
}
