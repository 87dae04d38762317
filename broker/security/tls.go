package security

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
)

// props looks properties up for one listener: listener.name.<listener>.<name> first, then <name>.
type props struct {
	m      map[string]string
	prefix string // "listener.name.<listener lower-cased>."
}

func newProps(m map[string]string, listener string) props {
	return props{m: m, prefix: "listener.name." + strings.ToLower(listener) + "."}
}

// get returns the property's value and the name it was found under ("" if not set).
func (p props) get(name string) (value, from string) {
	if v, ok := p.m[p.prefix+name]; ok {
		return v, p.prefix + name
	}
	if v, ok := p.m[name]; ok {
		return v, name
	}
	return "", ""
}

func (p props) str(name string) string { v, _ := p.get(name); return strings.TrimSpace(v) }

// Error is a security property that cannot be used: it names the property, as Kafka's
// ConfigException does.
type Error struct {
	Prop string
	Msg  string
}

func (e *Error) Error() string { return "security: " + e.Prop + ": " + e.Msg }

func errf(prop, format string, args ...any) error {
	return &Error{Prop: prop, Msg: fmt.Sprintf(format, args...)}
}

// tlsVersions applies ssl.enabled.protocols (Kafka's default TLSv1.2,TLSv1.3). Versions below 1.2
// are not served.
func tlsVersions(p props, c *tls.Config) error {
	s := p.str("ssl.enabled.protocols")
	if s == "" {
		s = "TLSv1.2,TLSv1.3"
	}
	c.MinVersion, c.MaxVersion = 0, 0
	for _, v := range strings.Split(s, ",") {
		var id uint16
		switch strings.TrimSpace(v) {
		case "TLSv1.2":
			id = tls.VersionTLS12
		case "TLSv1.3":
			id = tls.VersionTLS13
		case "":
			continue
		default:
			return errf("ssl.enabled.protocols", "%s is not supported: minikraft serves TLSv1.2 and TLSv1.3", strings.TrimSpace(v))
		}
		if c.MinVersion == 0 || id < c.MinVersion {
			c.MinVersion = id
		}
		if id > c.MaxVersion {
			c.MaxVersion = id
		}
	}
	if c.MinVersion == 0 {
		return errf("ssl.enabled.protocols", "no protocol is enabled")
	}
	return nil
}

// ServerTLS builds the TLS configuration of a listener mapped to SSL from the node's properties:
// its keystore (required), truststore, ssl.client.auth and ssl.enabled.protocols.
func ServerTLS(all map[string]string, listener string) (*tls.Config, error) {
	return ServerTLSFor(all, listener, "SSL")
}

// ServerTLSFor is ServerTLS for a listener mapped to protocol (SSL or SASL_SSL). On SASL_SSL,
// as in Kafka since KIP-684, only listener.name.<listener>.ssl.client.auth asks for client
// certificates: the broker-wide ssl.client.auth (bitnami sets it to required) applies to SSL
// listeners alone, since SASL clients authenticate with SASL.
func ServerTLSFor(all map[string]string, listener, protocol string) (*tls.Config, error) {
	p := newProps(all, listener)
	cert, err := loadKeystore(p)
	if err != nil {
		return nil, err
	}
	if cert == nil {
		return nil, errf(p.prefix+"ssl.keystore.location", "listener %s uses TLS but has no keystore (ssl.keystore.location, or ssl.keystore.key and ssl.keystore.certificate.chain)", listener)
	}
	c := &tls.Config{Certificates: []tls.Certificate{*cert}}
	if err := tlsVersions(p, c); err != nil {
		return nil, err
	}
	roots, err := loadTruststore(p)
	if err != nil {
		return nil, err
	}
	c.ClientCAs = roots // nil: the system's roots
	v, from := p.get("ssl.client.auth")
	if protocol == "SASL_SSL" && from != p.prefix+"ssl.client.auth" {
		v, from = "none", ""
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "none":
		c.ClientAuth = tls.NoClientCert
	case "requested":
		c.ClientAuth = tls.VerifyClientCertIfGiven
	case "required":
		c.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return nil, errf(from, "Invalid value %s: String must be one of: required, requested, none", v)
	}
	return c, nil
}

// ClientTLS builds the TLS configuration this node dials a listener of its own kind with (the
// inter-broker listener): the listener's truststore to verify the peer, its keystore as the
// client certificate (a peer with ssl.client.auth=required asks for one), and host name
// verification unless ssl.endpoint.identification.algorithm is empty (Kafka's default is https).
func ClientTLS(all map[string]string, listener string) (*tls.Config, error) {
	p := newProps(all, listener)
	c := &tls.Config{}
	if err := tlsVersions(p, c); err != nil {
		return nil, err
	}
	cert, err := loadKeystore(p)
	if err != nil {
		return nil, err
	}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	roots, err := loadTruststore(p)
	if err != nil {
		return nil, err
	}
	c.RootCAs = roots
	algo, set := p.get("ssl.endpoint.identification.algorithm")
	if set != "" && strings.TrimSpace(algo) == "" {
		// Kafka's ssl.endpoint.identification.algorithm= (empty): the chain is verified, the
		// host name is not. crypto/tls verifies both or neither, so verify the chain here.
		c.InsecureSkipVerify = true
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("security: the peer sent no certificate")
			}
			opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
			for _, ic := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(ic)
			}
			_, err := cs.PeerCertificates[0].Verify(opts)
			return err
		}
	}
	return c, nil
}
