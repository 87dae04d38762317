package kafkatools

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// readProperties reads a Java properties file: "key=value", "key: value" or "key value" lines,
// "#" and "!" comments, a backslash at the end of a line continuing it (sasl.jaas.config is
// often split so).
func readProperties(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	props := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var line string
	for sc.Scan() {
		l := strings.TrimLeft(sc.Text(), " \t\f")
		if line == "" && (l == "" || l[0] == '#' || l[0] == '!') {
			continue
		}
		if strings.HasSuffix(l, `\`) && !strings.HasSuffix(l, `\\`) {
			line += strings.TrimSuffix(l, `\`)
			continue
		}
		line += l
		k, v := splitProperty(line)
		props[k] = v
		line = ""
	}
	if line != "" {
		k, v := splitProperty(line)
		props[k] = v
	}
	return props, sc.Err()
}

func splitProperty(line string) (string, string) {
	i := strings.IndexAny(line, "=: \t")
	if i < 0 {
		return line, ""
	}
	k, rest := line[:i], strings.TrimLeft(line[i:], " \t")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], " \t")
	}
	return k, strings.TrimRight(rest, " \t")
}

// parseKeyValues reads "k=v" arguments (--config, --producer-property, --property).
func parseKeyValues(args []string, into map[string]string) error {
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return usagef("Invalid property: %q (expected key=value)", a)
		}
		into[k] = v
	}
	return nil
}

// clientProps merges a properties file (the tool's --command-config, --producer.config or
// --consumer.config option, when given) and -property arguments, the arguments winning.
func clientProps(p *parsed, fileOpt, propOpt string) (map[string]string, error) {
	props := map[string]string{}
	if f := p.str(fileOpt, ""); fileOpt != "" && f != "" {
		fp, err := readProperties(f)
		if err != nil {
			return nil, fmt.Errorf("reading --%s: %w", fileOpt, err)
		}
		props = fp
	}
	if propOpt != "" {
		if err := parseKeyValues(p.all(propOpt), props); err != nil {
			return nil, err
		}
	}
	return props, nil
}

// connection is a client of the cluster the command line names.
type connection struct {
	cl      *kgo.Client
	adm     *kadm.Client
	props   map[string]string
	timeout time.Duration
}

func (c *connection) close() { c.cl.Close() }

// ctx bounds one admin command by default.api.timeout.ms.
func (c *connection) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, c.timeout)
}

// connectAdmin is connect with the --command-config properties, what the admin tools use.
func connectAdmin(p *parsed) (*connection, error) {
	props, err := clientProps(p, "command-config", "")
	if err != nil {
		return nil, err
	}
	return connect(p, props)
}

// connect makes a client of --bootstrap-server (or bootstrap.servers in the properties) with
// the properties' security settings.
func connect(p *parsed, props map[string]string, extra ...kgo.Opt) (*connection, error) {
	servers := p.str("bootstrap-server", p.str("broker-list", props["bootstrap.servers"]))
	if servers == "" {
		return nil, usagef("Missing required argument \"[bootstrap-server]\"")
	}
	var seeds []string
	for _, s := range strings.Split(servers, ",") {
		if s = strings.TrimSpace(s); s != "" {
			seeds = append(seeds, s)
		}
	}
	opts, err := securityOpts(props)
	if err != nil {
		return nil, err
	}
	timeout := defaultTimeout
	if v, ok := props["default.api.timeout.ms"]; ok {
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 {
			return nil, fmt.Errorf("Invalid value %s for configuration default.api.timeout.ms", v)
		}
		timeout = time.Duration(ms) * time.Millisecond
	}
	if id := props["client.id"]; id != "" {
		opts = append(opts, kgo.ClientID(id))
	}
	opts = append(append([]kgo.Opt{kgo.SeedBrokers(seeds...)}, opts...), extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(min(timeout, 30*time.Second) / time.Millisecond))
	return &connection{cl: cl, adm: adm, props: props, timeout: timeout}, nil
}

// securityOpts maps Kafka's client security properties to franz-go options.
func securityOpts(props map[string]string) ([]kgo.Opt, error) {
	proto := strings.ToUpper(props["security.protocol"])
	if proto == "" {
		proto = "PLAINTEXT"
	}
	var opts []kgo.Opt
	switch proto {
	case "PLAINTEXT":
	case "SSL", "SASL_SSL":
		cfg, err := tlsConfig(props)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	case "SASL_PLAINTEXT":
	default:
		return nil, fmt.Errorf("Invalid value %s for configuration security.protocol: String must be one of: PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL", props["security.protocol"])
	}
	if strings.HasPrefix(proto, "SASL_") {
		mech := props["sasl.mechanism"]
		if mech == "" {
			mech = "GSSAPI"
		}
		user, pass, err := jaasCredentials(props["sasl.jaas.config"])
		if err != nil {
			return nil, err
		}
		switch strings.ToUpper(mech) {
		case "PLAIN":
			opts = append(opts, kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism()))
		case "SCRAM-SHA-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()))
		case "SCRAM-SHA-512":
			opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()))
		default:
			return nil, fmt.Errorf("sasl.mechanism %s is not supported here: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", mech)
		}
	}
	return opts, nil
}

var jaasOption = regexp.MustCompile(`(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;"]+))`)

// jaasCredentials reads username and password from a sasl.jaas.config value such as
// `org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";`.
func jaasCredentials(jaas string) (user, pass string, err error) {
	if strings.TrimSpace(jaas) == "" {
		return "", "", errors.New("Could not find a 'KafkaClient' entry in the JAAS configuration: set sasl.jaas.config in the --command-config file")
	}
	if !strings.Contains(jaas, "PlainLoginModule") && !strings.Contains(jaas, "ScramLoginModule") {
		return "", "", fmt.Errorf("sasl.jaas.config: only PlainLoginModule and ScramLoginModule are supported, got %q", strings.Fields(jaas)[0])
	}
	var haveUser, havePass bool
	for _, m := range jaasOption.FindAllStringSubmatch(jaas, -1) {
		v := m[3]
		if m[3] == "" {
			v = strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(m[2])
		}
		switch m[1] {
		case "username":
			user, haveUser = v, true
		case "password":
			pass, havePass = v, true
		}
	}
	if !haveUser || !havePass {
		return "", "", errors.New("sasl.jaas.config: username and password are required")
	}
	return user, pass, nil
}

// tlsConfig builds the TLS settings from Kafka's ssl.* properties. Stores must be PEM (a file of
// PEM blocks, or ssl.truststore.certificates / ssl.keystore.certificate.chain and
// ssl.keystore.key given inline), Kafka's ssl.*.type=PEM; JKS and PKCS12 stores are refused
// with a message saying so. ssl.endpoint.identification.algorithm="" turns off the host name
// check (the chain is still verified), as in Kafka.
func tlsConfig(props map[string]string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	var roots *x509.CertPool
	trust := props["ssl.truststore.certificates"]
	if loc := props["ssl.truststore.location"]; trust == "" && loc != "" {
		b, err := os.ReadFile(loc)
		if err != nil {
			return nil, fmt.Errorf("ssl.truststore.location: %w", err)
		}
		if !strings.Contains(string(b), "-----BEGIN") {
			return nil, fmt.Errorf("ssl.truststore.location %s is not PEM (type %s): only PEM stores are supported; export the CA certificate as PEM and set ssl.truststore.type=PEM", loc, props["ssl.truststore.type"])
		}
		trust = string(b)
	}
	if trust != "" {
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM([]byte(trust)) {
			return nil, errors.New("ssl.truststore: no certificate found in the PEM data")
		}
		cfg.RootCAs = roots
	}
	chain, key := props["ssl.keystore.certificate.chain"], props["ssl.keystore.key"]
	if loc := props["ssl.keystore.location"]; chain == "" && loc != "" {
		b, err := os.ReadFile(loc)
		if err != nil {
			return nil, fmt.Errorf("ssl.keystore.location: %w", err)
		}
		if !strings.Contains(string(b), "-----BEGIN") {
			return nil, fmt.Errorf("ssl.keystore.location %s is not PEM (type %s): only PEM stores are supported", loc, props["ssl.keystore.type"])
		}
		chain, key = string(b), string(b)
	}
	if chain != "" {
		cert, err := tls.X509KeyPair([]byte(chain), []byte(key))
		if err != nil {
			return nil, fmt.Errorf("ssl.keystore: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if alg, ok := props["ssl.endpoint.identification.algorithm"]; ok && alg == "" {
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			return err
		}
	}
	return cfg, nil
}
