package security

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/minikraft/minikraft/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Mechanism names, as SaslHandshake carries them.
const (
	PLAIN = "PLAIN"
)

// defaultMechanism replaces Kafka's default GSSAPI (Kerberos), which minikraft does not serve,
// for sasl.enabled.mechanisms and sasl.mechanism.inter.broker.protocol.
const defaultMechanism = PLAIN

// SASL is the server side of a SASL listener: a wire.Authenticator.
type SASL struct {
	mechs []string
	plain map[string][]byte // PLAIN's users and their passwords
	scram ScramLookup       // the SCRAM credentials in the metadata
}

var _ wire.Authenticator = (*SASL)(nil)

// ServerSASL reads a SASL listener's mechanisms (sasl.enabled.mechanisms) and, for PLAIN, its
// users from the JAAS configuration. scram finds SCRAM credentials; SCRAM mechanisms need it.
func ServerSASL(all map[string]string, listener string, scram ScramLookup) (*SASL, error) {
	p := newProps(all, listener)
	s := &SASL{scram: scram}
	list, from := p.get("sasl.enabled.mechanisms")
	if from == "" {
		list, from = defaultMechanism, "sasl.enabled.mechanisms"
	}
	for _, m := range strings.Split(list, ",") {
		m = strings.ToUpper(strings.TrimSpace(m))
		if m == "" {
			continue
		}
		switch m {
		case PLAIN:
			j, err := jaasFor(p, m)
			if err != nil {
				return nil, err
			}
			s.plain = map[string][]byte{}
			for k, v := range j.Options {
				if u, ok := strings.CutPrefix(k, "user_"); ok {
					s.plain[u] = []byte(v)
				}
			}
			if len(s.plain) == 0 {
				return nil, errf(p.prefix+"plain.sasl.jaas.config", "listener %s enables PLAIN but its JAAS configuration has no user_<name>=\"<password>\" entry", listener)
			}
		case ScramSHA256, ScramSHA512:
			if scram == nil {
				return nil, errf(from, "SASL mechanism %s needs the SCRAM credentials of the metadata", m)
			}
		default:
			return nil, errf(from, "SASL mechanism %s is not supported (minikraft serves PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512)", m)
		}
		s.mechs = append(s.mechs, m)
	}
	if len(s.mechs) == 0 {
		return nil, errf(from, "no SASL mechanism is enabled for listener %s", listener)
	}
	return s, nil
}

// jaasFor finds mechanism's JAAS configuration for the listener.
func jaasFor(p props, mechanism string) (JAAS, error) {
	name := p.prefix + strings.ToLower(mechanism) + ".sasl.jaas.config"
	s, ok := p.m[name]
	if !ok {
		if s, ok = p.m["sasl.jaas.config"]; ok {
			name = "sasl.jaas.config"
		}
	}
	if !ok {
		return JAAS{}, errf(name, "not set: SASL mechanism %s needs a JAAS configuration", mechanism)
	}
	j, err := ParseJAAS(s)
	if err != nil {
		return JAAS{}, errf(name, "%v", err)
	}
	return j, nil
}

// Mechanisms lists the enabled mechanisms, in sasl.enabled.mechanisms's order.
func (s *SASL) Mechanisms() []string { return s.mechs }

// Start begins a connection's exchange.
func (s *SASL) Start(mechanism string) (wire.SASLExchange, bool) {
	for _, m := range s.mechs {
		switch {
		case m != mechanism:
		case m == PLAIN:
			return &plainExchange{users: s.plain}, true
		case IsScram(m):
			return &scramExchange{mechanism: m, lookup: s.scram}, true
		}
	}
	return nil, false
}

// plainExchange is Kafka's PlainSaslServer (RFC 4616): one message, authzid NUL authcid NUL
// password, with Kafka's messages.
type plainExchange struct {
	users map[string][]byte
	user  string
}

// dummyPassword is compared against when the user is unknown, so an unknown user takes as long
// as a wrong password.
var dummyPassword = bytes.Repeat([]byte{0}, 32)

func (x *plainExchange) Step(token []byte) ([]byte, bool, error) {
	if x.user != "" {
		return nil, false, errors.New("Authentication failed: PLAIN takes one message")
	}
	parts := bytes.Split(token, []byte{0})
	if len(parts) != 3 {
		return nil, false, fmt.Errorf("Invalid SASL/PLAIN response: expected 3 tokens, got %d", len(parts))
	}
	authz, user, pass := string(parts[0]), string(parts[1]), parts[2]
	switch {
	case user == "":
		return nil, false, errors.New("Authentication failed: username not specified")
	case len(pass) == 0:
		return nil, false, errors.New("Authentication failed: password not specified")
	}
	want, known := x.users[user]
	if !known {
		want = dummyPassword
	}
	if subtle.ConstantTimeCompare(want, pass) != 1 || !known {
		return nil, false, errors.New("Authentication failed: Invalid username or password")
	}
	if authz != "" && authz != user {
		return nil, false, errors.New("Authentication failed: Client requested an authorization id that is different from username")
	}
	x.user = user
	return []byte{}, true, nil
}

