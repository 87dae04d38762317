package broker

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minikraft/minikraft/broker/config"
	"github.com/minikraft/minikraft/broker/security"
	"github.com/minikraft/minikraft/raftmeta"
	"github.com/minikraft/minikraft/wire"
)

// The node's security (broker/security): each client listener's wire.Security, read from the
// static properties at start (a keystore or JAAS configuration that cannot be used stops the
// start), and the dialer of the node's own links to the inter-broker listener (replica fetchers,
// WriteTxnMarkers), which does the listener's TLS handshake and SASL login.

// setupSecurity reads every client listener's security and the inter-broker dialer.
func (b *Broker) setupSecurity() error {
	bc := &b.cfg.Broker
	b.security = make(map[string]wire.Security)
	for _, l := range bc.Listeners {
		if slices.Contains(bc.ControllerListenerNames, l.Name) {
			continue
		}
		proto, _ := bc.SecurityProtocol(l.Name)
		var sec wire.Security
		var err error
		if proto == "SSL" || proto == "SASL_SSL" {
			if sec.TLS, err = security.ServerTLSFor(bc.Props, l.Name, proto); err != nil {
				return fmt.Errorf("broker: listener %s: %w", l.Name, err)
			}
			rules, err := security.ListenerPrincipalRules(bc.Props, l.Name)
			if err != nil {
				return fmt.Errorf("broker: listener %s: %w", l.Name, err)
			}
			sec.CertPrincipal = rules.CertPrincipal
		}
		if proto == "SASL_PLAINTEXT" || proto == "SASL_SSL" {
			s, err := security.ServerSASL(bc.Props, l.Name, b.scramLookup)
			if err != nil {
				return fmt.Errorf("broker: listener %s: %w", l.Name, err)
			}
			sec.SASL = s
		}
		b.security[l.Name] = sec
	}
	boot, err := security.ParseAddScram(bc.Props[config.ScramBootstrapProp])
	if err != nil {
		return fmt.Errorf("broker: %s: %w", config.ScramBootstrapProp, err)
	}
	b.scramBoot = boot
	base := b.cfg.Dial
	if base == nil {
		var d net.Dialer
		base = d.DialContext
	}
	b.interDial, b.ctrlDial = base, base
	if err := b.setupControllerTLS(base); err != nil {
		return err
	}
	if !bc.IsBroker() {
		return nil
	}
	proto, _ := bc.SecurityProtocol(bc.InterBrokerListenerName)
	c, err := security.ClientFor(bc.Props, bc.InterBrokerListenerName, proto)
	if err != nil {
		return fmt.Errorf("broker: inter-broker listener %s: %w", bc.InterBrokerListenerName, err)
	}
	if c == nil {
		return nil
	}
	c.ClientID = "minikraft-broker-" + strconv.Itoa(int(bc.NodeID))
	b.interDial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := base(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return c.Secure(ctx, nc, addr)
	}
	return nil
}

// setupControllerTLS reads the controller listener's security when it is mapped to SSL,
// SASL_PLAINTEXT or SASL_SSL: the server side for this node's CONTROLLER listener (TLS wrapped
// around it under raftmeta.Mux, so Raft's RPCs and the control calls both run over TLS; a SASL
// exchange on each connection before the Mux reads it, b.ctrlAuth), and the client side every
// node dials controllers with (b.ctrlDial: Raft's transport, the control calls). The controller
// listener's ssl.* and sasl.* properties apply, listener-prefixed first; a voter's host must
// match its certificate unless ssl.endpoint.identification.algorithm is empty.
func (b *Broker) setupControllerTLS(base raftmeta.Dialer) error {
	bc := &b.cfg.Broker
	if len(bc.ControllerListenerNames) == 0 {
		return nil
	}
	name := bc.ControllerListenerNames[0]
	proto, _ := bc.SecurityProtocol(name)
	if proto == "PLAINTEXT" || proto == "" {
		return nil
	}
	_, local := bc.Listener(name)
	local = local && bc.IsController()
	if local && (proto == "SSL" || proto == "SASL_SSL") {
		cfg, err := security.ServerTLSFor(bc.Props, name, proto)
		if err != nil {
			return fmt.Errorf("broker: controller listener %s: %w", name, err)
		}
		b.ctrlTLS = cfg
	}
	if local && (proto == "SASL_PLAINTEXT" || proto == "SASL_SSL") {
		if err := b.setupControllerSASL(name); err != nil {
			return err
		}
	}
	c, err := security.ControllerClientFor(bc.Props, name, proto)
	if err != nil {
		return fmt.Errorf("broker: controller listener %s: %w", name, err)
	}
	c.ClientID = "minikraft-controller-" + strconv.Itoa(int(bc.NodeID))
	b.ctrlDial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := base(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return c.Secure(ctx, nc, addr)
	}
	return nil
}

