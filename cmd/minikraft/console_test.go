package main

import (
	"errors"
	"flag"
	"slices"
	"testing"
)

// TestConsoleArgs: `console` is found as the first argument and after the image's entrypoint
// (`--config-file F`), and nowhere else (a properties file named "console" stays a broker's).
func TestConsoleArgs(t *testing.T) {
	cases := []struct {
		args []string
		rest []string
		ok   bool
	}{
		{[]string{"console", "--listen", ":1"}, []string{"--listen", ":1"}, true},
		{[]string{"--config-file", "/etc/minikraft/server.properties", "console"}, []string{}, true},
		{[]string{"--config-file=/x", "console", "--name", "n"}, []string{"--name", "n"}, true},
		{[]string{"--node-id", "1", "console"}, nil, false},
		{[]string{}, nil, false},
		{[]string{"server.properties"}, nil, false},
	}
	for _, c := range cases {
		rest, ok := consoleArgs(c.args)
		if ok != c.ok || (ok && !slices.Equal(rest, c.rest)) {
			t.Errorf("consoleArgs(%q) = %q, %v; want %q, %v", c.args, rest, ok, c.rest, c.ok)
		}
	}
}

// TestParseConsole: flags win over kafka-ui's variables, which win over the defaults; the
// default address is loopback unless MINIKRAFT_CONSOLE_LISTEN (the image's) says otherwise.
func TestParseConsole(t *testing.T) {
	c, err := parseConsole(nil, nil)
	if err != nil || c.listen != "127.0.0.1:8080" || !slices.Equal(c.bootstrap, []string{"127.0.0.1:9092"}) {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	lesson := []string{"KAFKA_CLUSTERS_0_BOOTSTRAP_SERVERS=kafka-0:9092", "KAFKA_CLUSTERS_0_NAME=kraft", "MINIKRAFT_CONSOLE_LISTEN=0.0.0.0:8080"}
	c, err = parseConsole(nil, lesson)
	if err != nil || c.listen != "0.0.0.0:8080" || c.name != "kraft" || !slices.Equal(c.bootstrap, []string{"kafka-0:9092"}) {
		t.Fatalf("the lesson's ui service: %+v %v", c, err)
	}
	c, err = parseConsole(nil, append(lesson, "SERVER_PORT=9000"))
	if err != nil || c.listen != "0.0.0.0:9000" {
		t.Fatalf("SERVER_PORT: %+v %v", c, err)
	}
	c, err = parseConsole([]string{"--bootstrap-server", "a:1, b:2", "--listen", "127.0.0.1:0", "--name", "x"}, lesson)
	if err != nil || c.listen != "127.0.0.1:0" || c.name != "x" || !slices.Equal(c.bootstrap, []string{"a:1", "b:2"}) {
		t.Fatalf("flags: %+v %v", c, err)
	}
	for _, bad := range [][]string{{"--bootstrap-server", "nohost"}, {"--bootstrap-server", " , "}, {"extra"}, {"--nope"}} {
		if _, err := parseConsole(bad, nil); err == nil {
			t.Errorf("parseConsole(%q) accepted", bad)
		}
	}
	if c.readOnly {
		t.Errorf("read-only without being asked")
	}
	if c, err := parseConsole(nil, []string{"KAFKA_CLUSTERS_0_READONLY=true"}); err != nil || !c.readOnly {
		t.Errorf("KAFKA_CLUSTERS_0_READONLY=true: %+v %v", c, err)
	}
	if c, err := parseConsole([]string{"--read-only"}, nil); err != nil || !c.readOnly {
		t.Errorf("--read-only: %+v %v", c, err)
	}
	if c, err := parseConsole([]string{"--read-only=false"}, []string{"KAFKA_CLUSTERS_0_READONLY=true"}); err != nil || c.readOnly {
		t.Errorf("--read-only=false over the variable: %+v %v", c, err)
	}
	if _, err := parseConsole(nil, []string{"KAFKA_CLUSTERS_0_READONLY=maybe"}); err == nil {
		t.Errorf("KAFKA_CLUSTERS_0_READONLY=maybe accepted")
	}
	if _, err := parseConsole([]string{"--help"}, nil); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: %v", err)
	}
}
