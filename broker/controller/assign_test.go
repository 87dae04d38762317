package controller

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func seeded(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// zeroStart is a source whose every IntN(n) (n < 2^20) is 0: Assign then starts at the first
// broker with no extra follower shift, which is Kafka's assignReplicasToBrokers with
// fixedStartIndex 0. (A source of all zero bits would spin in rand's unbiasing loop.)
type zeroStart struct{}

func (zeroStart) Uint64() uint64 { return 1 << 20 }

func brokerIDs(n int) []int32 {
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(i)
	}
	return ids
}

func mustAssign(t *testing.T, brokers []int32, partitions, rf, first int, rnd *rand.Rand) [][]int32 {
	t.Helper()
	got, err := Assign(brokers, partitions, rf, first, rnd)
	if err != nil {
		t.Fatalf("Assign(%v, %d, %d, %d): %v", brokers, partitions, rf, first, err)
	}
	if len(got) != partitions {
		t.Fatalf("Assign(%v, %d, %d, %d) placed %d partitions", brokers, partitions, rf, first, len(got))
	}
	return got
}

// Kafka's AdminUtilsTest.testReplicaAssignment: 5 brokers, 10 partitions, RF 3, fixed start 0.
func TestAssignMatchesKafka(t *testing.T) {
	want := [][]int32{
		{0, 1, 2}, {1, 2, 3}, {2, 3, 4}, {3, 4, 0}, {4, 0, 1},
		{0, 2, 3}, {1, 3, 4}, {2, 4, 0}, {3, 0, 1}, {4, 1, 2},
	}
	got := mustAssign(t, brokerIDs(5), 10, 3, 0, rand.New(zeroStart{}))
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("Assign = %v\nwant (Kafka) %v", got, want)
	}
	// Continuing at partition 10 (CreatePartitions) with the same start: Kafka's
	// assignReplicasToBrokers(brokers, 5, 3, fixedStartIndex 0, startPartitionId 10) bumps the
	// shift once, at partition 10.
	got = mustAssign(t, brokerIDs(5), 5, 3, 10, rand.New(zeroStart{}))
	if !slices.EqualFunc(got, want[5:], slices.Equal) {
		t.Fatalf("Assign from partition 10 = %v\nwant (Kafka) %v", got, want[5:])
	}
}

func TestAssignDeterministicGivenSeed(t *testing.T) {
	brokers := []int32{3, 9, 4, 12, 7}
	a := mustAssign(t, brokers, 17, 3, 0, seeded(42))
	b := mustAssign(t, brokers, 17, 3, 0, seeded(42))
	if !slices.EqualFunc(a, b, slices.Equal) {
		t.Fatalf("same seed, different placements:\n%v\n%v", a, b)
	}
	// The order the brokers are listed in does not matter, and the input is left alone.
	shuffled := []int32{12, 7, 3, 4, 9}
	c := mustAssign(t, shuffled, 17, 3, 0, seeded(42))
	if !slices.EqualFunc(a, c, slices.Equal) {
		t.Fatalf("broker order changed the placement:\n%v\n%v", a, c)
	}
	if !slices.Equal(shuffled, []int32{12, 7, 3, 4, 9}) {
		t.Fatalf("Assign reordered its input: %v", shuffled)
	}
	// The start is random: over a few seeds, partition 0 lands on more than one broker.
	leaders := map[int32]bool{}
	for seed := range uint64(20) {
		leaders[mustAssign(t, brokers, 1, 1, 0, seeded(seed))[0][0]] = true
	}
	if len(leaders) < 2 {
		t.Fatalf("20 seeds all put partition 0 on %v", leaders)
	}
}

func TestAssignSpreadsReplicasAndLeaders(t *testing.T) {
	for n := 1; n <= 6; n++ {
		brokers := make([]int32, n)
		for i := range brokers {
			brokers[i] = int32(10 + 3*i) // non-contiguous ids
		}
		for rf := 1; rf <= n; rf++ {
			for _, parts := range []int{1, n - 1, n, n + 1, 3 * n, n*(n-1) + 1} {
				if parts <= 0 {
					continue
				}
				for seed := range uint64(5) {
					name := fmt.Sprintf("brokers=%d rf=%d partitions=%d seed=%d", n, rf, parts, seed)
					got := mustAssign(t, brokers, parts, rf, 0, seeded(seed))
					leaders := map[int32]int{}
					replicas := map[int32]int{}
					for pid, rs := range got {
						if len(rs) != rf {
							t.Fatalf("%s: partition %d has replicas %v, want %d", name, pid, rs, rf)
						}
						seen := map[int32]bool{}
						for _, r := range rs {
							if !slices.Contains(brokers, r) || seen[r] {
								t.Fatalf("%s: partition %d has replicas %v", name, pid, rs)
							}
							seen[r] = true
							replicas[r]++
						}
						leaders[rs[0]]++
					}
					// Leaders go round-robin: counts differ by at most one.
					lo, hi := parts, 0
					for _, b := range brokers {
						lo, hi = min(lo, leaders[b]), max(hi, leaders[b])
					}
					if hi-lo > 1 {
						t.Fatalf("%s: leaders per broker %v", name, leaders)
					}
					// In every full round of n partitions each broker holds rf replicas.
					if parts%n == 0 {
						for _, b := range brokers {
							if replicas[b] != parts*rf/n {
								t.Fatalf("%s: replicas per broker %v, want %d each", name, replicas, parts*rf/n)
							}
						}
					}
				}
			}
		}
	}
}

