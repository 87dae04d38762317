package config

import (
	"net"
	"regexp"
	"strconv"
	"strings"
)

// Listener is one entry of listeners or advertised.listeners: NAME://host:port. Host "" means
// every interface (for listeners) or this machine's host name (for advertised.listeners, which
// FromProperties fills in).
type Listener struct {
	Name string // normalised to upper case, as Kafka's ListenerName.normalised
	Host string
	Port int32 // 0 = an ephemeral port (tests); the bound port is then advertised
}

// Addr returns host:port, with IPv6 hosts in brackets; ":port" when Host is empty.
func (l Listener) Addr() string { return net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port))) }

// String returns the listener as Kafka writes it: NAME://host:port.
func (l Listener) String() string { return l.Name + "://" + l.Addr() }

// Voter is one entry of controller.quorum.voters: id@host:port, host:port being the voter's
// controller listener.
type Voter struct {
	ID   int32
	Host string
	Port int32
}

// Addr returns host:port, with IPv6 hosts in brackets.
func (v Voter) Addr() string { return net.JoinHostPort(v.Host, strconv.Itoa(int(v.Port))) }

// String returns the voter as Kafka writes it: id@host:port.
func (v Voter) String() string { return strconv.Itoa(int(v.ID)) + "@" + v.Addr() }

// parseCsvList is Kafka's CoreUtils.parseCsvList: split at commas with surrounding whitespace and
// drop empty entries.
func parseCsvList(s string) []string {
	var out []string
	for _, e := range commaWithWhitespace.Split(strings.TrimSpace(s), -1) {
		if e != "" {
			out = append(out, e)
		}
	}
	return out
}

// listenerPattern is Kafka's EndPoint.uriParseExp (minus negative ports, which only Kafka's own
// unit tests use).
var listenerPattern = regexp.MustCompile(`^(.*)://\[?([0-9a-zA-Z\-%._:]*)\]?:([0-9]+)$`)

// ParseListeners parses a listeners value ("PLAINTEXT://:9092,CONTROLLER://127.0.0.1:9093") with
// Kafka's rules: names are upper-cased and must differ, and so must ports (except 0).
func ParseListeners(s string) ([]Listener, error) { return parseListeners("listeners", s, true) }

func parseListeners(prop, s string, distinctPorts bool) ([]Listener, error) {
	var out []Listener
	names := map[string]bool{}
	ports := map[int32]string{}
	for _, e := range parseCsvList(s) {
		m := listenerPattern.FindStringSubmatch(e)
		if m == nil || m[1] == "" {
			return nil, brokerErr(prop, "cannot parse %q as a listener: want NAME://host:port", e)
		}
		port, err := strconv.ParseInt(m[3], 10, 32)
		if err != nil || port > 65535 {
			return nil, brokerErr(prop, "listener %q: port %s is out of range", e, m[3])
		}
		l := Listener{Name: strings.ToUpper(m[1]), Host: m[2], Port: int32(port)}
		if names[l.Name] {
			return nil, brokerErr(prop, "listener name %q appears more than once", l.Name)
		}
		names[l.Name] = true
		if distinctPorts && l.Port != 0 {
			if other, dup := ports[l.Port]; dup {
				return nil, brokerErr(prop, "listeners %q and %q use the same port %d", other, l.Name, l.Port)
			}
			ports[l.Port] = l.Name
		}
		out = append(out, l)
	}
	return out, nil
}

// securityProtocols are Kafka's SecurityProtocol names.
var securityProtocols = map[string]bool{"PLAINTEXT": true, "SSL": true, "SASL_PLAINTEXT": true, "SASL_SSL": true}

// ParseProtocolMap parses listener.security.protocol.map ("CONTROLLER:PLAINTEXT,EXTERNAL:PLAINTEXT")
// as Kafka's CoreUtils.parseCsvMap does (each entry split at its last colon). Listener names and
// protocols are upper-cased; a protocol that is not one of Kafka's is an error. Which protocols
// minikraft serves on which listener is Broker.Validate's business.
func ParseProtocolMap(s string) (map[string]string, error) {
	const prop = "listener.security.protocol.map"
	out := map[string]string{}
	s = strings.TrimSpace(s)
	if s == "" {
		return out, nil
	}
	for _, e := range commaWithWhitespace.Split(s, -1) {
		i := strings.LastIndex(e, ":")
		if i < 0 {
			return nil, brokerErr(prop, "cannot parse %q: want LISTENER_NAME:SECURITY_PROTOCOL", e)
		}
		name := strings.ToUpper(strings.TrimSpace(e[:i]))
		proto := strings.ToUpper(strings.TrimSpace(e[i+1:]))
		if name == "" {
			return nil, brokerErr(prop, "cannot parse %q: want LISTENER_NAME:SECURITY_PROTOCOL", e)
		}
		if !securityProtocols[proto] {
			return nil, brokerErr(prop, "invalid security protocol `%s` defined for listener %s (Kafka knows PLAINTEXT, SSL, SASL_PLAINTEXT and SASL_SSL)", e[i+1:], name)
		}
		if _, dup := out[name]; dup {
			return nil, brokerErr(prop, "listener %q appears more than once", name)
		}
		out[name] = proto
	}
	return out, nil
}

var hostPortPattern = regexp.MustCompile(`^\[?([0-9a-zA-Z\-%._:]*)\]?:([0-9]+)$`)

// ParseVoters parses controller.quorum.voters ("0@kafka-0:9093,1@kafka-1:9093") as Kafka's
// RaftConfig.parseVoterConnections does, except that a repeated id is an error (Kafka keeps the
// last one silently).
func ParseVoters(s string) ([]Voter, error) {
	const prop = "controller.quorum.voters"
	const form = "each entry should be in the form `{id}@{host}:{port}`"
	var out []Voter
	seen := map[int32]bool{}
	for _, e := range parseCsvList(s) {
		parts := strings.Split(e, "@")
		if len(parts) != 2 {
			return nil, brokerErr(prop, "cannot parse %q: %s", e, form)
		}
		id, err := strconv.ParseInt(parts[0], 10, 32)
		if err != nil {
			return nil, brokerErr(prop, "cannot parse voter id %q in %q: %s", parts[0], e, form)
		}
		if id < 0 {
			return nil, brokerErr(prop, "voter id %d in %q is negative", id, e)
		}
		m := hostPortPattern.FindStringSubmatch(parts[1])
		if m == nil || m[1] == "" {
			return nil, brokerErr(prop, "cannot parse host and port from %q: %s", e, form)
		}
		port, err := strconv.ParseInt(m[2], 10, 32)
		if err != nil || port > 65535 {
			return nil, brokerErr(prop, "voter %q: port %s is out of range", e, m[2])
		}
		if seen[int32(id)] {
			return nil, brokerErr(prop, "voter id %d appears more than once", id)
		}
		seen[int32(id)] = true
		out = append(out, Voter{ID: int32(id), Host: m[1], Port: int32(port)})
	}
	return out, nil
}

// parseRoles parses process.roles (already checked against broker/controller by its Def).
func parseRoles(v string) ([]string, error) {
	var roles []string
	for _, r := range listValue(v) {
		for _, have := range roles {
			if have == r {
				return nil, brokerErr("process.roles", "duplicate role names found in `process.roles`: %s", v)
			}
		}
		roles = append(roles, r)
	}
	if len(roles) == 0 {
		return nil, brokerErr("process.roles", "must contain broker, controller or both (minikraft runs only in KRaft mode)")
	}
	return roles, nil
}
