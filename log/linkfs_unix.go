//go:build unix

package log

import (
	"io/fs"
	"syscall"
)

const linkCountKnown = true

// linkCount is the number of hard links of the file fi describes (1 if unknown).
func linkCount(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}
