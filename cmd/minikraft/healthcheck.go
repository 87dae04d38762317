package main

import (
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/broker/config"
	"github.com/minikraft/minikraft/broker/security"
)

// healthcheck sends one ApiVersions request to addr and reports whether a well-formed answer came
// back within five seconds. A node opens its client port only once its broker is registered with
// the controller and caught up with the metadata, as Kafka enables request processing only then,
// so healthy means ready for clients; before that the connection is refused and the check fails
// at once. It speaks the protocol directly so the container image needs nothing but this binary.
// Without an address it probes this node's first client listener as the environment configures
// it (KAFKA_CFG_LISTENERS, as in a compose file), on 127.0.0.1 when the listener binds every
// interface, over TLS when that listener needs it; by default 127.0.0.1:9092. An http://
// address is a console's page instead (probeHTTP). When the node has an HTTP listener
// (minikraft.http.listener), the default is its /readyz instead, which also fails while the node
// is fenced; `--config-file F` first reads the node's properties file too, as the image's
// HEALTHCHECK does with its /etc/minikraft/server.properties.
func healthcheck(args []string) int {
	var fileArgs []string
	if len(args) >= 2 && args[0] == "--config-file" {
		fileArgs, args = args[:2], args[2:]
	}
	addr, tc := localProbeAddr(fileArgs, os.Environ())
	if len(args) > 0 {
		addr, tc = args[0], nil
	}
	var err error
	if strings.HasPrefix(addr, "http://") {
		err = probeHTTP(addr, 5*time.Second)
	} else {
		err = probe(addr, tc, 5*time.Second)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "minikraft healthcheck:", err)
		return 1
	}
	return 0
}

// probeHTTP is the health check of a console (`minikraft healthcheck http://127.0.0.1:8080/...`):
// a GET that answers 2xx.
func probeHTTP(url string, timeout time.Duration) error {
	c := http.Client{Timeout: timeout}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}

// probe sends ApiVersions, over TLS if tc is not nil. ApiVersions is allowed before SASL
// authentication, so a SASL listener answers it too.
func probe(addr string, tc *tls.Config, timeout time.Duration) error {
	var c net.Conn
	var err error
	if tc != nil {
		c, err = tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", addr, tc)
	} else {
		c, err = net.DialTimeout("tcp", addr, timeout)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 0
	body := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	body = binary.BigEndian.AppendUint16(body, uint16(req.Version))
	body = binary.BigEndian.AppendUint32(body, 1)      // correlation id
	body = binary.BigEndian.AppendUint16(body, 0xffff) // null client id
	body = req.AppendTo(body)
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	if _, err := c.Write(append(frame, body...)); err != nil {
		return err
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 1<<20 {
		return fmt.Errorf("bad response size %d", n)
	}
	resp := make([]byte, n)
	if _, err := io.ReadFull(c, resp); err != nil {
		return err
	}
	if binary.BigEndian.Uint32(resp) != 1 {
		return fmt.Errorf("response for another request")
	}
	r := kmsg.NewPtrApiVersionsResponse()
	r.Version = 0
	if err := r.ReadFrom(resp[4:]); err != nil {
		return err
	}
	if r.ErrorCode != 0 {
		return fmt.Errorf("broker answered error code %d", r.ErrorCode)
	}
	return nil
}

// localClientAddr is where a health check reaches this node's first client listener, preferring
// one without TLS (PLAINTEXT or SASL_PLAINTEXT); for a TLS listener it returns the TLS
// configuration to dial it with: the node's own keystore as the client certificate (in case
// ssl.client.auth=required) and no verification of the server, since the probe asks whether this
// node is ready, not who it is.
func localClientAddr(environ []string) (string, *tls.Config) { return localProbeAddr(nil, environ) }

// localProbeAddr is localClientAddr with the properties of args (--config-file F) under the
// environment's, and the node's /readyz URL first when it has an HTTP listener.
func localProbeAddr(args, environ []string) (string, *tls.Config) {
	const fallback = "127.0.0.1:9092"
	props, _, _, err := loadProperties(args, environ, os.ReadFile)
	if err != nil {
		// bitnami's variables could not be applied (the node will not start either): find the
		// listener without them.
		if props, _, _, err = loadPropertiesBitnami(nil, environ, os.ReadFile, false); err != nil {
			return fallback, nil
		}
	}
	np, err := takeNodeProps(props)
	if err == nil && np.httpAddr != "" {
		if host, port, err := net.SplitHostPort(np.httpAddr); err == nil {
			if host == "" || host == "0.0.0.0" || host == "::" {
				host = "127.0.0.1"
			}
			return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
		}
	}
	bc, _, err := config.FromProperties(props)
	if err != nil {
		return fallback, nil
	}
	var tlsAddr, tlsName string
	for _, l := range bc.Listeners {
		if slices.Contains(bc.ControllerListenerNames, l.Name) {
			continue
		}
		host := l.Host
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		addr := net.JoinHostPort(host, strconv.Itoa(int(l.Port)))
		if p, _ := bc.SecurityProtocol(l.Name); p == "SSL" || p == "SASL_SSL" {
			if tlsAddr == "" {
				tlsAddr, tlsName = addr, l.Name
			}
			continue
		}
		return addr, nil
	}
	if tlsAddr == "" {
		return fallback, nil
	}
	tc, err := security.ClientTLS(bc.Props, tlsName)
	if err != nil {
		tc = &tls.Config{}
	}
	tc.InsecureSkipVerify, tc.VerifyConnection = true, nil
	return tlsAddr, tc
}
