package config

import (
	"errors"
	"math"
	"testing"
)

func TestValidateTopicConfigMessages(t *testing.T) {
	for _, tc := range []struct {
		name, value, want string // want "" = valid
	}{
		{"retention.ms", "-5", "Invalid value -5 for configuration retention.ms: Value must be at least -1"},
		{"retention.ms", "-1", ""},
		{"retention.ms", " 86400000 ", ""},
		{"retention.ms", "1d", "Invalid value 1d for configuration retention.ms: Not a number of type LONG"},
		{"retention.ms", "", "Invalid value  for configuration retention.ms: Not a number of type LONG"},
		{"retention.bytes", "-100", ""}, // no validator in Kafka
		{"cleanup.policy", "foo", "Invalid value foo for configuration cleanup.policy: String must be one of: compact, delete"},
		{"cleanup.policy", "compact, delete", ""},
		{"cleanup.policy", "compact,Delete", "Invalid value Delete for configuration cleanup.policy: String must be one of: compact, delete"},
		{"cleanup.policy", "", ""},
		{"foo", "1", "Unknown topic config name: foo"},
		{"segment.bytes", "13", "Invalid value 13 for configuration segment.bytes: Value must be at least 14"},
		{"segment.bytes", "14", ""},
		{"segment.bytes", "2147483648", "Invalid value 2147483648 for configuration segment.bytes: Not a number of type INT"},
		{"segment.ms", "0", "Invalid value 0 for configuration segment.ms: Value must be at least 1"},
		{"segment.index.bytes", "3", "Invalid value 3 for configuration segment.index.bytes: Value must be at least 4"},
		{"flush.messages", "0", "Invalid value 0 for configuration flush.messages: Value must be at least 1"},
		{"min.insync.replicas", "0", "Invalid value 0 for configuration min.insync.replicas: Value must be at least 1"},
		{"max.message.bytes", "-1", "Invalid value -1 for configuration max.message.bytes: Value must be at least 0"},
		{"max.compaction.lag.ms", "0", "Invalid value 0 for configuration max.compaction.lag.ms: Value must be at least 1"},
		{"min.cleanable.dirty.ratio", "1.5", "Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"},
		{"min.cleanable.dirty.ratio", "2", "Invalid value 2.0 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"},
		{"min.cleanable.dirty.ratio", "-0.1", "Invalid value -0.1 for configuration min.cleanable.dirty.ratio: Value must be at least 0"},
		{"min.cleanable.dirty.ratio", "abc", "Invalid value abc for configuration min.cleanable.dirty.ratio: Not a number of type DOUBLE"},
		{"min.cleanable.dirty.ratio", "0.9", ""},
		{"compression.type", "brotli", "Invalid value brotli for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"},
		{"compression.type", "zstd", ""},
		{"message.timestamp.type", "createtime", "Invalid value createtime for configuration message.timestamp.type: String must be one of: CreateTime, LogAppendTime"},
		{"message.timestamp.type", "LogAppendTime", ""},
		{"unclean.leader.election.enable", "yes", "Invalid value yes for configuration unclean.leader.election.enable: Expected value to be either true or false"},
		{"unclean.leader.election.enable", " TRUE ", ""},
		{"preallocate", "false", ""},
		{"message.format.version", "2.8", ""},
		{"message.format.version", "3.0-IV1", ""},
		{"message.format.version", "0.10.2.1", ""},
		{"message.format.version", "9.9", "Invalid value 9.9 for configuration message.format.version: Version 9.9 is not a valid version"},
		{"leader.replication.throttled.replicas", "*", ""},
		{"leader.replication.throttled.replicas", "0:1,1:2", ""},
		{"follower.replication.throttled.replicas", "0:1,x", "Invalid value [0:1, x] for configuration follower.replication.throttled.replicas: follower.replication.throttled.replicas must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."},
		{"local.retention.ms", "-2", ""},
		{"local.retention.ms", "-3", "Invalid value -3 for configuration local.retention.ms: Value must be at least -2"},
		{"remote.storage.enable", "true", ""},
	} {
		err := ValidateTopicConfig(tc.name, tc.value)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s=%q: unexpected error %v", tc.name, tc.value, err)
		case tc.want != "" && err == nil:
			t.Errorf("%s=%q: no error, want %q", tc.name, tc.value, tc.want)
		case tc.want != "" && err.Error() != tc.want:
			t.Errorf("%s=%q:\n got %q\nwant %q", tc.name, tc.value, err.Error(), tc.want)
		case err != nil && !errors.Is(err, ErrInvalidConfig):
			t.Errorf("%s=%q: error does not wrap ErrInvalidConfig", tc.name, tc.value)
		}
	}
}

func TestParseCanonical(t *testing.T) {
	for _, tc := range []struct {
		name, raw, want string
	}{
		{"cleanup.policy", " compact ,  delete ", "compact,delete"},
		{"retention.ms", "+100", "100"},
		{"min.cleanable.dirty.ratio", "1", "1.0"},
		{"min.cleanable.dirty.ratio", ".5", "0.5"},
		{"unclean.leader.election.enable", "True", "true"},
		{"compression.type", " lz4 ", "lz4"},
	} {
		got, err := TopicDef(tc.name).Parse(tc.raw)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%s=%q) = %q, %v; want %q", tc.name, tc.raw, got, err, tc.want)
		}
	}
}

func TestValidateTopicCrossCheck(t *testing.T) {
	err := ValidateTopic(map[string]string{"min.compaction.lag.ms": "100", "max.compaction.lag.ms": "10"})
	want := "conflict topic config setting min.compaction.lag.ms (100) > max.compaction.lag.ms (10)"
	if err == nil || err.Error() != want || !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("got %v, want %q", err, want)
	}
	if err := ValidateTopic(map[string]string{"retention.ms": "1000", "cleanup.policy": "compact"}); err != nil {
		t.Fatal(err)
	}
	if err := ValidateTopic(map[string]string{"retention.ms": "x", "zzz": "1"}); err == nil || err.Error() != "Unknown topic config name: zzz" {
		t.Fatalf("unknown names are reported before bad values: %v", err)
	}
}

func TestJavaDouble(t *testing.T) {
	for f, want := range map[float64]string{
		0.5: "0.5", 1: "1.0", 0: "0.0", 1e7: "1.0E7", 123456.75: "123456.75",
		0.001: "0.001", 0.0001: "1.0E-4", math.MaxFloat64: "1.7976931348623157E308", -2.5: "-2.5",
	} {
		if got := javaDouble(f); got != want {
			t.Errorf("javaDouble(%v) = %q, want %q", f, got, want)
		}
	}
}

func TestBrokerDefsSane(t *testing.T) {
	for _, d := range append(BrokerDefs(), TopicDefs()...) {
		if d.Doc == "" {
			t.Errorf("%s has no doc", d.Name)
		}
		if d.Default != nil {
			if c, err := d.Parse(*d.Default); err != nil || c != *d.Default {
				t.Errorf("%s: default %q is not canonical and valid: %q, %v", d.Name, *d.Default, c, err)
			}
		}
	}
	// A topic default must equal what the broker defaults derive for it.
	for _, e := range ResolveTopic(nil, nil, nil, nil) {
		if d := TopicDef(e.Name); e.Value == nil || *e.Value != *d.Default {
			t.Errorf("%s: broker-derived default %v != topic default %q", e.Name, e.Value, *d.Default)
		}
	}
}
