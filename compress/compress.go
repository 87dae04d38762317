package compress

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Codec ids, as in the batch attributes.
const (
	None   = 0
	Gzip   = 1
	Snappy = 2
	Lz4    = 3
	Zstd   = 4
)

// MaxDecompressed bounds what one batch's records may decompress to. Kafka
// streams records and has no such bound; minikraft decompresses a batch
// whole, so it needs one. It is well above any batch a client builds
// (max.message.bytes defaults to 1 MiB compressed).
const MaxDecompressed = 64 << 20

// ErrUnknownCodec is returned for a codec id outside 1..4.
var ErrUnknownCodec = errors.New("compress: unknown compression codec")

// ErrTooLarge is returned when a batch decompresses to more than
// MaxDecompressed bytes. Its TooLarge method lets the log package, which
// cannot import this one, tell it from a corrupt payload.
var ErrTooLarge error = tooLargeError{}

type tooLargeError struct{}

func (tooLargeError) Error() string {
	return fmt.Sprintf("compress: records decompress to more than %d bytes", MaxDecompressed)
}

// TooLarge marks the error for log.Codecs' contract.
func (tooLargeError) TooLarge() bool { return true }

// Codecs implements log.Codecs with every codec. The zero value is ready
// to use and safe for concurrent use.
type Codecs struct{}

// Decompress appends to dst the records compressed in src with codec. On
// error it returns dst unchanged (with whatever spare capacity it grew).
func (Codecs) Decompress(codec int, dst, src []byte) ([]byte, error) {
	switch codec {
	case Gzip:
		return gunzip(dst, src)
	case Snappy:
		return unsnappy(dst, src)
	case Lz4:
		return unlz4(dst, src)
	case Zstd:
		return unzstd(dst, src)
	}
	return dst, ErrUnknownCodec
}

// Compress appends src compressed with codec to dst.
func (Codecs) Compress(codec int, dst, src []byte) ([]byte, error) {
	switch codec {
	case Gzip:
		buf := bytes.NewBuffer(dst)
		w := gzip.NewWriter(buf)
		return finish(buf, w, src)
	case Snappy:
		return xerialEncode(dst, src), nil
	case Lz4:
		buf := bytes.NewBuffer(dst)
		w := lz4.NewWriter(buf)
		return finish(buf, w, src)
	case Zstd:
		enc, err := zstdEncoder()
		if err != nil {
			return nil, err
		}
		return enc.EncodeAll(src, dst), nil
	}
	return nil, ErrUnknownCodec
}

func finish(buf *bytes.Buffer, w io.WriteCloser, src []byte) ([]byte, error) {
	if _, err := w.Write(src); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// readLimited appends everything r yields to dst, failing with ErrTooLarge
// once more than MaxDecompressed bytes came. It reads into dst's spare
// capacity, growing it, so a pooled dst makes it allocation-free.
func readLimited(dst []byte, r io.Reader) ([]byte, error) {
	start := len(dst)
	limit := start + MaxDecompressed + 1 // one byte more tells "too large" from "exactly the limit"
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):min(cap(dst), limit)])
		dst = dst[:len(dst)+n]
		switch {
		case len(dst) > start+MaxDecompressed:
			return dst[:start], ErrTooLarge
		case err == io.EOF:
			return dst, nil
		case err != nil:
			return dst[:start], err
		}
	}
}

var gzipReaders sync.Pool // *gzip.Reader

func gunzip(dst, src []byte) ([]byte, error) {
	br := bytes.NewReader(src)
	zr, _ := gzipReaders.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(br)
	} else {
		err = zr.Reset(br)
	}
	if err != nil {
		return dst, fmt.Errorf("compress: gzip: %w", err)
	}
	defer gzipReaders.Put(zr)
	out, err := readLimited(dst, zr)
	if err != nil && err != ErrTooLarge {
		err = fmt.Errorf("compress: gzip: %w", err)
	}
	return out, err
}

var lz4Readers = sync.Pool{New: func() any { return lz4.NewReader(nil) }}

func unlz4(dst, src []byte) ([]byte, error) {
	zr := lz4Readers.Get().(*lz4.Reader)
	defer lz4Readers.Put(zr)
	zr.Reset(bytes.NewReader(src))
	out, err := readLimited(dst, zr)
	if err != nil && err != ErrTooLarge {
		err = fmt.Errorf("compress: lz4: %w", err)
	}
	return out, err
}

var (
	zstdOnce sync.Once
	zstdEnc  *zstd.Encoder
	zstdErr  error
)

// zstdEncoder makes the shared encoder once; EncodeAll may be called
// concurrently.
func zstdEncoder() (*zstd.Encoder, error) {
	zstdOnce.Do(func() { zstdEnc, zstdErr = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1)) })
	return zstdEnc, zstdErr
}

// zstdReaders pools streaming decoders. With concurrency 1 they decode in
// the caller's goroutine; streaming (rather than DecodeAll) makes the
// output grow geometrically even over many concatenated frames.
var zstdReaders sync.Pool // *zstd.Decoder

func unzstd(dst, src []byte) ([]byte, error) {
	zr, _ := zstdReaders.Get().(*zstd.Decoder)
	var err error
	if zr == nil {
		zr, err = zstd.NewReader(bytes.NewReader(src), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(MaxDecompressed))
	} else {
		err = zr.Reset(bytes.NewReader(src))
	}
	if err != nil {
		return dst, fmt.Errorf("compress: zstd: %w", err)
	}
	defer zstdReaders.Put(zr)
	out, err := readLimited(dst, zr)
	switch {
	case errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded):
		return dst, ErrTooLarge
	case err != nil && err != ErrTooLarge:
		return dst, fmt.Errorf("compress: zstd: %w", err)
	}
	return out, err
}
