package config

import (
	"sort"
	"strconv"
)

// layers is the four places a broker property can be set, strongest first.
type layers struct {
	brokerDynamic  map[string]string // DYNAMIC_BROKER_CONFIG
	clusterDynamic map[string]string // DYNAMIC_DEFAULT_BROKER_CONFIG
	static         map[string]string // STATIC_BROKER_CONFIG
}

// raw returns the value name has at one layer. Dynamic layers only count for properties that
// can be dynamic there: Kafka drops a stored dynamic value it cannot apply.
func (l *layers) raw(name string, src Source) (string, bool) {
	d := brokerByName[name]
	var m map[string]string
	switch src {
	case SourceDynamicBroker:
		if d == nil || d.Mode == ReadOnly {
			return "", false
		}
		m = l.brokerDynamic
	case SourceDynamicDefaultBroker:
		if d == nil || d.Mode != ClusterWide {
			return "", false
		}
		m = l.clusterDynamic
	case SourceStaticBroker:
		m = l.static
	case SourceDefault:
		if d == nil || d.Default == nil {
			return "", false
		}
		return *d.Default, true
	}
	s, ok := m[name]
	return s, ok
}

var brokerLayers = []Source{SourceDynamicBroker, SourceDynamicDefaultBroker, SourceStaticBroker, SourceDefault}

// value returns the effective value of a broker property in canonical form (nil when null), as
// Kafka's KafkaConfig holds it after dynamic configs were applied.
func (l *layers) value(name string) *string {
	for _, src := range brokerLayers {
		if s, ok := l.raw(name, src); ok {
			return canonical(brokerByName[name], s)
		}
	}
	return nil
}

// canonical parses s with d; a value that does not parse (it cannot have been accepted, but a
// stored one may predate a rule) is shown as it is.
func canonical(d *Def, s string) *string {
	if d != nil {
		if c, err := d.Parse(s); err == nil {
			return &c
		}
	}
	return &s
}

// synonyms is Kafka's ConfigHelper.configSynonyms: every layer in order of strength, and within a
// layer every name in order, each set value becoming one synonym.
func (l *layers) synonyms(names []string, sensitive bool) []ConfigSynonym {
	var out []ConfigSynonym
	for _, src := range brokerLayers {
		for _, n := range names {
			if s, ok := l.raw(n, src); ok {
				val := &s
				if sensitive {
					val = nil
				}
				out = append(out, ConfigSynonym{Name: n, Value: val, Source: src})
			}
		}
	}
	return out
}

// topicDefault is the value a topic gets from the broker when it has no override: the first
// synonym that has a value (a default counts), converted to the topic config's unit, as Kafka's
// KafkaConfig getters (logRetentionTimeMillis, logRollTimeMillis, ...) compute it.
func (l *layers) topicDefault(td *Def) *string {
	for _, s := range td.Synonyms {
		val := l.value(s.Name)
		if val == nil {
			continue
		}
		if s.Scale == 1 && td.Name != "retention.ms" {
			return val
		}
		n, err := strconv.ParseInt(*val, 10, 64)
		if err != nil {
			return val
		}
		n *= s.Scale
		if td.Name == "retention.ms" && n < 0 {
			n = -1 // Kafka: any negative retention means unlimited
		}
		return strp(strconv.FormatInt(n, 10))
	}
	return td.Default
}

// ResolveTopic answers DescribeConfigs for a topic: every topic config with its effective value
// and where it comes from, sorted by name. topicOverrides are the topic's own configs; the other
// maps are this broker's dynamic configs, the cluster-wide dynamic defaults and the static
// properties (any may be nil). Internal configs (remote.storage.enable, local.retention.*) are
// listed only when the topic sets them, as Kafka does.
//
// Synonyms start with the topic override, if any, then the broker properties that supply the
// default: for retention.ms, log.retention.ms, .minutes and .hours from every layer, ending with
// DEFAULT_CONFIG log.retention.hours=168.
func ResolveTopic(topicOverrides, brokerDynamic, clusterDynamic, static map[string]string) []Entry {
	l := &layers{brokerDynamic, clusterDynamic, static}
	out := make([]Entry, 0, len(topicDefs))
	for _, d := range TopicDefs() {
		raw, overridden := topicOverrides[d.Name]
		if d.Internal && !overridden {
			continue
		}
		var syns []ConfigSynonym
		if overridden {
			syns = append(syns, ConfigSynonym{Name: d.Name, Value: strp(raw), Source: SourceTopic})
		}
		if len(d.Synonyms) > 0 {
			// Kafka keeps only the synonyms from the primary one on (a dropWhile meant for
			// listener overrides), which loses log.retention.hours; minikraft lists them all.
			syns = append(syns, l.synonyms(brokerSynonyms(d.Synonyms[0].Name), false)...)
		}
		var val *string
		if overridden {
			val = canonical(d, raw)
		} else {
			val = l.topicDefault(d)
		}
		out = append(out, entry(d, d.Name, val, syns, false))
	}
	return out
}

