package config

import (
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func find(t *testing.T, entries []Entry, name string) Entry {
	t.Helper()
	for _, e := range entries {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("no entry %s", name)
	return Entry{}
}

func val(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// syns renders synonyms as "SOURCE:name=value" for compact comparisons.
func syns(e Entry) []string {
	var out []string
	for _, s := range e.Synonyms {
		out = append(out, s.Source.String()+":"+s.Name+"="+val(s.Value))
	}
	return out
}

func TestResolveTopic(t *testing.T) {
	for _, tc := range []struct {
		name                              string
		topic, brokerDyn, clusterDyn, sta map[string]string
		config, value                     string
		source                            Source
		synonyms                          []string
	}{
		{"static log.retention.hours", nil, nil, nil, map[string]string{"log.retention.hours": "24"},
			"retention.ms", "86400000", SourceStaticBroker,
			[]string{"STATIC_BROKER_CONFIG:log.retention.hours=24", "DEFAULT_CONFIG:log.retention.hours=168"}},
		{"topic override beats static", map[string]string{"retention.ms": " 1000 "}, nil, nil, map[string]string{"log.retention.hours": "24"},
			"retention.ms", "1000", SourceTopic,
			[]string{"DYNAMIC_TOPIC_CONFIG:retention.ms= 1000 ", "STATIC_BROKER_CONFIG:log.retention.hours=24", "DEFAULT_CONFIG:log.retention.hours=168"}},
		{"every layer", nil, map[string]string{"log.retention.ms": "5000"}, map[string]string{"log.retention.ms": "6000"},
			map[string]string{"log.retention.minutes": "10"},
			"retention.ms", "5000", SourceDynamicBroker,
			[]string{"DYNAMIC_BROKER_CONFIG:log.retention.ms=5000", "DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=6000",
				"STATIC_BROKER_CONFIG:log.retention.minutes=10", "DEFAULT_CONFIG:log.retention.hours=168"}},
		{"cluster-wide dynamic", nil, nil, map[string]string{"log.retention.ms": "6000"}, nil,
			"retention.ms", "6000", SourceDynamicDefaultBroker,
			[]string{"DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=6000", "DEFAULT_CONFIG:log.retention.hours=168"}},
		{"read-only synonym cannot be dynamic", nil, map[string]string{"log.retention.hours": "1"}, map[string]string{"log.retention.hours": "2"}, nil,
			"retention.ms", "604800000", SourceDefault,
			[]string{"DEFAULT_CONFIG:log.retention.hours=168"}},
		{"minutes", nil, nil, nil, map[string]string{"log.retention.minutes": "10"},
			"retention.ms", "600000", SourceStaticBroker,
			[]string{"STATIC_BROKER_CONFIG:log.retention.minutes=10", "DEFAULT_CONFIG:log.retention.hours=168"}},
		{"negative retention is unlimited", nil, nil, nil, map[string]string{"log.retention.hours": "-1"},
			"retention.ms", "-1", SourceStaticBroker,
			[]string{"STATIC_BROKER_CONFIG:log.retention.hours=-1", "DEFAULT_CONFIG:log.retention.hours=168"}},
		{"segment.ms from log.roll.hours", nil, nil, nil, map[string]string{"log.roll.hours": "1"},
			"segment.ms", "3600000", SourceStaticBroker,
			[]string{"STATIC_BROKER_CONFIG:log.roll.hours=1", "DEFAULT_CONFIG:log.roll.hours=168"}},
		{"cleanup.policy", nil, nil, nil, map[string]string{"log.cleanup.policy": "compact"},
			"cleanup.policy", "compact", SourceStaticBroker,
			[]string{"STATIC_BROKER_CONFIG:log.cleanup.policy=compact", "DEFAULT_CONFIG:log.cleanup.policy=delete"}},
		{"default", nil, nil, nil, nil,
			"max.message.bytes", "1048588", SourceDefault,
			[]string{"DEFAULT_CONFIG:message.max.bytes=1048588"}},
		{"flush.ms falls back on the scheduler interval", nil, nil, nil, nil,
			"flush.ms", "9223372036854775807", SourceDefault,
			[]string{"DEFAULT_CONFIG:log.flush.scheduler.interval.ms=9223372036854775807"}},
		{"no broker synonym", nil, nil, nil, nil,
			"leader.replication.throttled.replicas", "", SourceDefault, nil},
		{"internal config when set", map[string]string{"remote.storage.enable": "false"}, nil, nil, nil,
			"remote.storage.enable", "false", SourceTopic, []string{"DYNAMIC_TOPIC_CONFIG:remote.storage.enable=false"}},
		{"double canonical", map[string]string{"min.cleanable.dirty.ratio": "1"}, nil, nil, nil,
			"min.cleanable.dirty.ratio", "1.0", SourceTopic,
			[]string{"DYNAMIC_TOPIC_CONFIG:min.cleanable.dirty.ratio=1", "DEFAULT_CONFIG:log.cleaner.min.cleanable.ratio=0.5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := find(t, ResolveTopic(tc.topic, tc.brokerDyn, tc.clusterDyn, tc.sta), tc.config)
			if val(e.Value) != tc.value || e.Source != tc.source || !reflect.DeepEqual(syns(e), tc.synonyms) {
				t.Errorf("%s = %s (%v) synonyms %q\nwant %s (%v) synonyms %q", e.Name, val(e.Value), e.Source, syns(e), tc.value, tc.source, tc.synonyms)
			}
			if e.ReadOnly || e.Sensitive || e.Doc == "" || e.Type != TopicDef(tc.config).Type {
				t.Errorf("flags: %+v", e)
			}
		})
	}
}

func TestResolveTopicListing(t *testing.T) {
	entries := ResolveTopic(nil, nil, nil, nil)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name)
	}
	if !sort.StringsAreSorted(names) {
		t.Error("entries are not sorted")
	}
	for _, internal := range []string{"remote.storage.enable", "local.retention.ms", "local.retention.bytes"} {
		for _, n := range names {
			if n == internal {
				t.Errorf("%s is internal: listed only when set", internal)
			}
		}
	}
	if len(entries) != len(topicDefs)-3 {
		t.Errorf("%d entries", len(entries))
	}
	if e := find(t, entries, "retention.ms"); e.Type != 5 {
		t.Errorf("type %d", e.Type)
	}
}

func TestResolveBroker(t *testing.T) {
	static := map[string]string{"log.retention.hours": "24", "max.request.size": "100", "node.id": "0"}
	entries := ResolveBroker(map[string]string{"message.max.bytes": "2000", "num.partitions": "9"},
		map[string]string{"listeners": "X://:1", "log.segment.bytes": "1000"}, static)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name)
	}
	if !sort.StringsAreSorted(names) || len(entries) != len(brokerDefs)+1 {
		t.Errorf("%d entries, sorted %v", len(entries), sort.StringsAreSorted(names))
	}
	for _, tc := range []struct {
		name     string
		value    string
		source   Source
		readOnly bool
		synonyms []string
	}{
		{"log.retention.hours", "24", SourceStaticBroker, true,
			[]string{"STATIC_BROKER_CONFIG:log.retention.hours=24", "DEFAULT_CONFIG:log.retention.hours=168"}},
		{"log.retention.ms", "<nil>", SourceDefault, false, nil},                                  // Kafka: synonyms before log.retention.ms are dropped
		{"num.partitions", "1", SourceDefault, true, []string{"DEFAULT_CONFIG:num.partitions=1"}}, // read-only: dynamic value ignored
		{"message.max.bytes", "2000", SourceDynamicBroker, false,
			[]string{"DYNAMIC_BROKER_CONFIG:message.max.bytes=2000", "DEFAULT_CONFIG:message.max.bytes=1048588"}},
		{"log.segment.bytes", "1000", SourceDynamicDefaultBroker, false,
			[]string{"DYNAMIC_DEFAULT_BROKER_CONFIG:log.segment.bytes=1000", "DEFAULT_CONFIG:log.segment.bytes=1073741824"}},
		{"listeners", DefaultListeners, SourceDefault, false, // per-broker: not from the cluster default
			[]string{"DEFAULT_CONFIG:listeners=" + DefaultListeners}},
		{"node.id", "0", SourceStaticBroker, true,
			[]string{"STATIC_BROKER_CONFIG:node.id=0", "DEFAULT_CONFIG:node.id=0"}},
		{"max.request.size", "<nil>", SourceStaticBroker, true, []string{"STATIC_BROKER_CONFIG:max.request.size=<nil>"}},
	} {
		e := find(t, entries, tc.name)
		if val(e.Value) != tc.value || e.Source != tc.source || e.ReadOnly != tc.readOnly || !reflect.DeepEqual(syns(e), tc.synonyms) {
			t.Errorf("%s = %s (%v, read-only %v) synonyms %q\nwant %s (%v, read-only %v) synonyms %q",
				e.Name, val(e.Value), e.Source, e.ReadOnly, syns(e), tc.value, tc.source, tc.readOnly, tc.synonyms)
		}
	}
	if e := find(t, entries, "max.request.size"); !e.Sensitive || e.Type != TypeUnknown {
		t.Errorf("unknown property: %+v", e)
	}
	if e := find(t, entries, "log.cleaner.min.cleanable.ratio"); e.Type != TypeDouble || e.Sensitive || e.Doc == "" {
		t.Errorf("%+v", e)
	}
}

