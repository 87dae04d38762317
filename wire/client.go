package wire

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
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
}

// NewClient wraps an established connection. maxResponse bounds a response frame.
func NewClient(conn net.Conn, clientID string, maxResponse int32) *Client {
	return &Client{conn: conn, r: bufio.NewReaderSize(conn, 64<<10), clientID: clientID, maxResp: maxResponse}
}

// Request sends req and returns its response. ctx's deadline (or cancellation) bounds the round
// trip; any error leaves the connection unusable and the caller should Close it.
func (c *Client) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
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
	frame, err := readFrame(c.r, c.maxResp)
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

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }
