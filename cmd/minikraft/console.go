package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/minikraft/minikraft/console"
)

// consoleArgs reports whether the command line asks for `minikraft console`, and the console's
// own arguments. Besides `minikraft console ...`, it accepts the subcommand after the image's
// entrypoint (`minikraft --config-file F console ...`), so a compose service on minikraft's image
// needs only `command: console`; the broker's properties file means nothing to the console.
func consoleArgs(args []string) ([]string, bool) {
	switch {
	case len(args) >= 1 && args[0] == "console":
		return args[1:], true
	case len(args) >= 2 && strings.HasPrefix(args[0], "--config-file=") && args[1] == "console":
		return args[2:], true
	case len(args) >= 3 && args[0] == "--config-file" && args[2] == "console":
		return args[3:], true
	}
	return nil, false
}

// consoleConfig is what `minikraft console` serves and where.
type consoleConfig struct {
	bootstrap []string
	name      string
	listen    string
	logLevel  string
	readOnly  bool
}

// parseConsole reads the console's flags and, under them, kafka-ui's variables, so the lesson's
// `ui:` service keeps its environment: KAFKA_CLUSTERS_0_BOOTSTRAP_SERVERS (the bootstrap
// servers), KAFKA_CLUSTERS_0_NAME (the cluster's name), KAFKA_CLUSTERS_0_READONLY (read-only
// mode), SERVER_PORT (the port; the host stays
// the default's). MINIKRAFT_CONSOLE_LISTEN changes the default address (the image sets
// 0.0.0.0:8080); without it the console listens on loopback only.
func parseConsole(args, environ []string) (consoleConfig, error) {
	env := map[string]string{}
	for _, e := range environ {
		if k, v, ok := strings.Cut(e, "="); ok {
			env[k] = v
		}
	}
	c := consoleConfig{listen: "127.0.0.1:8080", name: env["KAFKA_CLUSTERS_0_NAME"]}
	if v := env["KAFKA_CLUSTERS_0_READONLY"]; v != "" {
		ro, err := strconv.ParseBool(v)
		if err != nil {
			return c, fmt.Errorf("KAFKA_CLUSTERS_0_READONLY %q: want true or false", v)
		}
		c.readOnly = ro
	}
	if v := env["MINIKRAFT_CONSOLE_LISTEN"]; v != "" {
		c.listen = v
	}
	if p := env["SERVER_PORT"]; p != "" {
		host, _, err := net.SplitHostPort(c.listen)
		if err != nil {
			return c, fmt.Errorf("MINIKRAFT_CONSOLE_LISTEN %q: %w", c.listen, err)
		}
		c.listen = net.JoinHostPort(host, p)
	}
	bootstrap := env["KAFKA_CLUSTERS_0_BOOTSTRAP_SERVERS"]
	if bootstrap == "" {
		bootstrap = "127.0.0.1:9092"
	}
	fs := flag.NewFlagSet("minikraft console", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&bootstrap, "bootstrap-server", bootstrap, "the cluster's bootstrap servers, host:port[,host:port...] (KAFKA_CLUSTERS_0_BOOTSTRAP_SERVERS)")
	fs.StringVar(&c.listen, "listen", c.listen, "HTTP address to serve the console on (MINIKRAFT_CONSOLE_LISTEN; SERVER_PORT sets the port)")
	fs.StringVar(&c.name, "name", c.name, "the cluster's display name (KAFKA_CLUSTERS_0_NAME)")
	fs.BoolVar(&c.readOnly, "read-only", c.readOnly, "show the cluster, change nothing: no forms, every POST refused (KAFKA_CLUSTERS_0_READONLY=true)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			var w strings.Builder
			fmt.Fprintf(&w, "Usage: minikraft console [flags]\n\nA web console for a Kafka cluster (any: it is an ordinary client).\n\nFlags:\n")
			fs.SetOutput(&w)
			fs.PrintDefaults()
			return c, fmt.Errorf("%w\n%s", err, strings.TrimRight(w.String(), "\n"))
		}
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("console: unexpected arguments %q", fs.Args())
	}
	for _, b := range strings.Split(bootstrap, ",") {
		if b = strings.TrimSpace(b); b != "" {
			if _, _, err := net.SplitHostPort(b); err != nil {
				return c, fmt.Errorf("--bootstrap-server %q: want host:port: %w", b, err)
			}
			c.bootstrap = append(c.bootstrap, b)
		}
	}
	if len(c.bootstrap) == 0 {
		return c, errors.New("--bootstrap-server: no servers")
	}
	return c, nil
}

// runConsole serves the console until SIGTERM or SIGINT.
func runConsole(args, environ []string) error {
	c, err := parseConsole(args, environ)
	if err != nil {
		return err
	}
	logger, err := newLogger(c.logLevel)
	if err != nil {
		return err
	}
	s, err := console.New(console.Config{Brokers: c.bootstrap, Name: c.name, Logger: logger, ReadOnly: c.readOnly})
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	logger.Info("console serving", "addr", "http://"+ln.Addr().String(), "bootstrap", strings.Join(c.bootstrap, ","), "read_only", c.readOnly)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case s := <-sig:
		logger.Info("shutting down", "signal", s.String())
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(ctx)
	case err := <-done:
		return err
	}
}
