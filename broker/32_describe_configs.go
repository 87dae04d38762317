package broker

// DescribeConfigs (key 32), versions 0–4.
//
// Topic resources list every topic config with its effective value and source: a topic override
// (DYNAMIC_TOPIC_CONFIG), this broker's or the cluster's dynamic setting, a static broker
// property (log.retention.hours=24 shows as retention.ms=86400000 from STATIC_BROKER_CONFIG), or
// Kafka's default. Broker resources (this broker's id, or "" for the cluster-wide dynamic
// defaults) list broker properties, read-only unless Kafka can change them at run time.
// Synonyms (v1+) and documentation (v3+) when asked. ConfigNames filters; null means all. An
// unknown topic is UNKNOWN_TOPIC_OR_PARTITION, another broker's id INVALID_REQUEST.

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/acl"
	"github.com/minikraft/minikraft/broker/config"
	"github.com/minikraft/minikraft/wire"
)

func init() { register(32, 0, 4, (*Broker).handleDescribeConfigs) }

func (b *Broker) handleDescribeConfigs(_ context.Context, r *wire.Request) wire.Future {
	req := r.Msg.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	az := b.checkerFor(r)
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		// DESCRIBE_CONFIGS on the topic, or on the cluster for a broker.
		err := az.configResource(acl.OpDescribeConfigs, int8(rr.ResourceType), rr.ResourceName)
		var entries []config.Entry
		if err == nil {
			entries, err = b.describeResource(int8(rr.ResourceType), rr.ResourceName)
		}
		if err != nil {
			sr.ErrorCode = errorCode(err)
			sr.ErrorMessage = errorMessage(err)
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		for _, e := range entries {
			if rr.ConfigNames != nil && !slices.Contains(rr.ConfigNames, e.Name) {
				continue
			}
			sr.Configs = append(sr.Configs, describeEntry(req, e))
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return wire.Done(resp, nil)
}

func describeEntry(req *kmsg.DescribeConfigsRequest, e config.Entry) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name, c.Value, c.ReadOnly, c.IsSensitive = e.Name, e.Value, e.ReadOnly, e.Sensitive
	c.Source = kmsg.ConfigSource(e.Source)
	c.IsDefault = e.Source == config.SourceDefault
	c.ConfigType = kmsg.ConfigType(e.Type)
	if req.IncludeDocumentation && e.Doc != "" {
		c.Documentation = kmsg.StringPtr(e.Doc)
	}
	if req.IncludeSynonyms {
		for _, s := range e.Synonyms {
			cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			cs.Name, cs.Value, cs.Source = s.Name, s.Value, kmsg.ConfigSource(s.Source)
			c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
		}
	}
	return c
}
