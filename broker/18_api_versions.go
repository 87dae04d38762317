package broker

// ApiVersions (key 18), versions 0–3.
//
// The key list comes from the same registry that dispatches requests, so an API is advertised
// exactly when it is handled. A request of a version above 3 never reaches this handler: the wire
// layer answers it, as Kafka does, with a v0 response carrying UNSUPPORTED_VERSION and the key
// list, and the client retries at a version both sides know. v3 clients send their software name
// and version, which Kafka validates (INVALID_REQUEST for empty or badly formed ones).

import (
	"context"
	"regexp"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/wire"
)

func init() { register(18, 0, 3, (*Broker).handleAPIVersions) }

// softwareNameRe is Kafka's rule for ClientSoftwareName and ClientSoftwareVersion (KIP-511).
var softwareNameRe = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$`)

func (b *Broker) handleAPIVersions(_ context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = b.srvMux.APIKeys()
	if req.Version >= 3 && (!softwareNameRe.MatchString(req.ClientSoftwareName) || !softwareNameRe.MatchString(req.ClientSoftwareVersion)) {
		resp.ErrorCode = kerr.InvalidRequest.Code
	}
	return wire.Done(resp, nil)
}
