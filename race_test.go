//go:build race

package minikraft_test

// raceEnabled: the race detector slows CPU-bound work several times over; tests leave out cases
// whose only cost is CPU (decompression bombs) and that other packages cover.
const raceEnabled = true
