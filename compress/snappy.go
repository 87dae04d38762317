package compress

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/klauspost/compress/s2"
)

// xerialHeader starts snappy data framed by the Java client's
// SnappyOutputStream: magic, version 1, compatible version 1. Blocks
// follow, each a big-endian int32 length and a raw snappy block.
var xerialHeader = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}

// xerialBlock is the uncompressed size of the blocks written (the Java
// client's default).
const xerialBlock = 32 << 10

var errXerial = errors.New("compress: snappy: malformed xerial framing")

// unsnappy decodes raw snappy or, when it starts with the xerial magic,
// xerial-framed snappy (the version fields are not checked, as Kafka's
// clients do not).
func unsnappy(dst, src []byte) ([]byte, error) {
	if len(src) < len(xerialHeader) || !bytes.Equal(src[:8], xerialHeader[:8]) {
		return snappyBlock(dst, dst, src)
	}
	out := dst
	for src = src[len(xerialHeader):]; len(src) > 0; {
		if len(src) < 4 {
			return dst, errXerial
		}
		n := binary.BigEndian.Uint32(src)
		src = src[4:]
		if uint64(n) > uint64(len(src)) {
			return dst, errXerial
		}
		var err error
		if out, err = snappyBlock(dst, out, src[:n]); err != nil {
			return dst, err
		}
		src = src[n:]
	}
	return out, nil
}

// snappyBlock appends the raw snappy block src to out, whose first
// len(orig) bytes are the caller's: the limit counts what comes after.
func snappyBlock(orig, out, src []byte) ([]byte, error) {
	n, err := s2.DecodedLen(src)
	if err != nil {
		return orig, fmt.Errorf("compress: snappy: %w", err)
	}
	if len(out)-len(orig)+n > MaxDecompressed {
		return orig, ErrTooLarge
	}
	at := len(out)
	if cap(out)-at < n {
		grown := make([]byte, at, at+n+at/4)
		copy(grown, out)
		out = grown
	}
	if _, err := s2.Decode(out[at:at+n], src); err != nil {
		return orig, fmt.Errorf("compress: snappy: %w", err)
	}
	return out[:at+n], nil
}

// xerialEncode appends src to dst in xerial framing.
func xerialEncode(dst, src []byte) []byte {
	dst = append(dst, xerialHeader...)
	for len(src) > 0 {
		n := min(len(src), xerialBlock)
		at := len(dst)
		dst = append(dst, 0, 0, 0, 0)
		dst = append(dst, make([]byte, s2.MaxEncodedLen(n))...)
		block := s2.EncodeSnappy(dst[at+4:], src[:n])
		binary.BigEndian.PutUint32(dst[at:], uint32(len(block)))
		dst = dst[:at+4+len(block)]
		src = src[n:]
	}
	return dst
}
