package wire

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
)

// An Interceptor sees a request before the handler registered for its key. It may answer the
// request itself (return its own Future: an error code, a delayed answer) or pass it on by
// calling next, which is the interceptors installed before it and then the real handler; it may
// also wrap what next returns. It is called as a HandlerFunc is: one request of a connection at
// a time, with the connection's ctx, so the rules of HandlerFunc hold for it and for its Future
// (a Future that waits must return once ctx is canceled). It must also keep RecycleFrames's
// promise for keys that recycle their frames.
type Interceptor func(ctx context.Context, req *Request, next HandlerFunc) Future

// interception is one installed Interceptor and how many more requests it takes.
type interception struct {
	f    Interceptor
	left atomic.Int64 // requests still to intercept; -1 = until removed
}

// claim takes one request for i, reporting whether i still intercepts one.
func (i *interception) claim() (ok, last bool) {
	for {
		n := i.left.Load()
		switch {
		case n < 0:
			return true, false
		case n == 0:
			return false, false
		case i.left.CompareAndSwap(n, n-1):
			return true, n == 1
		}
	}
}

// chain is the interceptors of one key, newest first, and the handler registered for it. While
// a key has a chain its route's handler is the chain's dispatch; without interceptors the route
// holds the registered handler itself, so a Mux that is never intercepted costs nothing more.
type chain struct {
	base HandlerFunc
	list []*interception // replaced, never modified in place, so a snapshot stays valid
}

// Intercept puts f in front of key's handler (and of the interceptors already installed for it)
// for the next n requests of key, or for every request until removed when n <= 0. Each request
// is counted when it reaches f, so with concurrent connections exactly n requests are
// intercepted. It returns a function that removes f (later calls do nothing); f also goes by
// itself after its n-th request. It panics if key has no handler. Tests use it to inject errors
// and delays, or to watch requests, on a live server; it is safe for concurrent use with serving
// and with other calls.
func (m *Mux) Intercept(key int16, n int, f Interceptor) (remove func()) {
	if f == nil {
		panic(fmt.Sprintf("wire: nil interceptor for %s", nameForKey(key)))
	}
	i := &interception{f: f}
	i.left.Store(-1)
	if n > 0 {
		i.left.Store(int64(n))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.routes[key]
	if !ok {
		panic(fmt.Sprintf("wire: Intercept for api key %d, which has no handler", key))
	}
	if m.chains == nil {
		m.chains = make(map[int16]*chain)
	}
	c := m.chains[key]
	if c == nil {
		c = &chain{base: r.h}
		m.chains[key] = c
		r.h = func(ctx context.Context, req *Request) Future { return m.dispatch(ctx, req) }
		m.routes[key] = r
	}
	c.list = append([]*interception{i}, c.list...)
	return func() { m.unintercept(key, i) }
}

// dispatch runs a request of an intercepted key through the interceptors that still take
// requests, newest first, and then the registered handler.
func (m *Mux) dispatch(ctx context.Context, req *Request) Future {
	m.mu.RLock()
	c := m.chains[req.Key]
	var list []*interception
	var base HandlerFunc
	if c != nil {
		list, base = c.list, c.base
	} else {
		// The last interceptor went between parse and this call: serve the request plainly.
		base = m.routes[req.Key].h
	}
	m.mu.RUnlock()
	return m.pass(list, base)(ctx, req)
}

// pass is the next of an interceptor: the first of list that still takes a request, else base.
func (m *Mux) pass(list []*interception, base HandlerFunc) HandlerFunc {
	return func(ctx context.Context, req *Request) Future {
		for at, i := range list {
			ok, last := i.claim()
			if last {
				m.unintercept(req.Key, i)
			}
			if ok {
				return i.f(ctx, req, m.pass(list[at+1:], base))
			}
		}
		return base(ctx, req)
	}
}

// unintercept removes i from key's chain, and the chain once it is empty.
func (m *Mux) unintercept(key int16, i *interception) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.chains[key]
	if c == nil {
		return
	}
	at := slices.Index(c.list, i)
	if at < 0 {
		return
	}
	i.left.Store(0)
	c.list = slices.Delete(slices.Clone(c.list), at, at+1)
	if len(c.list) > 0 {
		return
	}
	delete(m.chains, key)
	r := m.routes[key]
	r.h = c.base
	m.routes[key] = r
}
