//go:build !race

package minikraft_test

const raceEnabled = false
