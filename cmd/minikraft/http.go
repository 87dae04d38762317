package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/minikraft/minikraft/broker"
	"github.com/minikraft/minikraft/broker/config"
	"github.com/minikraft/minikraft/console"
	"github.com/minikraft/minikraft/metrics"
)

// The node's HTTP listener: /metrics, /readyz, /livez (package metrics), the test admin endpoint
// under /admin/ when it is on, and the web console when asked. Its properties are the binary's,
// not Kafka's: run takes them out before the broker's configuration is read, as it does
// testAdminProp. Also set by KAFKA_CFG_MINIKRAFT_HTTP_LISTENER and
// KAFKA_CFG_MINIKRAFT_HTTP_CONSOLE_ENABLE.
const (
	httpListenerProp = "minikraft.http.listener"       // host:port; empty (the default) is off
	httpConsoleProp  = "minikraft.http.console.enable" // true: serve the console on it too
)

// nodeProps are the binary's own properties.
type nodeProps struct {
	adminAddr string // testAdminProp
	httpAddr  string // httpListenerProp
	console   bool   // httpConsoleProp
}

// takeNodeProps removes the binary's own properties from props and returns them.
func takeNodeProps(props map[string]string) (nodeProps, error) {
	np := nodeProps{adminAddr: props[testAdminProp], httpAddr: strings.TrimSpace(props[httpListenerProp])}
	if v, ok := props[httpConsoleProp]; ok {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return np, fmt.Errorf("%s=%q: want true or false", httpConsoleProp, v)
		}
		np.console = b
	}
	if np.console && np.httpAddr == "" {
		return np, fmt.Errorf("%s=true needs %s (the address to serve it on)", httpConsoleProp, httpListenerProp)
	}
	if np.httpAddr != "" {
		if _, _, err := net.SplitHostPort(np.httpAddr); err != nil {
			return np, fmt.Errorf("%s=%q: want host:port: %w", httpListenerProp, np.httpAddr, err)
		}
	}
	for _, k := range []string{testAdminProp, httpListenerProp, httpConsoleProp} {
		delete(props, k)
	}
	return np, nil
}

// startHTTP serves the node's HTTP listener when np asks for one; stop closes it (and the
// console's client). admin, when not nil, is mounted under /admin/.
func startHTTP(np nodeProps, bc config.Broker, b *broker.Broker, admin http.Handler, logger *slog.Logger) (stop func(), err error) {
	if np.httpAddr == "" {
		return func() {}, nil
	}
	hc := metrics.HTTPConfig{Metrics: b.Metrics().Handler(), Ready: b.Ready, Admin: admin}
	var cons *console.Server
	if np.console {
		addr, err := ownClientAddr(bc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", httpConsoleProp, err)
		}
		cons, err = console.New(console.Config{Brokers: []string{addr}, Logger: logger})
		if err != nil {
			return nil, err
		}
		hc.Console = cons
	}
	ln, err := net.Listen("tcp", np.httpAddr)
	if err != nil {
		if cons != nil {
			cons.Close()
		}
		return nil, fmt.Errorf("%s: %w", httpListenerProp, err)
	}
	srv := &http.Server{Handler: metrics.NewHTTPHandler(hc), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	go srv.Serve(ln)
	logger.Info("HTTP listener serving", "addr", "http://"+ln.Addr().String(), "console", cons != nil, "admin", admin != nil)
	return func() {
		srv.Close()
		if cons != nil {
			cons.Close()
		}
	}, nil
}

// ownClientAddr is where the node's console reaches the node itself: its first PLAINTEXT client
// listener, on 127.0.0.1 when it binds every interface. The console speaks no TLS or SASL here.
func ownClientAddr(bc config.Broker) (string, error) {
	for _, l := range bc.Listeners {
		if slices.Contains(bc.ControllerListenerNames, l.Name) {
			continue
		}
		if p, _ := bc.SecurityProtocol(l.Name); p != "PLAINTEXT" {
			continue
		}
		host := l.Host
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		return net.JoinHostPort(host, strconv.Itoa(int(l.Port))), nil
	}
	return "", errors.New("the console needs a PLAINTEXT client listener")
}
