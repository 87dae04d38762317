//go:build !unix

package log

import "io/fs"

const linkCountKnown = false

// linkCount is 1 where the link count is not known (see LinkedFilesSafe).
func linkCount(fs.FileInfo) uint64 { return 1 }
