package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Errors returned by ParseRequest and the framing code; each one ends the connection.
var (
	ErrFrameSize          = errors.New("wire: invalid frame size")
	ErrTruncated          = errors.New("wire: truncated frame")
	ErrMalformed          = errors.New("wire: malformed request")
	ErrUnknownKey         = errors.New("wire: unknown api key")
	ErrUnsupportedVersion = errors.New("wire: unsupported api version")
)

const (
	apiVersionsKey        = 18 // its response header is always v0, and it has the unsupported-version answer
	controlledShutdownKey = 7  // v0 is the one request with header v0 (no client id)

	// firstChunk is the most a frame buffer starts with, whatever size the frame claims.
	firstChunk = 32 << 10
)

// readFrame reads one size-prefixed frame and returns its payload. A size below zero or above limit
// is ErrFrameSize. The buffer starts at min(size, firstChunk) and doubles only once it is full, so
// the memory held is at most about twice what the peer actually sent.
func readFrame(r io.Reader, limit int32) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: size prefix: %w", ErrTruncated, err)
		}
		return nil, err // io.EOF between frames is a clean close
	}
	size := int32(binary.BigEndian.Uint32(hdr[:]))
	if size < 0 || size > limit {
		return nil, fmt.Errorf("%w: %d (limit %d)", ErrFrameSize, size, limit)
	}
	n := int(size)
	buf := make([]byte, min(n, firstChunk))
	got := 0
	for {
		m, err := io.ReadFull(r, buf[got:])
		got += m
		if err != nil {
			return nil, fmt.Errorf("%w: got %d of %d bytes: %w", ErrTruncated, got, n, err)
		}
		if got == n {
			return buf, nil
		}
		buf = append(buf, make([]byte, min(n, 2*got)-got)...)
	}
}

// ParseRequest decodes one frame payload (the bytes after the size prefix): the request header and
// the body, whose key and version must be registered in mux. The returned Request has no Conn.
//
// On error the Request is nil if the frame is too short for the fixed header fields; otherwise it
// carries the header fields read so far (Key, Version, CorrelationID, maybe ClientID) with a nil
// Msg, so the caller can log it or, for ApiVersions and ErrUnsupportedVersion, answer it. Errors
// wrap ErrMalformed, ErrUnknownKey or ErrUnsupportedVersion. Byte slices in Msg (record batches)
// alias frame; strings are copied.
func ParseRequest(frame []byte, mux *Mux) (*Request, error) {
	req, _, err := parse(frame, mux)
	return req, err
}

func parse(frame []byte, mux *Mux) (*Request, HandlerFunc, error) {
	if len(frame) < 8 {
		return nil, nil, fmt.Errorf("%w: %d-byte frame is shorter than a request header", ErrMalformed, len(frame))
	}
	b := kbin.Reader{Src: frame}
	req := &Request{Key: b.Int16(), Version: b.Int16(), CorrelationID: b.Int32()}
	msg := kmsg.RequestForKey(req.Key)
	if msg == nil {
		return req, nil, fmt.Errorf("%w: %d", ErrUnknownKey, req.Key)
	}
	// kmsg decides flexibility by "version >= N", so this is right even for versions kmsg has
	// never heard of (an ApiVersions from a newer client).
	msg.SetVersion(req.Version)
	if req.Key != controlledShutdownKey || req.Version != 0 {
		req.ClientID = b.NullableString()
		if msg.IsFlexible() {
			kmsg.SkipTags(&b)
		}
		if !b.Ok() {
			return req, nil, fmt.Errorf("%w: %s v%d: bad request header", ErrMalformed, kmsg.NameForKey(req.Key), req.Version)
		}
	}
	rt, ok := mux.route(req.Key)
	if !ok {
		return req, nil, fmt.Errorf("%w: %s (key %d) is not served", ErrUnknownKey, kmsg.NameForKey(req.Key), req.Key)
	}
	if req.Version < rt.min || req.Version > rt.max {
		return req, nil, fmt.Errorf("%w: %s v%d (serving v%d-v%d)", ErrUnsupportedVersion, kmsg.NameForKey(req.Key), req.Version, rt.min, rt.max)
	}
	// Trailing bytes after the body are tolerated, as Kafka does.
	if err := msg.ReadFrom(b.Src); err != nil {
		return req, nil, fmt.Errorf("%w: %s v%d: %w", ErrMalformed, kmsg.NameForKey(req.Key), req.Version, err)
	}
	req.Msg = msg
	return req, rt.h, nil
}

// appendResponse appends a complete response frame (size, header, body) to dst. resp's version is
// set to version first. The header is the correlation id, plus an empty tagged-field section when
// the response is flexible, except for ApiVersions, whose response header is always v0.
func appendResponse(dst []byte, key, version int16, corr int32, resp kmsg.Response) ([]byte, error) {
	if resp.Key() != key {
		return dst, fmt.Errorf("wire: %s request answered with a %s response", kmsg.NameForKey(key), kmsg.NameForKey(resp.Key()))
	}
	resp.SetVersion(version)
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0) // size, filled in below
	dst = kbin.AppendInt32(dst, corr)
	if resp.IsFlexible() && key != apiVersionsKey {
		dst = append(dst, 0) // no header tags
	}
	dst = resp.AppendTo(dst)
	size := len(dst) - start - 4
	if size > math.MaxInt32 {
		return dst[:start], fmt.Errorf("wire: %s response of %d bytes is too large", kmsg.NameForKey(key), size)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(size))
	return dst, nil
}

// unsupportedVersionsResponse is Kafka's answer to an ApiVersions request of a version it does not
// serve: a v0 response with UNSUPPORTED_VERSION and every key we do serve, so the client can pick a
// version both sides know and ask again.
func unsupportedVersionsResponse(mux *Mux) kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = mux.APIKeys()
	return resp
}