func TestResolveClusterDefaults(t *testing.T) {
	entries := ResolveClusterDefaults(map[string]string{"message.max.bytes": "2000", "log.retention.ms": "100"})
	if len(entries) != 2 {
		t.Fatalf("%+v", entries)
	}
	e := find(t, entries, "message.max.bytes")
	if val(e.Value) != "2000" || e.Source != SourceDynamicDefaultBroker || e.ReadOnly ||
		!reflect.DeepEqual(syns(e), []string{"DYNAMIC_DEFAULT_BROKER_CONFIG:message.max.bytes=2000"}) {
		t.Errorf("%+v %q", e, syns(e))
	}
}

func TestValidateBrokerDynamic(t *testing.T) {
	if v, err := ValidateBrokerDynamic("message.max.bytes", " 2000", true); err != nil || v != "2000" {
		t.Errorf("%q %v", v, err)
	}
	if _, err := ValidateBrokerDynamic("listeners", "PLAINTEXT://:1", true); err != nil {
		t.Error(err)
	}
	for _, tc := range []struct {
		name, value string
		perBroker   bool
		want        string
	}{
		{"num.partitions", "3", true, "Cannot update these configs dynamically: Set(num.partitions)"},
		{"no.such.thing", "3", true, "Cannot update these configs dynamically: Set(no.such.thing)"},
		{"listeners", "PLAINTEXT://:1", false, "Cannot update these configs at default cluster level, broker id must be specified: Set(listeners)"},
		{"log.retention.ms", "x", false, "Invalid value x for configuration log.retention.ms: Not a number of type LONG"},
	} {
		_, err := ValidateBrokerDynamic(tc.name, tc.value, tc.perBroker)
		if err == nil || err.Error() != tc.want || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: got %v want %q", tc.name, err, tc.want)
		}
	}
}

