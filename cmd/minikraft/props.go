package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/minikraft/minikraft/broker/config"
)

// clusterIDProp is the property that carries the cluster id to config.FromProperties. Kafka has
// no such property; minikraft fills it from --cluster-id or KAFKA_KRAFT_CLUSTER_ID (bitnami's
// variable). The id in <data dir>/meta.properties still wins over a missing one and must match a
// given one.
const clusterIDProp = config.ClusterIDProp

// shortcutFlags are the flags that set one Kafka property each.
var shortcutFlags = []struct{ flag, prop, usage string }{
	{"node-id", "node.id", "node id (node.id)"},
	{"process-roles", "process.roles", "broker, controller or broker,controller (process.roles)"},
	{"listeners", "listeners", "listeners, e.g. PLAINTEXT://:9092,CONTROLLER://:9093 (listeners)"},
	{"advertised-listeners", "advertised.listeners", "addresses given to clients (advertised.listeners)"},
	{"listener-security-protocol-map", "listener.security.protocol.map", "listener name to protocol, e.g. EXTERNAL:PLAINTEXT (listener.security.protocol.map)"},
	{"controller-listener-names", "controller.listener.names", "controller listener names (controller.listener.names)"},
	{"voters", "controller.quorum.voters", "controller quorum, e.g. 0@host0:9093,1@host1:9093 (controller.quorum.voters)"},
	{"cluster-id", clusterIDProp, "cluster id for a new data directory (bitnami: KAFKA_KRAFT_CLUSTER_ID)"},
	{"data-dir", "log.dirs", "data directory (log.dirs)"},
	{"test-admin-listen", testAdminProp, "FOR TESTS ONLY: serve the test admin endpoint (fault injection) over HTTP on this address, e.g. 127.0.0.1:9095 (" + testAdminProp + "); off by default"},
}

// testAdminProp is the address of the test admin endpoint (minikraft.NodeAdmin), not a Kafka
// property: main takes it out before the broker's configuration is read. Also set by
// KAFKA_CFG_MINIKRAFT_TEST_ADMIN_LISTEN.
const testAdminProp = "minikraft.test.admin.listen"

// logLevels are the accepted --log-level values.
var logLevels = []string{"debug", "info", "warn", "error"}

// kv is one property set on the command line; they apply in command-line order.
type kv struct{ key, value string }

// propFlag is a shortcut flag: each use records its property.
type propFlag struct {
	prop string
	set  *[]kv
}

func (f propFlag) String() string { return "" }

func (f propFlag) Set(s string) error {
	*f.set = append(*f.set, kv{f.prop, s})
	return nil
}

// configFlag is --config key=value (repeatable).
type configFlag struct{ set *[]kv }

func (f configFlag) String() string { return "" }

func (f configFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	*f.set = append(*f.set, kv{k, v})
	return nil
}

