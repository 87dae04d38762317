package fetchsession

import (
	"errors"
	"time"
)

// Kafka's FetchMetadata constants.
const (
	InvalidSessionID int32 = 0
	InitialEpoch     int32 = 0
	FinalEpoch       int32 = -1
)

// Errors a request can get instead of a context; the broker answers them with Kafka's codes.
var (
	ErrSessionIDNotFound = errors.New("fetchsession: FETCH_SESSION_ID_NOT_FOUND")
	ErrInvalidEpoch      = errors.New("fetchsession: INVALID_FETCH_SESSION_EPOCH")
	ErrTopicIDMismatch   = errors.New("fetchsession: FETCH_SESSION_TOPIC_ID_ERROR")
)

// Key names a partition: by topic id in requests of Fetch v13+ (Topic is then ""), by name before
// (TopicID is then zero). A session uses one or the other throughout.
type Key struct {
	TopicID   [16]byte
	Topic     string
	Partition int32
}

// PartitionRequest is what a fetch asks of one partition.
type PartitionRequest struct {
	Key
	FetchOffset        int64
	LogStartOffset     int64 // the follower's, -1 from consumers
	MaxBytes           int32
	CurrentLeaderEpoch int32
	LastFetchedEpoch   int32
}

// Request is the session part of a Fetch request.
type Request struct {
	SessionID    int32
	SessionEpoch int32
	UsesTopicIDs bool // Fetch v13+
	Follower     bool // a replica's fetch: its session is privileged
	Partitions   []PartitionRequest
	Forgotten    []Key
}

// Result is what a read of one partition found, as far as the session cares.
type Result struct {
	HighWatermark  int64
	LogStartOffset int64
	ErrorCode      int16
	RecordBytes    int
	Diverging      bool // a DivergingEpoch is answered
}

type kind uint8

const (
	sessionless kind = iota // FINAL epoch, or an incremental fetch that emptied its session
	full                    // INITIAL epoch: creates a session when it is answered
	incremental
)

// Context is one fetch request's view of its session (Kafka's FetchContext).
type Context struct {
	cache    *Cache
	kind     kind
	follower bool
	usesIDs  bool
	parts    []PartitionRequest
	session  *session // incremental only
	reqEpoch int32
}

// NewContext is FetchManager.newContext: it closes, looks up or updates the session the request
// names, and returns the context that reads and answers the fetch, or one of the session errors.
func (c *Cache) NewContext(req Request, now time.Time) (*Context, error) {
	ctx := &Context{cache: c, follower: req.Follower, usesIDs: req.UsesTopicIDs}
	c.mu.Lock()
	defer c.mu.Unlock()
	if req.SessionEpoch == InitialEpoch || req.SessionEpoch == FinalEpoch {
		if s := c.sessions[req.SessionID]; req.SessionID != InvalidSessionID && s != nil {
			c.removeLocked(s) // a full fetch closes the session it names
		}
		ctx.kind = full
		if req.SessionEpoch == FinalEpoch {
			ctx.kind = sessionless
		}
		ctx.parts = dedup(req.Partitions)
		return ctx, nil
	}
	s := c.sessions[req.SessionID]
	switch {
	case s == nil:
		return nil, ErrSessionIDNotFound
	case s.epoch != req.SessionEpoch:
		return nil, ErrInvalidEpoch
	case s.usesTopicIDs != req.UsesTopicIDs:
		return nil, ErrTopicIDMismatch
	}
	s.update(req.Partitions, req.Forgotten)
	if len(s.parts) == 0 {
		c.removeLocked(s)
		ctx.kind, ctx.parts = sessionless, dedup(req.Partitions)
		return ctx, nil
	}
	c.touchLocked(s, now)
	s.epoch = nextEpoch(s.epoch)
	ctx.kind, ctx.session, ctx.reqEpoch = incremental, s, req.SessionEpoch
	ctx.parts = make([]PartitionRequest, len(s.order))
	for i, cp := range s.order {
		ctx.parts[i] = cp.req
	}
	return ctx, nil
}

// dedup keeps each partition once, at its first place with its last parameters, as the
// LinkedHashMap Kafka parses a request into does.
func dedup(parts []PartitionRequest) []PartitionRequest {
	seen := make(map[Key]int, len(parts))
	out := make([]PartitionRequest, 0, len(parts))
	for _, p := range parts {
		if i, ok := seen[p.Key]; ok {
			out[i] = p
			continue
		}
		seen[p.Key] = len(out)
		out = append(out, p)
	}
	return out
}

// Partitions are the partitions to read, in order: the request's for a full or sessionless fetch,
// every partition of the session for an incremental one. The caller must not modify them.
func (ctx *Context) Partitions() []PartitionRequest { return ctx.parts }

// Incremental reports whether the fetch is an incremental one in an existing session.
func (ctx *Context) Incremental() bool { return ctx.kind == incremental }

// Finish takes the results of reading Partitions() (results[i] for Partitions()[i]) and returns
// the response's session id and which partitions it carries (keep[i]; all of them but for an
// incremental fetch). A full fetch creates its session here, as Kafka does once the response
// data is ready. An incremental fetch whose session moved on meanwhile (another request with the
// same epoch) gets ErrInvalidEpoch and must be answered with no partitions.
func (ctx *Context) Finish(results []Result, now time.Time) (sessionID int32, keep []bool, err error) {
	keep = make([]bool, len(ctx.parts))
	c := ctx.cache
	switch ctx.kind {
	case sessionless:
		for i := range keep {
			keep[i] = true
		}
		return InvalidSessionID, keep, nil
	case full:
		for i := range keep {
			keep[i] = true
		}
		parts := make([]*cached, len(ctx.parts))
		for i, pr := range ctx.parts {
			parts[i] = &cached{req: pr, highWatermark: results[i].HighWatermark, logStart: results[i].LogStartOffset}
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.maybeCreateLocked(now, ctx.follower, ctx.usesIDs, parts), keep, nil
	}
	s := ctx.session
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.epoch != nextEpoch(ctx.reqEpoch) {
		return s.id, nil, ErrInvalidEpoch
	}
	var moved []*cached
	for i, pr := range ctx.parts {
		cp := s.parts[pr.Key]
		if cp == nil {
			continue // forgotten since; cannot happen while the epoch is ours
		}
		keep[i] = cp.mustRespond(results[i], true)
		if keep[i] && results[i].RecordBytes > 0 {
			moved = append(moved, cp)
		}
	}
	if len(moved) > 0 {
		// Partitions that returned records go to the back, in the order they were answered.
		back := make(map[*cached]bool, len(moved))
		for _, cp := range moved {
			back[cp] = true
		}
		order := s.order[:0]
		for _, cp := range s.order {
			if !back[cp] {
				order = append(order, cp)
			}
		}
		s.order = append(order, moved...)
	}
	return s.id, keep, nil
}