func (x *plainExchange) Principal() string { return "User:" + x.user }

// Client is how this node opens a connection to a listener of its own cluster with security: TLS
// and, on SASL listeners, the node's own login (the JAAS configuration's username and password).
type Client struct {
	TLS       *tls.Config // nil: no TLS
	Mechanism string      // "" : no SASL
	User      string
	Password  string
	ClientID  string
}

// ClientFor returns how to dial the listener (which has the given protocol) as this node: nil for
// PLAINTEXT. The mechanism is sasl.mechanism.inter.broker.protocol (minikraft's default PLAIN;
// SCRAM-SHA-256 and SCRAM-SHA-512 log in with the credential in the metadata, which
// config.ScramBootstrapProp or AlterUserScramCredentials must have created).
func ClientFor(all map[string]string, listener, protocol string) (*Client, error) {
	return clientFor(all, listener, protocol, "sasl.mechanism.inter.broker.protocol")
}

// ControllerClientFor is ClientFor for the controller listener, whose mechanism is
// sasl.mechanism.controller.protocol (PLAIN by default): how a node dials controllers.
func ControllerClientFor(all map[string]string, listener, protocol string) (*Client, error) {
	return clientFor(all, listener, protocol, "sasl.mechanism.controller.protocol")
}

func clientFor(all map[string]string, listener, protocol, mechanismProp string) (*Client, error) {
	p := newProps(all, listener)
	c := &Client{}
	if protocol == "SSL" || protocol == "SASL_SSL" {
		var err error
		if c.TLS, err = ClientTLS(all, listener); err != nil {
			return nil, err
		}
	}
	if protocol == "SASL_PLAINTEXT" || protocol == "SASL_SSL" {
		c.Mechanism = strings.ToUpper(strings.TrimSpace(p.m[mechanismProp]))
		if c.Mechanism == "" {
			c.Mechanism = defaultMechanism
		}
		if c.Mechanism != PLAIN && !IsScram(c.Mechanism) {
			return nil, errf(mechanismProp, "%s is not supported (minikraft's links use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", c.Mechanism)
		}
		j, err := jaasFor(p, c.Mechanism)
		if err != nil {
			return nil, err
		}
		c.User, c.Password = j.Options["username"], j.Options["password"]
		if c.User == "" {
			return nil, errf(p.prefix+strings.ToLower(c.Mechanism)+".sasl.jaas.config", "listener %s needs username and password options for this node's own login", listener)
		}
	}
	if c.TLS == nil && c.Mechanism == "" {
		return nil, nil
	}
	return c, nil
}

// Secure runs the client side of the listener's security on nc, an open connection to addr: the
// TLS handshake, then SaslHandshake v1 and SaslAuthenticate. It returns the connection to use
// (TLS over nc) or closes nc and returns an error.
func (c *Client) Secure(ctx context.Context, nc net.Conn, addr string) (net.Conn, error) {
	conn := nc
	if c.TLS != nil {
		cfg := c.TLS.Clone()
		if cfg.ServerName == "" {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				host = addr
			}
			cfg.ServerName = host
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("security: TLS handshake with %s: %w", addr, err)
		}
		conn = tc
	}
	if c.Mechanism == "" {
		return conn, nil
	}
	if err := c.authenticate(ctx, conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("security: SASL %s with %s: %w", c.Mechanism, addr, err)
	}
	return conn, nil
}

func (c *Client) authenticate(ctx context.Context, conn net.Conn) error {
	wc := wire.NewClient(conn, c.ClientID, 1<<20)
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = c.Mechanism
	resp, err := wc.Request(ctx, hs)
	if err != nil {
		return err
	}
	if err := kerr.ErrorForCode(resp.(*kmsg.SASLHandshakeResponse).ErrorCode); err != nil {
		return err
	}
	step := func(token []byte) ([]byte, error) {
		auth := kmsg.NewPtrSASLAuthenticateRequest()
		auth.SetVersion(1)
		auth.SASLAuthBytes = token
		resp, err := wc.Request(ctx, auth)
		if err != nil {
			return nil, err
		}
		ar := resp.(*kmsg.SASLAuthenticateResponse)
		if err := kerr.ErrorForCode(ar.ErrorCode); err != nil {
			if ar.ErrorMessage != nil {
				return nil, fmt.Errorf("%w: %s", err, *ar.ErrorMessage)
			}
			return nil, err
		}
		return ar.SASLAuthBytes, nil
	}
	if c.Mechanism == PLAIN {
		_, err := step([]byte("\x00" + c.User + "\x00" + c.Password))
		return err
	}
	sc := &scramClient{mechanism: c.Mechanism, user: c.User, password: c.Password}
	serverFirst, err := step(sc.first())
	if err != nil {
		return err
	}
	clientFinal, err := sc.final(serverFirst)
	if err != nil {
		return err
	}
	serverFinal, err := step(clientFinal)
	if err != nil {
		return err
	}
	return sc.verify(serverFinal)
}
