package config

import (
	"errors"
	"sort"
)

// Type is a config's data type, numbered as Kafka's DescribeConfigs response numbers them
// (DescribeConfigsResponse.ConfigType), so it goes on the wire as is.
type Type int8

// The config types. TypeUnknown is what Kafka reports for a property it does not define.
const (
	TypeUnknown  Type = 0
	TypeBoolean  Type = 1
	TypeString   Type = 2
	TypeInt      Type = 3
	TypeShort    Type = 4
	TypeLong     Type = 5
	TypeDouble   Type = 6
	TypeList     Type = 7
	TypeClass    Type = 8
	TypePassword Type = 9
)

// String returns Kafka's ConfigDef.Type name ("INT", "LONG", ...); it appears in Kafka's parse
// error "Not a number of type INT".
func (t Type) String() string {
	switch t {
	case TypeBoolean:
		return "BOOLEAN"
	case TypeString:
		return "STRING"
	case TypeInt:
		return "INT"
	case TypeShort:
		return "SHORT"
	case TypeLong:
		return "LONG"
	case TypeDouble:
		return "DOUBLE"
	case TypeList:
		return "LIST"
	case TypeClass:
		return "CLASS"
	case TypePassword:
		return "PASSWORD"
	}
	return "UNKNOWN"
}

// Mode says whether and where a broker property can change at run time, as Kafka's broker config
// documentation lists it ("Dynamic update mode").
type Mode int8

// The dynamic update modes.
const (
	ReadOnly    Mode = iota // only in the static properties; a restart is needed
	PerBroker               // dynamic, per broker (resource name = the broker id)
	ClusterWide             // dynamic, per broker or as the cluster-wide default (empty resource name)
)

// String returns the mode as Kafka's documentation spells it.
func (m Mode) String() string {
	switch m {
	case PerBroker:
		return "per-broker"
	case ClusterWide:
		return "cluster-wide"
	}
	return "read-only"
}

// Source is where a config value comes from, numbered as Kafka's DescribeConfigs ConfigSource.
type Source int8

// The config sources, strongest first.
const (
	SourceUnknown              Source = 0
	SourceTopic                Source = 1 // DYNAMIC_TOPIC_CONFIG: a topic override
	SourceDynamicBroker        Source = 2 // DYNAMIC_BROKER_CONFIG: dynamic, for this broker
	SourceDynamicDefaultBroker Source = 3 // DYNAMIC_DEFAULT_BROKER_CONFIG: dynamic cluster-wide default
	SourceStaticBroker         Source = 4 // STATIC_BROKER_CONFIG: the properties the node started with
	SourceDefault              Source = 5 // DEFAULT_CONFIG: the built-in default
)

// String returns Kafka's ConfigSource name.
func (s Source) String() string {
	switch s {
	case SourceTopic:
		return "DYNAMIC_TOPIC_CONFIG"
	case SourceDynamicBroker:
		return "DYNAMIC_BROKER_CONFIG"
	case SourceDynamicDefaultBroker:
		return "DYNAMIC_DEFAULT_BROKER_CONFIG"
	case SourceStaticBroker:
		return "STATIC_BROKER_CONFIG"
	case SourceDefault:
		return "DEFAULT_CONFIG"
	}
	return "UNKNOWN"
}

// Def defines one property: a broker property or a topic config.
type Def struct {
	Name string
	Type Type
	// Default is the default value in Kafka's string form (ConfigDef.convertToString); nil means
	// the default is null (Kafka shows no value).
	Default *string
	// Doc is the first sentence of Kafka's documentation of the property.
	Doc string
	// Check validates a value that already parsed as Type; nil accepts any. It gets the canonical
	// string form and returns a Kafka-worded problem ("Value must be at least 1"), or "".
	Check checker
	// Mode is the dynamic update mode of a broker property (topic configs are always dynamic).
	Mode Mode
	// Internal marks Kafka's defineInternal configs: DescribeConfigs lists them only when set.
	Internal bool
	// Synonyms (topic configs only) are the broker properties that supply the topic default, in
	// Kafka's order of precedence, with a conversion to the topic config's unit.
	Synonyms []Synonym
}

// Sensitive reports whether DescribeConfigs hides the value (Kafka: PASSWORD, or an unknown type).
func (d *Def) Sensitive() bool { return d.Type == TypePassword || d.Type == TypeUnknown }

// Parse checks raw against the property's type and validator, as Kafka's ConfigDef.parse does, and
// returns the value in Kafka's canonical string form: trimmed, lists joined by ",", booleans
// lowercased, doubles written as Java writes them. The error is a *ValueError with Kafka's message.
func (d *Def) Parse(raw string) (string, error) {
	v, msg := parseType(d.Type, raw)
	if msg != "" {
		return "", &ValueError{Name: d.Name, Value: raw, Msg: msg}
	}
	if d.Check != nil {
		if shown, msg := d.Check(v); msg != "" {
			return "", &ValueError{Name: d.Name, Value: shown, Msg: msg}
		}
	}
	return v, nil
}

// Synonym is a broker property that stands in for a topic config, and the multiplier from the
// broker property's unit to the topic config's (log.retention.hours: 3600000).
type Synonym struct {
	Name  string
	Scale int64
}

// ConfigSynonym is one synonym in a DescribeConfigs answer.
type ConfigSynonym struct {
	Name   string
	Value  *string // nil when sensitive or null
	Source Source
}

// Entry is one config of a DescribeConfigs answer (also used by CreateTopics responses).
type Entry struct {
	Name      string
	Value     *string // nil when null or sensitive
	Source    Source
	ReadOnly  bool
	Sensitive bool
	Type      Type
	Doc       string
	Synonyms  []ConfigSynonym // most specific first; empty when Source is DEFAULT_CONFIG without a default synonym
}

// Errors. Every error this package returns wraps one of these.
var (
	// ErrInvalidConfig: a value that does not parse or validate, or an unknown topic config name.
	// The wrapping error's message is Kafka's, for the client: use err.Error() as the error
	// message of an INVALID_CONFIG response.
	ErrInvalidConfig = errors.New("config: invalid config")
	// ErrInvalidBroker: the node's properties do not make a valid node (listeners, voters, roles).
	ErrInvalidBroker = errors.New("config: invalid broker config")
)

// ValueError is a bad value, worded as Kafka's ConfigException:
// "Invalid value -5 for configuration retention.ms: Value must be at least -1".
type ValueError struct {
	Name  string
	Value string
	Msg   string
}

func (e *ValueError) Error() string {
	s := "Invalid value " + e.Value + " for configuration " + e.Name
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

// Unwrap makes errors.Is(err, ErrInvalidConfig) hold.
func (e *ValueError) Unwrap() error { return ErrInvalidConfig }

// ConfigError is an invalid config that is not about one value, worded as Kafka words it
// ("Unknown topic config name: foo").
type ConfigError struct{ Msg string }

func (e *ConfigError) Error() string { return e.Msg }

// Unwrap makes errors.Is(err, ErrInvalidConfig) hold.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// BrokerError is a node configuration problem: "config: listeners: listener "EXTERNAL" has no
// entry in listener.security.protocol.map". Prop names the property at fault.
type BrokerError struct {
	Prop string
	Msg  string
}

func (e *BrokerError) Error() string { return "config: " + e.Prop + ": " + e.Msg }

// Unwrap makes errors.Is(err, ErrInvalidBroker) hold.
func (e *BrokerError) Unwrap() error { return ErrInvalidBroker }

func brokerErr(prop, format string, args ...any) error {
	return &BrokerError{Prop: prop, Msg: sprintf(format, args...)}
}

func strp(s string) *string { return &s }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
