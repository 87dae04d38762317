//go:build !linux

package minikraft

// memoryDir is "" where there is no /dev/shm to find: the fixture's data goes to os.TempDir().
func memoryDir() string { return "" }