func TestTopicFrom(t *testing.T) {
	d := DefaultTopic()
	if d.RetentionMs != 604800000 || d.RetentionBytes != -1 || d.SegmentBytes != 1<<30 || d.SegmentMs != 604800000 ||
		d.IndexIntervalBytes != 4096 || d.SegmentIndexBytes != 10<<20 || d.MaxMessageBytes != 1048588 ||
		d.MinInsyncReplicas != 1 || d.MessageTimestampType != "CreateTime" || d.FileDeleteDelayMs != 60000 ||
		d.DeleteRetentionMs != 86400000 || d.MinCleanableDirtyRatio != 0.5 || d.MinCompactionLagMs != 0 ||
		d.FlushMessages != 1<<63-1 || d.FlushMs != 1<<63-1 || d.UncleanLeaderElection || !d.Delete() || d.Compact() ||
		d.CompressionType != "producer" || d.LocalRetentionMs != -2 || !d.MessageDownconversionEnable {
		t.Errorf("defaults %+v", d)
	}
	tc := TopicFromMaps(map[string]string{"cleanup.policy": "compact,delete", "min.insync.replicas": "2"},
		nil, nil, map[string]string{"log.retention.hours": "24", "log.segment.bytes": "1048576"})
	if tc.RetentionMs != 86400000 || tc.SegmentBytes != 1<<20 || tc.MinInsyncReplicas != 2 || !tc.Compact() || !tc.Delete() {
		t.Errorf("%+v", tc)
	}
	if err := tc.Validate(); err != nil {
		t.Error(err)
	}
	if back := TopicFrom(ResolveTopic(tc.Configs(), nil, nil, nil)); !reflect.DeepEqual(back, tc) {
		t.Errorf("Configs round trip:\n%+v\n%+v", back, tc)
	}
	bad := tc
	bad.SegmentBytes = 10
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "segment.bytes") {
		t.Errorf("got %v", err)
	}
}
