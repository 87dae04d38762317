package fetchsession

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// MinEvictionAge is Kafka's MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS: a session unused for longer
// may be evicted by any new one, and a session younger than this is protected from unprivileged
// newcomers.
const MinEvictionAge = 120 * time.Second

// Cache holds the fetch sessions of one broker. It is safe for concurrent use; a single mutex
// guards it and every session in it (the work under it is proportional to the partitions a
// request names or a session holds, which the handler reads anyway).
type Cache struct {
	mu         sync.Mutex
	maxEntries int
	evictAge   time.Duration
	sessions   map[int32]*session
	partitions int // cached partitions over all sessions, at their last touch
	evictions  int64
	// newID returns a candidate session id; tests replace it.
	newID func() int32
}

// NewCache makes a cache of at most maxEntries sessions (0 disables sessions: every full fetch
// is answered with session id 0, as Kafka does with max.incremental.fetch.session.cache.slots=0).
// evictAge is MinEvictionAge outside tests.
func NewCache(maxEntries int, evictAge time.Duration) *Cache {
	return &Cache{
		maxEntries: max(maxEntries, 0),
		evictAge:   evictAge,
		sessions:   make(map[int32]*session),
		newID:      func() int32 { return 1 + rand.Int32N(math.MaxInt32-1) },
	}
}

// Stats is what the cache holds: Kafka's NumIncrementalFetchSessions,
// NumIncrementalFetchPartitionsCached and the evictions counted since the start.
type Stats struct {
	Sessions, Partitions int
	Evictions            int64
}

// Stats returns the cache's counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Sessions: len(c.sessions), Partitions: c.partitions, Evictions: c.evictions}
}

// session is one fetch session (Kafka's FetchSession). Guarded by the cache's mutex.
type session struct {
	id           int32
	privileged   bool // a follower's
	usesTopicIDs bool
	created      time.Time
	lastUsed     time.Time
	epoch        int32 // the epoch the next incremental request must carry
	parts        map[Key]*cached
	order        []*cached // the order partitions are read and answered in

	// Set by touch, as Kafka's cachedSize and evictable trees are: -1 before the first touch.
	cachedSize            int
	evictableByAll        bool
	evictableByPrivileged bool
}

// cached is one partition of a session (Kafka's CachedPartition): the request parameters last
// sent for it, and what the client was last told of it.
type cached struct {
	req           PartitionRequest
	highWatermark int64 // -1: not told yet, or an error since
	logStart      int64
}

// nextEpoch is FetchMetadata.nextEpoch: epochs count up from 1, wrap to 1, and stay at FINAL.
func nextEpoch(e int32) int32 {
	switch {
	case e < 0:
		return FinalEpoch
	case e == math.MaxInt32:
		return 1
	}
	return e + 1
}

// evictKey is Kafka's EvictableKey order: unprivileged before privileged, then fewer partitions,
// then the lower id.
type evictKey struct {
	privileged bool
	size       int
	id         int32
}

func (k evictKey) less(o evictKey) bool {
	if k.privileged != o.privileged {
		return !k.privileged
	}
	if k.size != o.size {
		return k.size < o.size
	}
	return k.id < o.id
}

func (s *session) evictKey() evictKey { return evictKey{s.privileged, s.cachedSize, s.id} }

// maybeCreate is FetchSessionCache.maybeCreateSession: a new session if there is a free slot or
// one can be evicted for it; 0 otherwise. The caller holds mu.
func (c *Cache) maybeCreateLocked(now time.Time, privileged, usesTopicIDs bool, parts []*cached) int32 {
	if len(c.sessions) >= c.maxEntries && !c.tryEvictLocked(privileged, evictKey{privileged, len(parts), 0}, now) {
		return InvalidSessionID
	}
	id := c.newID()
	for id == InvalidSessionID || c.sessions[id] != nil {
		id = c.newID()
	}
	s := &session{
		id: id, privileged: privileged, usesTopicIDs: usesTopicIDs,
		created: now, epoch: nextEpoch(InitialEpoch),
		parts: make(map[Key]*cached, len(parts)), order: parts, cachedSize: -1,
	}
	for _, cp := range parts {
		s.parts[cp.req.Key] = cp
	}
	c.sessions[id] = s
	c.touchLocked(s, now)
	return id
}

// tryEvictLocked is FetchSessionCache.tryEvict: the least recently used session goes if it is
// stale; else the least valuable evictable one (evictable by privileged newcomers, or by all),
// if it is worth less than the newcomer's key.
func (c *Cache) tryEvictLocked(privileged bool, key evictKey, now time.Time) bool {
	var lru, victim *session
	for _, s := range c.sessions {
		if lru == nil || s.lastUsed.Before(lru.lastUsed) || s.lastUsed.Equal(lru.lastUsed) && s.id < lru.id {
			lru = s
		}
		evictable := s.evictableByAll
		if privileged {
			evictable = s.evictableByPrivileged
		}
		if evictable && (victim == nil || s.evictKey().less(victim.evictKey())) {
			victim = s
		}
	}
	switch {
	case lru == nil:
		return false
	case now.Sub(lru.lastUsed) > c.evictAge:
		victim = lru
	case victim == nil || key.less(victim.evictKey()):
		return false
	}
	c.removeLocked(victim)
	c.evictions++
	return true
}

// touchLocked is FetchSessionCache.touch: the session was used now; its size and evictability
// are brought up to date.
func (c *Cache) touchLocked(s *session, now time.Time) {
	s.lastUsed = now
	if s.cachedSize >= 0 {
		c.partitions -= s.cachedSize
	}
	s.cachedSize = len(s.parts)
	c.partitions += s.cachedSize
	old := now.Sub(s.created) > c.evictAge
	s.evictableByPrivileged = !s.privileged || old
	s.evictableByAll = old
}

func (c *Cache) removeLocked(s *session) {
	if c.sessions[s.id] != s {
		return
	}
	delete(c.sessions, s.id)
	c.partitions -= s.cachedSize
}

// update is FetchSession.update: the request's partitions are added or have their parameters
// replaced (keeping their place in the order), then the forgotten ones are dropped.
func (s *session) update(parts []PartitionRequest, forgotten []Key) {
	for _, pr := range parts {
		if cp := s.parts[pr.Key]; cp != nil {
			cp.req = pr
			continue
		}
		cp := &cached{req: pr, highWatermark: -1, logStart: -1}
		s.parts[pr.Key] = cp
		s.order = append(s.order, cp)
	}
	dropped := false
	for _, k := range forgotten {
		if s.parts[k] != nil {
			delete(s.parts, k)
			dropped = true
		}
	}
	if dropped {
		kept := s.order[:0]
		for _, cp := range s.order {
			if s.parts[cp.req.Key] == cp {
				kept = append(kept, cp)
			}
		}
		clear(s.order[len(kept):])
		s.order = kept
	}
}

// mustRespond is CachedPartition.maybeUpdateResponseData: whether the client must hear about
// this partition, and (with update) the cached view brought up to what it will hear.
func (cp *cached) mustRespond(r Result, update bool) bool {
	must := r.RecordBytes > 0 || r.ErrorCode != 0 || r.Diverging
	if cp.highWatermark != r.HighWatermark {
		must = true
		if update {
			cp.highWatermark = r.HighWatermark
		}
	}
	if cp.logStart != r.LogStartOffset {
		must = true
		if update {
			cp.logStart = r.LogStartOffset
		}
	}
	if r.ErrorCode != 0 && update {
		// Resent once the error clears.
		cp.highWatermark = -1
	}
	return must
}
