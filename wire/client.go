package wire

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Client is the other side of the framing: one connection on which a broker sends its own Kafka
// requests to another broker (a follower's Fetch and OffsetForLeaderEpoch to its leader), one at
// a time. Requests carry the version the caller set; the peer is a minikraft node of the same
// build, so no version negotiation is needed.
type Client struct {
	conn     net.Conn
	r        *bufio.Reader
	clientID string
	maxResp  int32

	mu   sync.Mutex // one request in flight
	corr int32
	// resp is the response buffer RequestReuse reads into and keeps for its next call.
	resp []byte
	// small counts the RequestReuse responses in a row that needed under a quarter of resp.
	small int
}

const (
	// maxKeptResponse bounds the buffer a Client keeps for RequestReuse between requests.
	maxKeptResponse = 16 << 20
	// keptSmallLimit is how many RequestReuse responses in a row may need under a quarter of the
	// kept buffer before it is let go. A follower's fetches alternate: one carries the leader's
	// new batches, the next often only a high watermark, so letting go after one small response
	// allocated a new buffer for most fetches that carried data (two thirds of them with RF 3 at
	// 1 KB records, 250 MB allocated per GB acknowledged). At the follower's 500 ms wait, 64
	// empty fetches are half a minute of idling.
	keptSmallLimit = 64
)

// NewClient wraps an established connection. maxResponse bounds a response frame.
func NewClient(conn net.Conn, clientID string, maxResponse int32) *Client {
	return &Client{conn: conn, r: bufio.NewReaderSize(conn, 64<<10), clientID: clientID, maxResp: maxResponse}
}

// Request sends req and returns its response. ctx's deadline (or cancellation) bounds the round
// trip; any error leaves the connection unusable and the caller should Close it.
func (c *Client) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.request(ctx, req, false)
}

// RequestReuse is Request with the response read into a buffer that the Client keeps and reads
// the next RequestReuse's response into: the response, and every byte slice in it (a Fetch
// response's record batches), must no longer be used once the caller makes its next
// RequestReuse call on this Client. A follower fetching all the time so reuses one buffer instead
// of allocating (and zeroing, and collecting) a new one of up to replica.fetch.response.max.bytes
// per fetch. A larger response replaces the buffer with one of its size class (up to 25% more,
// so responses that grow a little at a time do not each allocate), and the buffer is let go once
// keptSmallLimit responses in a row needed less than a quarter of it, so a fetcher gone idle
// does not keep the largest response it ever had.
func (c *Client) RequestReuse(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.request(ctx, req, true)
}

func (c *Client) request(ctx context.Context, req kmsg.Request, reuse bool) (kmsg.Response, error) {
	c.corr++
	corr := c.corr

	buf := make([]byte, 4, 256)
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.Key()))
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.GetVersion()))
	buf = binary.BigEndian.AppendUint32(buf, uint32(corr))
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(c.clientID)))
	buf = append(buf, c.clientID...)
	if req.IsFlexible() {
		buf = append(buf, 0) // no header tags
	}
	buf = req.AppendTo(buf)
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))

	if dl, ok := ctx.Deadline(); ok {
		c.conn.SetDeadline(dl)
	} else {
		c.conn.SetDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Now()) })
	defer stop()

	if _, err := c.conn.Write(buf); err != nil {
		return nil, err
	}
	var frame []byte
	var err error
	if reuse {
		frame, err = c.readReusing()
	} else {
		frame, err = readFrame(c.r, c.maxResp)
	}
	if err != nil {
		return nil, err
	}
	rb := kbin.Reader{Src: frame}
	if got := rb.Int32(); got != corr {
		return nil, fmt.Errorf("%w: response for correlation id %d, expected %d", ErrMalformed, got, corr)
	}
	resp := req.ResponseKind()
	if resp.IsFlexible() && req.Key() != apiVersionsKey {
		kmsg.SkipTags(&rb)
	}
	if !rb.Ok() {
		return nil, fmt.Errorf("%w: truncated response header", ErrMalformed)
	}
	if err := resp.ReadFrom(rb.Src); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return resp, nil
}

// readReusing reads one response frame into c.resp when it fits, else as readFrame does (whose
// growth rule bounds what a peer's claimed size can make us allocate), keeping the new buffer.
func (c *Client) readReusing() ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: size prefix: %w", ErrTruncated, err)
		}
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(hdr[:]))
	if size < 0 || size > c.maxResp {
		return nil, fmt.Errorf("%w: %d (limit %d)", ErrFrameSize, size, c.maxResp)
	}
	n := int(size)
	if n > cap(c.resp) {
		// Past the size prefix, readFrame's reader reads the rest as a frame of n bytes.
		fr := frameReader{r: c.r, classCap: true}
		frame, err := fr.body(n)
		if err != nil {
			return nil, err
		}
		c.small = 0
		if cap(frame) <= maxKeptResponse {
			c.resp = frame[:cap(frame)]
		}
		return frame, nil
	}
	frame := c.resp[:n]
	if n >= cap(c.resp)/4 {
		c.small = 0
	} else if c.small++; c.small >= keptSmallLimit {
		c.resp, c.small = nil, 0 // the caller still has frame; the Client lets it go
	}
	if m, err := io.ReadFull(c.r, frame); err != nil {
		c.resp = nil
		return nil, fmt.Errorf("%w: got %d of %d bytes: %w", ErrTruncated, m, n, err)
	}
	return frame, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }
