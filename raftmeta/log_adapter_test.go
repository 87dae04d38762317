package raftmeta

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// recorder is a slog.Handler that keeps records (with their attributes flattened to strings).
type recorder struct {
	mu      *sync.Mutex
	records *[]string
	attrs   []slog.Attr
	level   slog.Level
}

func newRecorder(level slog.Level) *recorder {
	return &recorder{mu: new(sync.Mutex), records: new([]string), level: level}
}

func (r *recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= r.level }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Level.String() + " " + rec.Message)
	for _, a := range r.attrs {
		b.WriteString(" " + a.String())
	}
	rec.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	r.mu.Lock()
	*r.records = append(*r.records, b.String())
	r.mu.Unlock()
	return nil
}

func (r *recorder) WithAttrs(as []slog.Attr) slog.Handler {
	c := *r
	c.attrs = append(append([]slog.Attr(nil), r.attrs...), as...)
	return &c
}

func (r *recorder) WithGroup(string) slog.Handler { return r }

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), *r.records...)
}

func (r *recorder) has(substrs ...string) bool {
	for _, rec := range r.all() {
		ok := true
		for _, s := range substrs {
			ok = ok && strings.Contains(rec, s)
		}
		if ok {
			return true
		}
	}
	return false
}

func TestHCLogAdapter(t *testing.T) {
	rec := newRecorder(slog.LevelInfo)
	var l hclog.Logger = newHCLogger(slog.New(rec))
	l = l.Named("raft").Named("net").With("peer", "p1")
	if l.Name() != "raft.net" || len(l.ImpliedArgs()) != 2 {
		t.Fatalf("name %q implied %v", l.Name(), l.ImpliedArgs())
	}
	l.Warn("hello", "k", 1)
	l.Debug("hidden")
	l.Info("chatter") // raft's Info is Debug here (raftLevel)
	l.Error("bad", "err", "boom")
	if !rec.has("WARN hello", "peer=p1", "k=1", "logger=raft.net") || !rec.has("ERROR bad", "err=boom") || rec.has("hidden") || rec.has("chatter") {
		t.Fatalf("records: %q", rec.all())
	}
	if l.IsDebug() || !l.IsInfo() || l.GetLevel() != hclog.Info {
		t.Fatalf("levels: debug %v info %v get %v", l.IsDebug(), l.IsInfo(), l.GetLevel())
	}
	l.SetLevel(hclog.Error) // shared with the loggers it came from
	l.Warn("dropped")
	if rec.has("dropped") || l.ResetNamed("x").IsWarn() {
		t.Fatal("SetLevel did not raise the floor")
	}
	l.SetLevel(hclog.NoLevel)
	l.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Warn}).Print("std")
	if !rec.has("WARN std", "logger=raft.net") {
		t.Fatalf("standard logger: %q", rec.all())
	}
	if newHCLogger(nil).IsError() {
		t.Fatal("nil logger is not silent")
	}
}

// Raft's own chatter reaches the node's slog logger. A healthy one-voter quorum starts, elects
// itself and serves without a line at WARN or above (raft's "heartbeat timeout reached" was a WARN
// on every start); the election is still there at Debug.
func TestRaftLogsThroughSlog(t *testing.T) {
	rec := newRecorder(slog.LevelDebug)
	_, tr := raft.NewInmemTransport("solo")
	n := startNode(t, Config{NodeID: 0, ClusterID: "c1", Voters: []Voter{{ID: 0, Addr: "solo"}}, Voter: true,
		Transport: tr, InMemory: true, Logger: slog.New(rec)})
	if err := n.WaitForLeader(ctxFor(t, testWait)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, testWait, "raft's election log line", func() bool {
		return rec.has("INFO entering leader state", "logger=raft")
	})
	if !rec.has("DEBUG heartbeat timeout reached, starting election") {
		t.Errorf("the start-up election is not at debug level: %q", rec.all())
	}
	for _, r := range rec.all() {
		if strings.HasPrefix(r, "WARN") || strings.HasPrefix(r, "ERROR") {
			t.Errorf("a normal start logged %q", r)
		}
	}
}

// TestRaftLevels: raft's routine is Debug, this node becoming the quorum leader Info, and a
// heartbeat timeout a warning only when a known leader went silent, not on a fresh start.
func TestRaftLevels(t *testing.T) {
	rec := newRecorder(slog.LevelInfo)
	l := newHCLogger(slog.New(rec)).Named("raft")
	l.Info("entering follower state", "leader-id", "")
	l.Warn("heartbeat timeout reached, starting election", "last-leader-addr", "", "last-leader-id", "")
	l.Info("entering leader state", "leader", "me")
	l.Warn("heartbeat timeout reached, starting election", "last-leader-addr", "10.0.0.2:9093", "last-leader-id", "2")
	l.Warn("failed to contact quorum of nodes, stepping down")
	want := []string{
		"INFO entering leader state leader=me logger=raft",
		"WARN heartbeat timeout reached, starting election last-leader-addr=10.0.0.2:9093 last-leader-id=2 logger=raft",
		"WARN failed to contact quorum of nodes, stepping down logger=raft",
	}
	if got := rec.all(); !slices.Equal(got, want) {
		t.Errorf("logged:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