// newFlagSet declares the command line: the shortcut flags, --config key=value (and Kafka's
// --override spelling of it), --config-file and --log-level.
func newFlagSet(set *[]kv, configFile, logLevel *string) *flag.FlagSet {
	fs := flag.NewFlagSet("minikraft", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, s := range shortcutFlags {
		fs.Var(propFlag{s.prop, set}, s.flag, s.usage)
	}
	fs.Var(configFlag{set}, "config", "set any Kafka property: --config key=value (repeatable)")
	fs.Var(configFlag{set}, "override", "same as --config (kafka-server-start.sh's spelling)")
	fs.StringVar(configFile, "config-file", "", "Java properties file (server.properties); also accepted as the first argument")
	fs.StringVar(logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return fs
}

// usage returns the command-line help.
func usage() string {
	var set []kv
	var file, level string
	fs := newFlagSet(&set, &file, &level)
	var w strings.Builder
	fmt.Fprintf(&w, "Usage: minikraft [flags] [server.properties] [--override key=value ...]\n\n")
	fmt.Fprintf(&w, "A Kafka-compatible broker. Properties are Kafka's; sources, strongest first: flags,\n")
	fmt.Fprintf(&w, "environment (KAFKA_CFG_FOO_BAR=v sets foo.bar=v, as in bitnami/kafka; KAFKA_KRAFT_CLUSTER_ID\n")
	fmt.Fprintf(&w, "sets the cluster id), the properties file, defaults. With no arguments: one node on\n")
	fmt.Fprintf(&w, "127.0.0.1:9092 (controller on :9093), data in ./minikraft-data.\n\nFlags:\n")
	fs.SetOutput(&w)
	fs.PrintDefaults()
	return strings.TrimRight(w.String(), "\n")
}

// loadProperties merges the node's properties from the command line, the environment and a
// properties file, strongest first:
//
//   - flags, applied in command-line order (a later one wins): the shortcuts (--node-id,
//     --voters, --listeners, ...), --config key=value (alias --override);
//   - the environment as bitnami/kafka reads it: KAFKA_CFG_FOO_BAR=v sets foo.bar=v (strip the
//     prefix, "_" becomes ".", lower case); KAFKA_KRAFT_CLUSTER_ID sets the cluster id
//     (clusterIDProp); KAFKA_ENABLE_KRAFT and ALLOW_PLAINTEXT_LISTENER are accepted silently
//     (minikraft is always KRaft and PLAINTEXT); bitnami's security variables (KAFKA_CLIENT_USERS,
//     KAFKA_TLS_TYPE...) become the properties its scripts would write (bitnami.go), overriding
//     KAFKA_CFG_* ones; any other KAFKA_* variable and JAVA_*, JMX_PORT
//     (KAFKA_HEAP_OPTS, KAFKA_OPTS, ...) is returned in ignored, by name, sorted, for the caller
//     to log once;
//   - the properties file named by --config-file or by the first non-flag argument
//     (kafka-server-start.sh style: "minikraft server.properties --override k=v"), read with
//     readFile and parsed as java.util.Properties;
//   - anything unset keeps its default (config.FromProperties applies them).
//
// logLevel is --log-level, lower-cased and checked. A -h or --help returns an error wrapping
// flag.ErrHelp whose message carries the usage text.
func loadProperties(args []string, environ []string, readFile func(string) ([]byte, error)) (props map[string]string, ignored []string, logLevel string, err error) {
	return loadPropertiesBitnami(args, environ, readFile, true)
}

// loadPropertiesBitnami is loadProperties, without bitnami's security variables when bitnami is
// false (the health check's fallback when they cannot be applied: it needs the listeners only).
func loadPropertiesBitnami(args []string, environ []string, readFile func(string) ([]byte, error), bitnami bool) (props map[string]string, ignored []string, logLevel string, err error) {
	var set []kv
	var configFile string
	fs := newFlagSet(&set, &configFile, &logLevel)
	var positional []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, nil, "", fmt.Errorf("%w\n%s", err, usage())
			}
			return nil, nil, "", err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	switch {
	case len(positional) > 1:
		return nil, nil, "", fmt.Errorf("unexpected arguments %q: give one properties file", positional)
	case len(positional) == 1 && configFile != "":
		return nil, nil, "", fmt.Errorf("both --config-file %s and the argument %s name a properties file", configFile, positional[0])
	case len(positional) == 1:
		configFile = positional[0]
	}
	logLevel = strings.ToLower(strings.TrimSpace(logLevel))
	if !slices.Contains(logLevels, logLevel) {
		return nil, nil, "", fmt.Errorf("--log-level %q: want one of %s", logLevel, strings.Join(logLevels, ", "))
	}

	props = map[string]string{}
	if configFile != "" {
		data, err := readFile(configFile)
		if err != nil {
			return nil, nil, "", fmt.Errorf("config file: %w", err)
		}
		fileProps, err := parseProperties(string(data))
		if err != nil {
			return nil, nil, "", fmt.Errorf("config file %s: %w", configFile, err)
		}
		for k, v := range fileProps {
			props[k] = v
		}
	}
	if environ, err = resolveBitnamiEnv(environ, readFile); err != nil {
		return nil, nil, "", err
	}
	envProps, ignored := fromEnv(environ)
	for k, v := range envProps {
		props[k] = v
	}
	if bitnami {
		derived, err := bitnamiSecurity(environ, props, readFile)
		if err != nil {
			return nil, nil, "", err
		}
		for k, v := range derived {
			props[k] = v
		}
	}
	for _, p := range set {
		props[p.key] = p.value
	}
	return props, ignored, logLevel, nil
}

// fromEnv applies bitnami's mapping to the environment (see loadProperties).
func fromEnv(environ []string) (props map[string]string, ignored []string) {
	props = map[string]string{}
	var clusterID *string
	seen := map[string]bool{}
	for _, e := range environ {
		name, value, ok := strings.Cut(e, "=")
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(name, "KAFKA_CFG_") && len(name) > len("KAFKA_CFG_"):
			key := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(name, "KAFKA_CFG_"), "_", "."))
			// bitnami's exceptions: the listener names SASL_SSL and SASL_PLAINTEXT keep their
			// underscore (KAFKA_CFG_LISTENER_NAME_SASL_SSL_SSL_CLIENT_AUTH).
			key = strings.ReplaceAll(strings.ReplaceAll(key, "sasl.ssl", "sasl_ssl"), "sasl.plaintext", "sasl_plaintext")
			props[key] = value
		case name == "KAFKA_KRAFT_CLUSTER_ID":
			v := value
			clusterID = &v
		case name == "KAFKA_ENABLE_KRAFT" || name == "ALLOW_PLAINTEXT_LISTENER" || isBitnamiVar(name):
			// bitnamiSecurity reads the security variables.
		case strings.HasPrefix(name, "KAFKA_") || strings.HasPrefix(name, "JAVA_") || name == "JMX_PORT":
			if !seen[name] {
				seen[name] = true
				ignored = append(ignored, name)
			}
		}
	}
	if clusterID != nil {
		props[clusterIDProp] = *clusterID // bitnami's own variable beats KAFKA_CFG_CLUSTER_ID
	}
	sort.Strings(ignored)
	return props, ignored
}

