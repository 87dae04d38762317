package minikraft

import "syscall"

// tmpfsMagic is Linux's f_type of a tmpfs (linux/magic.h).
const tmpfsMagic = 0x01021994

// memoryDir is where a fixture keeps its data when no WithDir says otherwise: /dev/shm when it
// is a tmpfs with at least minMemoryDirFree bytes free. A fixture never fsyncs, and KillNode
// kills a node, not the machine, so data in memory loses nothing a test can observe, while
// every file a test's topics create, truncate and delete costs microseconds instead of the
// milliseconds of a journaled disk under load.
func memoryDir() string {
	var st syscall.Statfs_t
	if err := syscall.Statfs("/dev/shm", &st); err != nil {
		return ""
	}
	if int64(st.Type) != tmpfsMagic || uint64(st.Bavail)*uint64(st.Bsize) < minMemoryDirFree {
		return ""
	}
	return "/dev/shm"
}
