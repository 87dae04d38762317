package broker

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/config"
	"github.com/minikraft/minikraft/raftmeta"
)

// describeResource lists a topic's or broker's configs with their sources, the shared core of
// DescribeConfigs.
func (b *Broker) describeResource(typ int8, name string) ([]config.Entry, error) {
	st := b.meta.State()
	switch typ {
	case raftmeta.ConfigResourceTopic:
		if err := validateTopicName(name); err != nil {
			return nil, err
		}
		if st.Topics[name] == nil {
			return nil, kerr.UnknownTopicOrPartition
		}
		return config.ResolveTopic(
			st.Configs[raftmeta.ConfigResource{Type: raftmeta.ConfigResourceTopic, Name: name}],
			st.Configs[raftmeta.BrokerConfigResource(b.cfg.Broker.NodeID)],
			st.Configs[raftmeta.ConfigResource{Type: raftmeta.ConfigResourceBroker}],
			b.cfg.Broker.Props), nil
	case raftmeta.ConfigResourceBroker:
		if name == "" {
			return config.ResolveClusterDefaults(st.Configs[raftmeta.ConfigResource{Type: raftmeta.ConfigResourceBroker}]), nil
		}
		if err := b.checkBrokerResource(name); err != nil {
			return nil, err
		}
		return config.ResolveBroker(
			st.Configs[raftmeta.BrokerConfigResource(b.cfg.Broker.NodeID)],
			st.Configs[raftmeta.ConfigResource{Type: raftmeta.ConfigResourceBroker}],
			b.cfg.Broker.Props), nil
	case raftmeta.ConfigResourceBrokerLogger:
		return nil, fmt.Errorf("%w: minikraft has no per-logger levels; use --log-level", kerr.InvalidRequest)
	}
	return nil, fmt.Errorf("%w: unsupported resource type %d", kerr.InvalidRequest, typ)
}

// checkBrokerResource accepts only this broker's id: as in Kafka, a broker describes and alters
// its own per-broker configs, and the client sends the request to that broker.
func (b *Broker) checkBrokerResource(name string) error {
	id, err := strconv.Atoi(name)
	if err != nil || int32(id) != b.cfg.Broker.NodeID {
		return fmt.Errorf("%w: Unexpected broker id, expected %d or empty string, but received %s", kerr.InvalidRequest, b.cfg.Broker.NodeID, name)
	}
	return nil
}

// configChange is one requested change of a dynamic config.
type configChange struct {
	name  string
	op    int8 // 0 set, 1 delete, 2 append, 3 subtract (IncrementalAlterConfigs' ops)
	value *string
}

// alterResource validates changes against the resource's current dynamic configs and, unless
// validateOnly, commits them. replace is the legacy AlterConfigs: the changes become the whole
// set. Topic values are checked with Kafka's topic rules; broker values must name dynamic
// properties.
func (b *Broker) alterResource(ctx context.Context, typ int8, name string, changes []configChange, replace, validateOnly bool) error {
	st := b.meta.State()
	res := raftmeta.ConfigResource{Type: typ, Name: name}
	seen := make(map[string]bool, len(changes))
	for _, c := range changes {
		if seen[c.name] {
			return fmt.Errorf("%w: Error due to duplicate config keys", kerr.InvalidRequest)
		}
		seen[c.name] = true
	}
	current := st.Configs[res]
	next := make(map[string]string, len(current)+len(changes))
	if !replace {
		for k, v := range current {
			next[k] = v
		}
	}
	var deleted []string
	for _, c := range changes {
		switch c.op {
		case 0:
			if c.value == nil {
				if replace {
					continue
				}
				return fmt.Errorf("%w: Null value not supported for : %s", kerr.InvalidConfig, c.name)
			}
			next[c.name] = *c.value
		case 1:
			delete(next, c.name)
			deleted = append(deleted, c.name)
		case 2, 3:
			if err := b.listOp(typ, c, next); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: unknown config operation %d", kerr.InvalidRequest, c.op)
		}
	}

	switch typ {
	case raftmeta.ConfigResourceTopic:
		if err := validateTopicName(name); err != nil {
			return err
		}
		if st.Topics[name] == nil {
			return kerr.UnknownTopicOrPartition
		}
		for _, d := range deleted {
			if config.TopicDef(d) == nil {
				return &config.ConfigError{Msg: "Unknown topic config name: " + d}
			}
		}
		if err := config.ValidateTopic(next); err != nil {
			return err
		}
	case raftmeta.ConfigResourceBroker:
		if name != "" {
			if err := b.checkBrokerResource(name); err != nil {
				return err
			}
		}
		for k, v := range next {
			if current[k] == v && !replace {
				continue
			}
			canon, err := config.ValidateBrokerDynamic(k, v, name != "")
			if err != nil {
				return err
			}
			next[k] = canon
		}
	case raftmeta.ConfigResourceBrokerLogger:
		return fmt.Errorf("%w: minikraft has no per-logger levels; use --log-level", kerr.InvalidRequest)
	default:
		return fmt.Errorf("%w: unsupported resource type %d", kerr.InvalidRequest, typ)
	}
	if validateOnly {
		return nil
	}
	// The controller takes the new set as IncrementalAlterConfigs SETs of every value and
	// DELETEs of the keys that go; it answers once every broker applied them (propagation.go).
	fwd := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceType(typ), name
	for _, k := range slices.Sorted(maps.Keys(next)) {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = k, kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr(next[k])
		rr.Configs = append(rr.Configs, c)
	}
	for _, k := range slices.Sorted(maps.Keys(current)) {
		if _, kept := next[k]; !kept {
			c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			c.Name, c.Op = k, kmsg.IncrementalAlterConfigOpDelete
			rr.Configs = append(rr.Configs, c)
		}
	}
	fwd.Resources = append(fwd.Resources, rr)
	if _, err := b.callController(ctx, fwd); err != nil {
		return err
	}
	b.applyMetadata(b.meta.State())
	return nil
}

// listOp applies APPEND or SUBTRACT to a list-typed config, as IncrementalAlterConfigs defines
// them: the current effective value (override or default) gains or loses the given items.
func (b *Broker) listOp(typ int8, c configChange, next map[string]string) error {
	var def *config.Def
	if typ == raftmeta.ConfigResourceTopic {
		def = config.TopicDef(c.name)
	} else {
		def = config.BrokerDef(c.name)
	}
	if def == nil || def.Type != config.TypeList {
		return fmt.Errorf("%w: Config value append is not allowed for config key: %s", kerr.InvalidConfig, c.name)
	}
	cur, ok := next[c.name]
	if !ok && def.Default != nil {
		cur = *def.Default
	}
	var items []string
	for _, s := range strings.Split(cur, ",") {
		if s = strings.TrimSpace(s); s != "" {
			items = append(items, s)
		}
	}
	if c.value != nil {
		for _, s := range strings.Split(*c.value, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			if c.op == 2 && !slices.Contains(items, s) {
				items = append(items, s)
			} else if c.op == 3 {
				items = slices.DeleteFunc(items, func(x string) bool { return x == s })
			}
		}
	}
	next[c.name] = strings.Join(items, ",")
	return nil
}
