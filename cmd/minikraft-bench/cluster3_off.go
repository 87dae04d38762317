//go:build !minikraft_cluster

package main

import (
	"fmt"
	"os"
)

// haveCluster is false until the root package's StartCluster exists: the default build must not
// depend on it, so the three-node path lives in cluster3.go behind the minikraft_cluster tag.
const haveCluster = false

func startCluster3(self, dir string) (*server, error) { return nil, errNoCluster }

func clusterServer([]string) int {
	fmt.Fprintln(os.Stderr, "cluster3-server:", errNoCluster)
	return 2
}