// ResolveBroker answers DescribeConfigs for this broker (resource name = its id): every broker
// property minikraft knows, plus every static property it does not (shown as Kafka shows an
// unknown one: sensitive, type UNKNOWN), sorted by name.
func ResolveBroker(brokerDynamic, clusterDynamic, static map[string]string) []Entry {
	l := &layers{brokerDynamic, clusterDynamic, static}
	names := make(map[string]bool, len(brokerDefs)+len(static))
	for _, d := range brokerDefs {
		names[d.Name] = true
	}
	for n := range static {
		names[n] = true
	}
	out := make([]Entry, 0, len(names))
	for _, n := range sortedKeys(names) {
		d := brokerByName[n]
		sensitive := d == nil || d.Sensitive()
		syns := dropUntil(l.synonyms(brokerSynonyms(n), sensitive), n)
		var val *string
		if d == nil {
			if s, ok := static[n]; ok {
				val = &s
			}
		} else {
			val = l.value(n)
		}
		out = append(out, entry(d, n, val, syns, true))
	}
	return out
}

// ResolveClusterDefaults answers DescribeConfigs for the cluster-wide broker default (empty
// resource name): only the properties set there, as Kafka lists them.
func ResolveClusterDefaults(clusterDynamic map[string]string) []Entry {
	l := &layers{clusterDynamic: clusterDynamic}
	out := make([]Entry, 0, len(clusterDynamic))
	for _, n := range sortedKeys(clusterDynamic) {
		d := brokerByName[n]
		sensitive := d == nil || d.Sensitive()
		var syns []ConfigSynonym
		for _, s := range l.synonyms(brokerSynonyms(n), sensitive) {
			if s.Source == SourceDynamicDefaultBroker {
				syns = append(syns, s)
			}
		}
		val := clusterDynamic[n]
		out = append(out, entry(d, n, &val, dropUntil(syns, n), true))
	}
	return out
}

// dropUntil drops the synonyms before the first one named name (Kafka's dropWhile in
// ConfigHelper): describing log.retention.ms does not show log.retention.hours.
func dropUntil(syns []ConfigSynonym, name string) []ConfigSynonym {
	for i, s := range syns {
		if s.Name == name {
			return syns[i:]
		}
	}
	return nil
}

func entry(d *Def, name string, val *string, syns []ConfigSynonym, broker bool) Entry {
	e := Entry{Name: name, Value: val, Source: SourceDefault, Synonyms: syns, Sensitive: true, ReadOnly: broker}
	if d != nil {
		e.Type, e.Doc, e.Sensitive = d.Type, d.Doc, d.Sensitive()
		e.ReadOnly = broker && d.Mode == ReadOnly
	}
	if len(syns) > 0 {
		e.Source = syns[0].Source
	}
	if e.Sensitive {
		e.Value = nil
	}
	return e
}

// ValidateTopicConfig checks one topic config as Kafka's LogConfig.validate does: the name must
// be a topic config ("Unknown topic config name: foo") and the value must parse and validate
// ("Invalid value -5 for configuration retention.ms: Value must be at least -1"). The error wraps
// ErrInvalidConfig and its message is Kafka's.
func ValidateTopicConfig(name, value string) error {
	d := topicByName[name]
	if d == nil {
		return &ConfigError{Msg: "Unknown topic config name: " + name}
	}
	_, err := d.Parse(value)
	return err
}

// ValidateTopic checks a topic's whole set of overrides: each one as ValidateTopicConfig does (in
// name order), then Kafka's cross-check that min.compaction.lag.ms <= max.compaction.lag.ms.
func ValidateTopic(overrides map[string]string) error {
	names := sortedKeys(overrides)
	for _, n := range names {
		if topicByName[n] == nil {
			return &ConfigError{Msg: "Unknown topic config name: " + n}
		}
	}
	for _, n := range names {
		if err := ValidateTopicConfig(n, overrides[n]); err != nil {
			return err
		}
	}
	lag := func(name string) int64 {
		s := *topicByName[name].Default
		if o, ok := overrides[name]; ok {
			s = *canonical(topicByName[name], o)
		}
		n, _ := strconv.ParseInt(s, 10, 64)
		return n
	}
	if min, max := lag("min.compaction.lag.ms"), lag("max.compaction.lag.ms"); min > max {
		return &ConfigError{Msg: sprintf("conflict topic config setting min.compaction.lag.ms (%d) > max.compaction.lag.ms (%d)", min, max)}
	}
	return nil
}

// ValidateBrokerDynamic checks a dynamic broker config change (AlterConfigs on a BROKER resource)
// and returns the value in canonical form. perBroker is false for the cluster-wide default (empty
// resource name). Only Kafka's dynamic properties may change ("Cannot update these configs
// dynamically: Set(num.partitions)"); per-broker ones only for one broker. Kafka answers these
// with INVALID_REQUEST, bad values with INVALID_CONFIG.
func ValidateBrokerDynamic(name, value string, perBroker bool) (string, error) {
	d := brokerByName[name]
	if d == nil || d.Mode == ReadOnly {
		return "", &ConfigError{Msg: "Cannot update these configs dynamically: Set(" + name + ")"}
	}
	if !perBroker && d.Mode == PerBroker {
		return "", &ConfigError{Msg: "Cannot update these configs at default cluster level, broker id must be specified: Set(" + name + ")"}
	}
	return d.Parse(value)
}

// TopicConfigNames returns the names of every topic config, sorted.
func TopicConfigNames() []string {
	out := make([]string, 0, len(topicDefs))
	for _, d := range topicDefs {
		out = append(out, d.Name)
	}
	sort.Strings(out)
	return out
}
