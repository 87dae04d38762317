package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseListeners(t *testing.T) {
	got, err := ParseListeners("PLAINTEXT://:9092, controller://127.0.0.1:9093,EXTERNAL://[::1]:9094,,T://h:0,U://h2:0")
	if err != nil {
		t.Fatal(err)
	}
	want := []Listener{
		{"PLAINTEXT", "", 9092}, {"CONTROLLER", "127.0.0.1", 9093}, {"EXTERNAL", "::1", 9094},
		{"T", "h", 0}, {"U", "h2", 0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if s := got[2].String(); s != "EXTERNAL://[::1]:9094" {
		t.Errorf("String() = %q", s)
	}
	if s := got[0].Addr(); s != ":9092" {
		t.Errorf("Addr() = %q", s)
	}
	for _, tc := range []struct{ in, want string }{
		{"PLAINTEXT:9092", `config: listeners: cannot parse "PLAINTEXT:9092" as a listener: want NAME://host:port`},
		{"PLAINTEXT://host", `cannot parse "PLAINTEXT://host"`},
		{"://host:1", `cannot parse "://host:1"`},
		{"A://:9092,a://:9093", `listener name "A" appears more than once`},
		{"A://:9092,B://:9092", `listeners "A" and "B" use the same port 9092`},
		{"A://:70000", `port 70000 is out of range`},
	} {
		_, err := ParseListeners(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalidBroker) {
			t.Errorf("ParseListeners(%q) = %v, want %q", tc.in, err, tc.want)
		}
	}
	// advertised.listeners may share ports.
	if _, err := parseListeners("advertised.listeners", "A://a:9092,B://b:9092", false); err != nil {
		t.Error(err)
	}
}

func TestParseProtocolMap(t *testing.T) {
	got, err := ParseProtocolMap("CONTROLLER:PLAINTEXT, external : plaintext ,PLAINTEXT:PLAINTEXT,S:ssl")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"CONTROLLER": "PLAINTEXT", "EXTERNAL": "PLAINTEXT", "PLAINTEXT": "PLAINTEXT", "S": "SSL"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
	if m, err := ParseProtocolMap(""); err != nil || len(m) != 0 {
		t.Errorf("empty map: %v %v", m, err)
	}
	for _, tc := range []struct{ in, want string }{
		{"CONTROLLER", `config: listener.security.protocol.map: cannot parse "CONTROLLER": want LISTENER_NAME:SECURITY_PROTOCOL`},
		{"A:TLS", "invalid security protocol `TLS` defined for listener A"},
		{"A:PLAINTEXT,a:PLAINTEXT", `listener "A" appears more than once`},
		{":PLAINTEXT", `cannot parse ":PLAINTEXT"`},
	} {
		_, err := ParseProtocolMap(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseProtocolMap(%q) = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestParseVoters(t *testing.T) {
	got, err := ParseVoters("0@kafka-0:9093, 1@kafka-1:9093,2@[::1]:9093")
	if err != nil {
		t.Fatal(err)
	}
	want := []Voter{{0, "kafka-0", 9093}, {1, "kafka-1", 9093}, {2, "::1", 9093}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v", got)
	}
	if s := got[2].String(); s != "2@[::1]:9093" {
		t.Errorf("String() = %q", s)
	}
	for _, tc := range []struct{ in, want string }{
		{"kafka-0:9093", "config: controller.quorum.voters: cannot parse \"kafka-0:9093\": each entry should be in the form `{id}@{host}:{port}`"},
		{"0@a@b:1", `cannot parse "0@a@b:1"`},
		{"x@kafka-0:9093", `cannot parse voter id "x"`},
		{"-1@kafka-0:9093", `voter id -1 in "-1@kafka-0:9093" is negative`},
		{"0@kafka-0", `cannot parse host and port from "0@kafka-0"`},
		{"0@:9093", `cannot parse host and port from "0@:9093"`},
		{"0@h:99999", `port 99999 is out of range`},
		{"0@a:1,0@b:2", `voter id 0 appears more than once`},
	} {
		_, err := ParseVoters(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalidBroker) {
			t.Errorf("ParseVoters(%q) = %v, want %q", tc.in, err, tc.want)
		}
	}
}
