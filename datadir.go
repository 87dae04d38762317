package minikraft

import (
	"os"
)

// minMemoryDirFree is the free space a tmpfs must have before the fixture puts its data there:
// a container's default /dev/shm (64 MiB) is too small for a test that writes much.
const minMemoryDirFree = 1 << 30

// newDataDir makes a temporary directory for a cluster's data, on a tmpfs when memoryDir finds
// one, else in os.TempDir(). The caller removes it.
func newDataDir() (string, error) {
	if root := memoryDir(); root != "" {
		if dir, err := os.MkdirTemp(root, "minikraft-"); err == nil {
			return dir, nil
		}
	}
	return os.MkdirTemp("", "minikraft-")
}