// setupControllerSASL makes b.ctrlAuth, the SASL exchange every connection to this node's
// controller listener runs before raftmeta.Mux reads it. Its mechanisms are the listener's
// sasl.enabled.mechanisms if set for it, else sasl.mechanism.controller.protocol; only PLAIN's
// JAAS users can log in, as in Kafka: SCRAM credentials live in the metadata that the
// controllers' quorum itself serves, so a SCRAM mechanism stops the start.
func (b *Broker) setupControllerSASL(name string) error {
	bc := &b.cfg.Broker
	props := bc.Props
	prefixed := "listener.name." + strings.ToLower(name) + ".sasl.enabled.mechanisms"
	if _, ok := props[prefixed]; !ok {
		props = maps.Clone(props)
		mech := props["sasl.mechanism.controller.protocol"]
		if strings.TrimSpace(mech) == "" {
			mech = security.PLAIN
		}
		props[prefixed] = mech
	}
	sasl, err := security.ServerSASL(props, name, nil)
	if err != nil {
		return fmt.Errorf("broker: controller listener %s: %w (SCRAM cannot log in to controllers: its credentials are in the metadata the controllers serve; use PLAIN, as Kafka does)", name, err)
	}
	mux := wire.NewMux()
	wire.HandleSASL(mux)
	srv := wire.NewServer(mux, wire.ServerConfig{
		AuthTimeout:  connectionsMaxIdle(bc.Props),
		MaxAuthBytes: saslServerMaxReceive(bc.Props),
		Logger:       b.log,
	})
	b.ctrlAuth = func(nc net.Conn) (net.Conn, error) {
		c, principal, err := srv.Authenticate(nc, name, sasl)
		if err != nil {
			return nil, err
		}
		b.log.Debug("controller connection authenticated", "principal", principal, "remote", nc.RemoteAddr())
		return c, nil
	}
	return nil
}

// saslListener hands out connections that run the controller listener's SASL exchange on their
// first Read or Write, on the goroutine raftmeta.Mux gives each connection, so a slow or hostile
// peer holds up no other (as tls.NewListener defers its handshake).
type saslListener struct {
	net.Listener
	auth func(net.Conn) (net.Conn, error)
}

func (l *saslListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &saslConn{Conn: nc, auth: l.auth}, nil
}

// saslConn is one accepted controller connection; after a failed exchange every Read and Write
// fails with its error (and the socket is closed).
type saslConn struct {
	net.Conn
	auth     func(net.Conn) (net.Conn, error)
	once     sync.Once
	c        net.Conn
	err      error
	deadline atomic.Pointer[time.Time] // the last SetDeadline, which the exchange's own replaces
}

func (s *saslConn) login() error {
	s.once.Do(func() {
		if s.c, s.err = s.auth(s.Conn); s.err != nil {
			s.Conn.Close()
			return
		}
		if d := s.deadline.Load(); d != nil {
			s.err = s.Conn.SetDeadline(*d)
		}
	})
	return s.err
}

// SetDeadline is kept to be set again after the exchange, which clears the deadline it sets:
// raftmeta.Mux bounds the wait for a connection's tag with one set before its first Read.
func (s *saslConn) SetDeadline(t time.Time) error {
	s.deadline.Store(&t)
	return s.Conn.SetDeadline(t)
}

func (s *saslConn) Read(b []byte) (int, error) {
	if err := s.login(); err != nil {
		return 0, err
	}
	return s.c.Read(b)
}

func (s *saslConn) Write(b []byte) (int, error) {
	if err := s.login(); err != nil {
		return 0, err
	}
	return s.c.Write(b)
}

// interBrokerDialer opens connections to other nodes' inter-broker listeners.
func (b *Broker) interBrokerDialer() raftmeta.Dialer { return b.interDial }

// connectionsMaxIdle is connections.max.idle.ms: how long a connection may take over its TLS
// handshake and SASL exchange before it is dropped (Kafka drops any connection idle that long).
func connectionsMaxIdle(props map[string]string) time.Duration {
	if ms, err := strconv.ParseInt(props["connections.max.idle.ms"], 10, 64); err == nil && ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	return wire.DefaultAuthTimeout
}

// saslServerMaxReceive is sasl.server.max.receive.size: the largest frame a connection may send
// before it has authenticated (Kafka's fix for CVE-2022-34917; default 512 KiB).
func saslServerMaxReceive(props map[string]string) int32 {
	if n, err := strconv.ParseInt(props["sasl.server.max.receive.size"], 10, 32); err == nil && n > 0 {
		return int32(n)
	}
	return wire.DefaultMaxAuthBytes
}

// scramLookup finds a SCRAM credential in the current metadata (AlterUserScramCredentials).
func (b *Broker) scramLookup(user, mechanism string) (security.ScramCredential, bool) {
	id, ok := scramMechanismIDs[mechanism]
	if !ok || b.meta == nil {
		return security.ScramCredential{}, false
	}
	c, ok := b.meta.State().Scram(user, id)
	if !ok {
		return security.ScramCredential{}, false
	}
	return security.ScramCredential{Salt: c.Salt, StoredKey: c.StoredKey, ServerKey: c.ServerKey, Iterations: int(c.Iterations)}, true
}

// scramMechanismIDs are Kafka's ScramMechanism numbers by name.
var scramMechanismIDs = map[string]int8{security.ScramSHA256: raftmeta.ScramSHA256, security.ScramSHA512: raftmeta.ScramSHA512}
