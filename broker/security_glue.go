package broker

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
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

// setupControllerTLS reads the controller listener's TLS when it is mapped to SSL: the server
// side for this node's CONTROLLER listener (wrapped around it under raftmeta.Mux, so Raft's RPCs
// and the control calls both run over TLS), and the client side every node dials controllers
// with (b.ctrlDial: Raft's transport, the control calls). The controller listener's ssl.*
// properties apply, listener-prefixed first; a voter's host must match its certificate unless
// ssl.endpoint.identification.algorithm is empty.
func (b *Broker) setupControllerTLS(base raftmeta.Dialer) error {
	bc := &b.cfg.Broker
	if len(bc.ControllerListenerNames) == 0 {
		return nil
	}
	name := bc.ControllerListenerNames[0]
	if proto, _ := bc.SecurityProtocol(name); proto != "SSL" {
		return nil
	}
	if _, ok := bc.Listener(name); ok && bc.IsController() {
		cfg, err := security.ServerTLSFor(bc.Props, name, "SSL")
		if err != nil {
			return fmt.Errorf("broker: controller listener %s: %w", name, err)
		}
		b.ctrlTLS = cfg
	}
	tc, err := security.ClientTLS(bc.Props, name)
	if err != nil {
		return fmt.Errorf("broker: controller listener %s: %w", name, err)
	}
	c := &security.Client{TLS: tc}
	b.ctrlDial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := base(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return c.Secure(ctx, nc, addr)
	}
	return nil
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
