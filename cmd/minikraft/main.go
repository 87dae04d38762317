// Command minikraft runs one node of a Kafka-compatible cluster.
//
// With no arguments it is a complete one-node cluster for development: PLAINTEXT on
// 127.0.0.1:9092, the controller on 127.0.0.1:9093, data in ./minikraft-data, topics created
// on first use. Every setting is a Kafka broker property, given as a flag shortcut
// (--node-id, --voters, --listeners, ...), as --config key=value, in a --config-file
// server.properties, or through bitnami's KAFKA_CFG_* environment variables; see --help.
//
// `minikraft healthcheck [addr]` asks a broker for its API versions and exits 0 when it answers,
// for container health checks (given an http:// address, it checks a console's page).
//
// Invoked under the name of one of Kafka's tools (kafka-topics.sh, kafka-topics, ...: the image
// links each name to the binary) or as `minikraft kafka-topics ...`, it is that tool, a client
// of any cluster (package kafkatools).
//
// `minikraft console --bootstrap-server HOST:PORT[,...] --listen ADDR` serves a web console of
// any Kafka cluster (package console); see console.go for its flags and kafka-ui's variables.
package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/minikraft/minikraft"
	"github.com/minikraft/minikraft/broker"
	"github.com/minikraft/minikraft/broker/config"
	"github.com/minikraft/minikraft/kafkatools"
)

func main() {
	// Invoked as one of Kafka's tools (a kafka-topics.sh link to this binary, or `minikraft
	// kafka-topics ...`): package kafkatools.
	if name := kafkatools.ToolName(os.Args[0]); name != "" {
		os.Exit(kafkatools.Main(name, os.Args[1:]))
	}
	if len(os.Args) > 1 {
		if name := kafkatools.ToolName(os.Args[1]); name != "" {
			os.Exit(kafkatools.Main(name, os.Args[2:]))
		}
	}
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(healthcheck(os.Args[2:]))
	}
	if args, ok := consoleArgs(os.Args[1:]); ok {
		if err := runConsole(args, os.Environ()); err != nil {
			fmt.Fprintln(os.Stderr, "minikraft console:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[1:], os.Environ()); err != nil {
		fmt.Fprintln(os.Stderr, "minikraft:", err)
		os.Exit(1)
	}
}

func run(args, environ []string) error {
	props, ignored, level, err := loadProperties(args, environ, os.ReadFile)
	if err != nil {
		return err
	}
	logger, err := newLogger(level)
	if err != nil {
		return err
	}
	for _, name := range ignored {
		logger.Info("ignoring environment variable that only applies to the JVM or the bitnami scripts", "name", name)
	}
	np, err := takeNodeProps(props)
	if err != nil {
		return err
	}
	adminAddr := np.adminAddr
	bc, unknown, err := config.FromProperties(props)
	if err != nil {
		return err
	}
	for _, name := range unknown {
		if name == config.ScramBootstrapProp {
			continue // minikraft's own, from bitnami's variables
		}
		logger.Warn("the configuration was supplied but isn't a known config", "name", name)
	}
	cfg := broker.Config{Broker: bc, Logger: logger}
	var admin *minikraft.NodeAdmin
	if adminAddr != "" {
		admin = minikraft.NewNodeAdmin(props["controller.quorum.voters"])
		cfg.Dial = admin.Dial
	}
	b, err := broker.New(cfg)
	if err != nil {
		return err
	}
	if admin != nil {
		admin.Attach(b)
		ln, err := net.Listen("tcp", adminAddr)
		if err != nil {
			b.Close()
			return fmt.Errorf("--test-admin-listen: %w", err)
		}
		srv := &http.Server{Handler: admin, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		logger.Warn("the test admin endpoint is on: anyone who reaches it can fail this node's requests", "addr", ln.Addr().String())
	}
	var adminHandler http.Handler
	if admin != nil {
		adminHandler = admin // also under /admin/ on the HTTP listener
	}
	stopHTTP, err := startHTTP(np, bc, b, adminHandler, logger)
	if err != nil {
		b.Close()
		return err
	}
	defer stopHTTP()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case s := <-sig:
		logger.Info("shutting down", "signal", s.String())
		return b.Close()
	case <-b.Failed():
		b.Close()
		return b.Err()
	}
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}