// parseProperties reads the java.util.Properties text format: "#" and "!" comment lines, keys
// ended by "=", ":" or whitespace, a backslash at the end of a line continuing it (the next
// line's leading whitespace dropped), and the escapes \t \n \r \f \uXXXX and \x for x. Values
// are trimmed (Kafka trims every value it parses). A later key wins.
func parseProperties(text string) (map[string]string, error) {
	props := map[string]string{}
	lines := strings.Split(strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		line := strings.TrimLeft(lines[i], " \t\f")
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		for oddBackslashes(line) {
			line = line[:len(line)-1]
			if i+1 >= len(lines) {
				break
			}
			i++
			line += strings.TrimLeft(lines[i], " \t\f")
		}
		k, v := splitKeyValue(line)
		key, err := unescape(k)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo, err)
		}
		value, err := unescape(v)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo, err)
		}
		props[key] = strings.TrimSpace(value)
	}
	return props, nil
}

// oddBackslashes reports whether s ends with an odd number of backslashes (a continuation).
func oddBackslashes(s string) bool {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

func isPropSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\f' }

// splitKeyValue splits a logical line into its (still escaped) key and value.
func splitKeyValue(line string) (key, value string) {
	end, sep := len(line), false
	for j := 0; j < len(line); j++ {
		c := line[j]
		if c == '\\' {
			j++
			continue
		}
		if c == '=' || c == ':' || isPropSpace(c) {
			end, sep = j, c == '=' || c == ':'
			break
		}
	}
	rest := strings.TrimLeft(line[min(end+1, len(line)):], " \t\f")
	if !sep && rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], " \t\f")
	}
	return line[:end], rest
}

// unescape resolves the properties-format escapes.
func unescape(s string) (string, error) {
	if !strings.Contains(s, "\\") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(s) {
			break
		}
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			var r rune
			if len(s)-i-1 < 4 {
				return "", errors.New(`malformed \uxxxx encoding`)
			}
			for _, h := range s[i+1 : i+5] {
				var d rune
				switch {
				case h >= '0' && h <= '9':
					d = h - '0'
				case h >= 'a' && h <= 'f':
					d = h - 'a' + 10
				case h >= 'A' && h <= 'F':
					d = h - 'A' + 10
				default:
					return "", errors.New(`malformed \uxxxx encoding`)
				}
				r = r<<4 | d
			}
			b.WriteRune(r)
			i += 4
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}
