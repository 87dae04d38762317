package wire

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"time"
)

// Security is what a listener asks of its connections before they may send requests: a TLS
// handshake (listeners mapped to SSL or SASL_SSL) and a SASL exchange (SASL_PLAINTEXT,
// SASL_SSL). The zero value is PLAINTEXT.
type Security struct {
	// TLS, if not nil, makes every connection a TLS server connection with this configuration.
	// Its ClientAuth decides whether a client certificate is asked for (ssl.client.auth); a
	// verified one names the principal when there is no SASL.
	TLS *tls.Config
	// SASL, if not nil, makes every connection authenticate with SaslHandshake and
	// SaslAuthenticate (or, after a v0 handshake, raw SASL frames) before any request other than
	// ApiVersions, as Kafka's SaslServerAuthenticator requires. The Mux must serve SaslHandshake
	// and SaslAuthenticate (HandleSASL), which answer requests after authentication.
	SASL Authenticator
	// CertPrincipal, if not nil, names the principal of a TLS connection without SASL whose
	// client sent a certificate (ssl.principal.mapping.rules); an error fails the connection's
	// authentication and closes it. Nil: "User:" and the subject (Kafka's DEFAULT rule).
	CertPrincipal func(*x509.Certificate) (string, error)
}

// Authenticator is a SASL listener's server side: its enabled mechanisms (sasl.enabled.mechanisms)
// and an exchange for each connection.
type Authenticator interface {
	// Mechanisms lists the enabled mechanism names, as SaslHandshake reports them.
	Mechanisms() []string
	// Start begins one connection's exchange with mechanism; ok is false if it is not enabled.
	Start(mechanism string) (x SASLExchange, ok bool)
}

// SASLExchange is one connection's SASL exchange on the server.
type SASLExchange interface {
	// Step consumes the client's next token and returns the server's answer. done reports the
	// end of a successful exchange (the answer, perhaps empty, is still sent). An error fails the
	// authentication: its text is the SaslAuthenticate response's error message, so it must say
	// nothing a client may not learn (Kafka's "Authentication failed: Invalid username or
	// password").
	Step(token []byte) (answer []byte, done bool, err error)
	// Principal is the authenticated principal ("User:alice"), once Step reported done.
	Principal() string
}

// DefaultAuthTimeout bounds the TLS handshake and the SASL exchange of a connection when
// ServerConfig.AuthTimeout is not set: Kafka's connections.max.idle.ms, after which a broker
// closes a connection that has sent nothing.
const DefaultAuthTimeout = 10 * time.Minute

// DefaultMaxAuthBytes is Kafka's sasl.server.max.receive.size: the largest frame a connection
// may send before it has authenticated.
const DefaultMaxAuthBytes = 512 << 10

// ServeSecure is Serve for a listener with security: each accepted connection first completes
// what sec asks (a TLS handshake, a SASL exchange) on its own goroutine, so a slow or hostile
// client holds up no one else.
func (s *Server) ServeSecure(ln net.Listener, listenerName string, sec Security) error {
	return s.serve(ln, listenerName, sec)
}

// tlsHandshake runs the server side of a TLS handshake on c's socket within the auth timeout and
// makes the TLS connection the one c reads and writes. A peer that does not speak TLS (a
// PLAINTEXT client on an SSL listener) fails it at its first bytes, and the connection is closed.
func (c *conn) tlsHandshake() error {
	tc := tls.Server(c.nc, c.sec.TLS)
	ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.AuthTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("wire: TLS handshake: %w", err)
	}
	c.rw = tc
	if c.sec.SASL == nil {
		p, err := certPrincipal(tc.ConnectionState(), c.sec.CertPrincipal)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrAuthentication, err)
		}
		c.setPrincipal(p)
	}
	return nil
}

// certPrincipal is Kafka's DefaultKafkaPrincipalBuilder for SSL: the subject of the client's
// certificate in RFC 2253 form (X500Principal.getName()) mapped by mapper (nil: as it is), or
// ANONYMOUS without a certificate.
func certPrincipal(st tls.ConnectionState, mapper func(*x509.Certificate) (string, error)) (string, error) {
	if len(st.PeerCertificates) == 0 {
		return Anonymous, nil
	}
	if mapper == nil {
		return "User:" + st.PeerCertificates[0].Subject.String(), nil
	}
	return mapper(st.PeerCertificates[0])
}

// setPrincipal gives the requests that follow a ConnInfo naming p; ConnInfos already handed to
// requests are not modified.
func (c *conn) setPrincipal(p string) {
	info := *c.info
	info.Principal = p
	c.info = &info
}

// Authenticate runs Kafka's SASL exchange (the server side of SaslHandshake and
// SaslAuthenticate, as on a SASL listener) on nc, a connection that is not served as Kafka
// requests afterwards: the controller listener's, whose connections then carry Raft's RPCs and
// the control calls (raftmeta.Mux). s's Mux must serve SaslHandshake and SaslAuthenticate
// (HandleSASL); its ServerConfig's AuthTimeout and MaxAuthBytes bound the exchange. It returns
// the connection to read and write afterwards (nc, with what was read ahead of the exchange's
// end in front of it) and the principal; on an error the caller closes nc.
func (s *Server) Authenticate(nc net.Conn, listenerName string, sasl Authenticator) (net.Conn, string, error) {
	c := newConn(s, nc, listenerName, Security{SASL: sasl})
	defer c.cancel()
	br := bufio.NewReaderSize(nc, 4<<10)
	fr := &frameReader{pool: &s.frames, recycle: s.mux.recycles, r: br}
	if err := c.authenticate(fr); err != nil {
		return nil, "", err
	}
	if n := br.Buffered(); n > 0 {
		ahead, _ := br.Peek(n)
		return &prefixConn{Conn: nc, r: io.MultiReader(bytes.NewReader(bytes.Clone(ahead)), nc)}, c.info.Principal, nil
	}
	return nc, c.info.Principal, nil
}

// prefixConn is a connection whose first bytes were already read into a buffer.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (p *prefixConn) Read(b []byte) (int, error) { return p.r.Read(b) }
