package broker

// ApiVersions (key 18), versions 0–3.
//
// The key list comes from the same registry that dispatches requests, so an API is advertised
// exactly when it is handled. A request of a version above 3 never reaches this handler: the wire
// layer answers it, as Kafka does, with a v0 response carrying UNSUPPORTED_VERSION and the key
// list, and the client retries at a version both sides know. v3 clients send their software name
// and version, which Kafka validates (INVALID_REQUEST for empty or badly formed ones).
//
// v3 also lists the features (KIP-584). minikraft has one: transaction.version, supported 0-2,
// finalized at the level config.TransactionVersionProp sets (2 by default, as a new Kafka 4.0
// cluster). Clients choose transaction version 2 (KIP-890 part 2) from the finalized level, as
// Kafka's and franz-go's do; a level of 0 is not listed as finalized, as Kafka lists none. The
// finalized features' epoch is the applied metadata index (Kafka: the metadata offset), so
// never -1, which clients take for "no finalized features". Every node should be given the same
// level: Kafka's is one cluster-wide value.

import (
	"context"
	"regexp"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/txn"
	"github.com/minikraft/minikraft/wire"
)

// transactionVersionFeature is Kafka's TransactionVersion.FEATURE_NAME.
const transactionVersionFeature = "transaction.version"

func init() { register(18, 0, 3, (*Broker).handleAPIVersions) }

// softwareNameRe is Kafka's rule for ClientSoftwareName and ClientSoftwareVersion (KIP-511).
var softwareNameRe = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$`)

func (b *Broker) handleAPIVersions(_ context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = b.srvMux.APIKeys()
	if req.Version >= 3 {
		sf := kmsg.NewApiVersionsResponseSupportedFeature()
		sf.Name, sf.MinVersion, sf.MaxVersion = transactionVersionFeature, 0, txn.MaxTransactionVersion
		resp.SupportedFeatures = append(resp.SupportedFeatures, sf)
		resp.FinalizedFeaturesEpoch = int64(b.meta.State().Index)
		if lvl := b.cfg.Broker.TransactionVersion; lvl > 0 {
			ff := kmsg.NewApiVersionsResponseFinalizedFeature()
			ff.Name, ff.MinVersionLevel, ff.MaxVersionLevel = transactionVersionFeature, lvl, lvl
			resp.FinalizedFeatures = append(resp.FinalizedFeatures, ff)
		}
	}
	if req.Version >= 3 && (!softwareNameRe.MatchString(req.ClientSoftwareName) || !softwareNameRe.MatchString(req.ClientSoftwareVersion)) {
		resp.ErrorCode = kerr.InvalidRequest.Code
	}
	return wire.Done(resp, nil)
}
