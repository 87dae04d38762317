// Package fetchsession keeps Kafka's incremental fetch sessions (KIP-227), as Kafka's
// FetchSession.scala does, as a state machine without IO: the broker's Fetch handler describes a
// request (Request), gets a Context that says which partitions to read, reads them, and hands the
// Context a summary of what each read found (Result); the Context then says which partitions go
// into the response and with which session id.
//
// # The rules
//
// A request's SessionEpoch says what it is. 0 (INITIAL) and -1 (FINAL) are full fetches, whatever
// the SessionID: a session the request names is closed, and a full fetch at epoch 0 asks for a new
// session, which the response's SessionID announces (0 if none was created); epoch -1 never
// creates one. Any other epoch is an incremental fetch in the named session: the request lists
// only the partitions whose fetch parameters changed (added or updated) and those to drop
// (ForgottenTopics); the others keep the parameters of the last request that named them. The
// epoch must be the session's next one (FETCH_SESSION_ID_NOT_FOUND for an unknown id,
// INVALID_FETCH_SESSION_EPOCH for the wrong epoch, FETCH_SESSION_TOPIC_ID_ERROR when the request
// version names topics differently from the session's first one), and each incremental fetch
// moves it on. The response to an incremental fetch carries only the partitions with news:
// records, a changed high watermark or log start offset, an error or a diverging epoch. Partitions
// that returned records go to the back of the session's order, so the next fetch reads the others
// first within its byte limits. A session left with no partitions is closed and the fetch answered
// as a sessionless one.
//
// # The cache
//
// Sessions live in a Cache of at most max.incremental.fetch.session.cache.slots entries. When it is
// full, a new session takes a slot only by evicting another, by Kafka's rules: a session unused for
// MinEvictionAge (Kafka's MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS, two minutes) goes first;
// otherwise a follower's (privileged) session may evict a consumer's, and a session may evict one
// with fewer partitions, but a session younger than MinEvictionAge can be evicted only by a
// privileged one, and a privileged one only once it is older than that. Which sessions are
// evictable is decided when a session is used, as Kafka's touch does. The cache holds at most a
// thousand or so sessions, so eviction finds its victim by scanning them instead of keeping
// Kafka's sorted trees: a scan happens only when a full fetch finds the cache full.
package fetchsession
