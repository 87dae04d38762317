package broker

import (
	"context"

	"github.com/minikraft/minikraft/wire"
)

// handlerFunc is a broker method that serves one API key.
type handlerFunc func(b *Broker, ctx context.Context, r *wire.Request) wire.Future

type apiEntry struct {
	key, min, max int16
	fn            handlerFunc
}

// apis is filled by the init functions of the NN_*.go files.
var apis []apiEntry

// register declares that the broker serves key in versions [minV, maxV] with fn.
func register(key, minV, maxV int16, fn handlerFunc) {
	apis = append(apis, apiEntry{key, minV, maxV, fn})
}

// recycled are the API keys whose request frames connections may reuse: their handlers keep no
// reference into a request's bytes once its Future has returned (wire.Mux.RecycleFrames).
var recycled []int16

// recycleFrames declares that key's handler keeps that promise.
func recycleFrames(key int16) { recycled = append(recycled, key) }

// Mux is the registry of the Kafka APIs b serves on its client listeners. Tests intercept
// requests on it (wire.Mux.Intercept) to inject errors and delays into a live cluster.
func (b *Broker) Mux() *wire.Mux { return b.srvMux }

// newMux binds every registered API to b.
func (b *Broker) newMux() *wire.Mux {
	m := wire.NewMux()
	for _, e := range apis {
		fn := e.fn
		m.Handle(e.key, e.min, e.max, func(ctx context.Context, r *wire.Request) wire.Future {
			return fn(b, ctx, r)
		})
	}
	for _, key := range recycled {
		m.RecycleFrames(key)
	}
	// SaslHandshake and SaslAuthenticate once authenticated, or on listeners without SASL.
	wire.HandleSASL(m)
	return m
}
