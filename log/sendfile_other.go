//go:build !linux

package log

import "syscall"

// sendfile is Linux-only here; elsewhere file ranges are copied.
func sendfile(_, _ syscall.Conn, _ *filePin, _ int64) (int64, error) { return 0, nil }
