//go:build linux

package log

import (
	"os"
	"syscall"
)

// maxSendfile bounds one sendfile call, as Go's own sendfile loop does.
const maxSendfile = 4 << 20

// sendfile sends the pinned range from done on from src (the segment file)
// to dst with sendfile(2), positionally (the file's own offset is never
// used), waiting for dst to be writable through the runtime poller between
// calls. It returns what it sent; it stops early without an error when
// sendfile cannot serve this pair of descriptors (EINVAL, ENOSYS,
// EOPNOTSUPP), when the file ends early, or when a truncation copied the
// range into memory: the caller writes the rest itself.
func sendfile(dst, src syscall.Conn, p *filePin, done int64) (int64, error) {
	dc, err := dst.SyscallConn()
	if err != nil {
		return 0, nil
	}
	sc, err := src.SyscallConn()
	if err != nil {
		return 0, nil
	}
	var sent int64
	var serr error
	werr := dc.Write(func(dfd uintptr) bool {
		for done+sent < p.n {
			var n int
			var e error
			stop := false
			cerr := sc.Control(func(sfd uintptr) {
				p.mu.Lock()
				defer p.mu.Unlock()
				if p.mem != nil || p.err != nil {
					stop = true
					return
				}
				off := p.pos + done + sent
				n, e = syscall.Sendfile(int(dfd), int(sfd), &off, int(min(p.n-done-sent, maxSendfile)))
				if n > 0 {
					p.cf.noteSent(off)
				}
			})
			if cerr != nil || stop {
				return true
			}
			if n > 0 {
				sent += int64(n)
				sendfileBytes.Add(int64(n))
			}
			switch e {
			case nil:
				if n == 0 {
					return true // the file ended early
				}
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false // wait until dst is writable, then go on
			case syscall.EINVAL, syscall.ENOSYS, syscall.EOPNOTSUPP:
				return true // not for these descriptors: copy instead
			default:
				serr = os.NewSyscallError("sendfile", e)
				return true
			}
		}
		return true
	})
	if serr == nil {
		serr = werr // a deadline, or dst closed
	}
	return sent, serr
}
