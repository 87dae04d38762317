package wire

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Request is one decoded request of a connection.
type Request struct {
	Key           int16
	Version       int16
	CorrelationID int32
	ClientID      *string      // nullable, as sent
	Msg           kmsg.Request // decoded, SetVersion already called
	Conn          *ConnInfo
}

// ConnInfo describes the connection a request arrived on. It is shared by all requests of a
// connection and must not be modified.
type ConnInfo struct {
	Listener   string // listener name this conn arrived on, e.g. "PLAINTEXT", "EXTERNAL"
	LocalAddr  net.Addr
	RemoteAddr net.Addr
	// Principal is who the connection authenticated as, in Kafka's "User:<name>" form: the SASL
	// authorization id on a SASL listener, the client certificate's subject (RFC 2253) on an SSL
	// listener with a client certificate, else User:ANONYMOUS (Kafka's principal for PLAINTEXT
	// and for SSL without one). Requests read before authentication completed carry a ConnInfo
	// whose Principal is User:ANONYMOUS; those after it, a new ConnInfo with the principal.
	Principal string
}

// Anonymous is Kafka's principal for a connection that did not authenticate.
const Anonymous = "User:ANONYMOUS"

// Future yields a response; the connection's writer calls it, in request order.
// A nil response with a nil error means "send nothing" (Produce acks=0).
// A non-nil error closes the connection (after logging at debug).
// The writer sets the response's version to the request's before encoding it. It may write a
// Fetch response's RecordBatches straight from their slices after the Future has returned, so
// those must not be modified or reused afterwards.
type Future func() (kmsg.Response, error)

// Done returns an already-complete Future. It is not inlined, so that every Future it makes is
// the one closure isDone knows (an inlined copy would be a closure of its caller's).
//
//go:noinline
func Done(resp kmsg.Response, err error) Future {
	return func() (kmsg.Response, error) { return resp, err }
}

// donePC is the code pointer every Future made by Done shares (the closure's), by which the
// connection's reader tells a Future that cannot block (isDone).
var donePC = reflect.ValueOf(Done(nil, nil)).Pointer()

// isDone reports whether f was made by Done: calling it returns at once.
func isDone(f Future) bool {
	return f != nil && reflect.ValueOf(f).Pointer() == donePC
}

// HandlerFunc is called for each request of a connection ONE AT A TIME, in the order the requests
// were read, so the per-connection order of side effects is the request order, as in Kafka (an
// idempotent producer with 5 in-flight batches depends on it). It must do its side effects and
// take its decisions synchronously, and may return a Future that only waits for their outcome
// (acks=all, a group's answer, a fetch long-poll) so later requests can be read and processed
// meanwhile (pipelining); see the package doc. ctx is canceled when the connection
// closes or the server stops. A nil Future is treated as Done(nil, nil): nothing is sent.
type HandlerFunc func(ctx context.Context, req *Request) Future

// Mux is the registry of API handlers, keyed by API key, each with the version range it serves.
// The same registry answers ApiVersions (APIKeys), so an API is advertised exactly when it is
// handled. The zero value is not usable; use NewMux. It is safe for concurrent use.
type Mux struct {
	mu     sync.RWMutex
	routes map[int16]route
	chains map[int16]*chain // interceptors by key (intercept.go); nil until the first Intercept
}

type route struct {
	min, max int16
	h        HandlerFunc
	recycle  bool // see RecycleFrames
}

// NewMux returns an empty Mux.
func NewMux() *Mux {
	return &Mux{routes: make(map[int16]route)}
}

// Handle registers h for key in versions [minVersion, maxVersion]. It panics on a duplicate key,
// a nil handler, an empty or negative range, a key kmsg does not know, or a maxVersion above what
// kmsg can decode: all are programming errors found at start-up.
func (m *Mux) Handle(key, minVersion, maxVersion int16, h HandlerFunc) {
	if h == nil {
		panic(fmt.Sprintf("wire: nil handler for api key %d", key))
	}
	proto := requestForKey(key)
	if proto == nil {
		panic(fmt.Sprintf("wire: api key %d unknown to kmsg", key))
	}
	if minVersion < 0 || minVersion > maxVersion {
		panic(fmt.Sprintf("wire: bad version range %d..%d for %s", minVersion, maxVersion, nameForKey(key)))
	}
	if maxVersion > proto.MaxVersion() {
		panic(fmt.Sprintf("wire: %s v%d is above kmsg's max v%d", nameForKey(key), maxVersion, proto.MaxVersion()))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.routes[key]; dup {
		panic(fmt.Sprintf("wire: duplicate handler for %s (key %d)", nameForKey(key), key))
	}
	m.routes[key] = route{min: minVersion, max: maxVersion, h: h}
}

// RecycleFrames lets connections reuse the memory of key's request frames: once a request's
// Future has returned and its response has been encoded (or dropped), its frame buffer goes to a
// server-wide pool from which later large requests of such keys are read. That spares allocating, zeroing and collecting a buffer the size
// of each request, which is most of what a 6 MB Produce request costs the framing.
//
// Call it only for a key whose handler, its Future, and everything they pass the request to keep
// no reference into the request's byte slices (a Produce request's Records, say) once the Future
// has returned: a later request will overwrite them. Strings in kmsg requests are copies and may
// be kept. It panics if key has no handler.
func (m *Mux) RecycleFrames(key int16) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.routes[key]
	if !ok {
		panic(fmt.Sprintf("wire: RecycleFrames for api key %d, which has no handler", key))
	}
	r.recycle = true
	m.routes[key] = r
}

// recycles reports whether key's frames may be recycled.
func (m *Mux) recycles(key int16) bool {
	r, ok := m.route(key)
	return ok && r.recycle
}

// Versions reports the version range registered for key.
func (m *Mux) Versions(key int16) (min, max int16, ok bool) {
	r, ok := m.route(key)
	return r.min, r.max, ok
}

// APIKeys lists every registered key with its version range, sorted by key, ready for an
// ApiVersions response.
func (m *Mux) APIKeys() []kmsg.ApiVersionsResponseApiKey {
	m.mu.RLock()
	keys := make([]kmsg.ApiVersionsResponseApiKey, 0, len(m.routes))
	for key, r := range m.routes {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = key, r.min, r.max
		keys = append(keys, k)
	}
	m.mu.RUnlock()
	slices.SortFunc(keys, func(a, b kmsg.ApiVersionsResponseApiKey) int { return int(a.ApiKey) - int(b.ApiKey) })
	return keys
}

func (m *Mux) route(key int16) (route, bool) {
	m.mu.RLock()
	r, ok := m.routes[key]
	m.mu.RUnlock()
	return r, ok
}

// Call serves req in this process as if it had arrived on a connection of listener (through the
// interceptors and the handler) and waits for its answer: for a node's requests to itself, which
// need no socket. A key or version the Mux does not serve is an error; a handler that answers
// nothing (acks=0) gives a nil response.
func (m *Mux) Call(ctx context.Context, listener string, req kmsg.Request) (kmsg.Response, error) {
	r, ok := m.route(req.Key())
	if !ok || req.GetVersion() < r.min || req.GetVersion() > r.max {
		return nil, fmt.Errorf("wire: key %d version %d is not served", req.Key(), req.GetVersion())
	}
	f := r.h(ctx, &Request{Key: req.Key(), Version: req.GetVersion(), Msg: req, Conn: &ConnInfo{Listener: listener, Principal: Anonymous}})
	if f == nil {
		return nil, nil
	}
	return f()
}