// CreatePartitions places the new partitions continuing the partition ids: the leaders carry on
// the round-robin where the existing partitions left it, given the same start.
func TestAssignContinuesFromFirstPartition(t *testing.T) {
	brokers := brokerIDs(4)
	all := mustAssign(t, brokers, 11, 2, 0, seeded(7))
	more := mustAssign(t, brokers, 8, 2, 3, seeded(7))
	for i, rs := range more {
		if rs[0] != all[3+i][0] {
			t.Fatalf("partition %d: leader %d when added later, %d when created at once", 3+i, rs[0], all[3+i][0])
		}
		if len(rs) != 2 || rs[0] == rs[1] {
			t.Fatalf("partition %d: replicas %v", 3+i, rs)
		}
	}
	// Below the first wrap the shift has not moved yet, so the placements are identical.
	if got := mustAssign(t, brokers, 2, 2, 1, seeded(7)); !slices.EqualFunc(got, all[1:3], slices.Equal) {
		t.Fatalf("partitions 1-2 added later = %v, created at once = %v", got, all[1:3])
	}
}

func TestAssignInvalidReplicationFactor(t *testing.T) {
	for _, c := range []struct {
		brokers []int32
		rf      int
	}{
		{brokerIDs(3), 4},
		{brokerIDs(3), 0},
		{brokerIDs(3), -1},
		{nil, 1},
	} {
		if _, err := Assign(c.brokers, 3, c.rf, 0, seeded(1)); !errors.Is(err, ErrInvalidReplicationFactor) {
			t.Fatalf("Assign(%v, rf %d) = %v, want ErrInvalidReplicationFactor", c.brokers, c.rf, err)
		}
	}
	if got := mustAssign(t, brokerIDs(3), 3, 3, 0, seeded(1)); len(got) != 3 {
		t.Fatalf("rf = brokers: %v", got)
	}
}

// Kafka's assignReplicasToBrokers refuses a non-positive partition count with
// InvalidPartitionsException; Assign must return an error, not panic.
func TestAssignInvalidPartitionCount(t *testing.T) {
	for _, parts := range []int{0, -1} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("Assign with %d partitions panicked: %v", parts, r)
				}
			}()
			if _, err := Assign(brokerIDs(3), parts, 1, 0, seeded(1)); !errors.Is(err, ErrInvalidPartitions) {
				t.Errorf("Assign with %d partitions = %v, want ErrInvalidPartitions", parts, err)
			}
		}()
	}
}

func TestAssignRackAwareSpreadsRacks(t *testing.T) {
	rack := map[int32]string{0: "a", 1: "a", 2: "b", 3: "b", 4: "c", 5: "c"}
	for seed := uint64(0); seed < 20; seed++ {
		rnd := rand.New(rand.NewPCG(seed, seed))
		got, err := AssignRackAware(rack, 12, 3, 0, rnd)
		if err != nil {
			t.Fatal(err)
		}
		leaders := map[int32]int{}
		for p, replicas := range got {
			racks := map[string]bool{}
			for _, r := range replicas {
				racks[rack[r]] = true
			}
			if len(racks) != 3 {
				t.Fatalf("seed %d partition %d: replicas %v span racks %v, want 3 racks", seed, p, replicas, racks)
			}
			leaders[replicas[0]]++
		}
		for id := range rack {
			if leaders[id] != 2 {
				t.Fatalf("seed %d: leaders %v not spread evenly", seed, leaders)
			}
		}
	}
	// Fewer racks than replicas: every rack first, then distinct brokers.
	got, err := AssignRackAware(map[int32]string{0: "a", 1: "a", 2: "b"}, 3, 3, 0, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	for _, replicas := range got {
		seen := map[int32]bool{}
		for _, r := range replicas {
			if seen[r] {
				t.Fatalf("broker twice in %v", replicas)
			}
			seen[r] = true
		}
	}
}
