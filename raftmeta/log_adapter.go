package raftmeta

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"slices"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// newHCLogger gives hashicorp/raft (which logs through hclog) a logger that writes to l, so
// raft's elections and warnings land in the node's slog output with everything else. A nil l
// discards, and cheaply: hclog's null logger reports every level disabled, so raft does not even
// format its messages.
func newHCLogger(l *slog.Logger) hclog.Logger {
	if l == nil {
		return hclog.NewNullLogger()
	}
	return &hclogAdapter{l: l, level: new(atomic.Int32)}
}

// hclogAdapter implements hclog.Logger on a *slog.Logger. hclog's key/value arguments are
// slog's; the logger name goes into a "logger" attribute ("raft", "raft.net").
type hclogAdapter struct {
	l       *slog.Logger
	name    string
	implied []any
	// level is a floor set with SetLevel (shared with the loggers derived from this one, as
	// hclog asks); hclog.NoLevel leaves the decision to the slog handler.
	level *atomic.Int32
}

// levelTrace is below slog's Debug, as hclog's Trace is below its Debug.
const levelTrace = slog.LevelDebug - 4

func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return levelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

func (a *hclogAdapter) enabled(level hclog.Level) bool {
	if floor := hclog.Level(a.level.Load()); floor != hclog.NoLevel && level < floor {
		return false
	}
	return a.l.Enabled(context.Background(), slogLevel(level))
}

// raftLevel is the level a hashicorp/raft message is logged at. raft narrates its routine (the
// states it enters, pre-votes, peers it replicates to) at Info and warns about the first election
// of every start: that is debug detail for a minikraft node, whose own lines say what happened.
// So its Info goes to Debug, but for this node becoming the quorum leader, one line per change
// that an operator reading a cluster's logs wants; and "heartbeat timeout reached" is Debug when
// no leader had been heard of (a node that just started: the election is how the quorum forms),
// Warn only when a known leader went silent. Everything else keeps raft's level.
func raftLevel(level hclog.Level, msg string, args []any) hclog.Level {
	switch {
	case level == hclog.Info && msg != "entering leader state":
		return hclog.Debug
	case level == hclog.Warn && msg == "heartbeat timeout reached, starting election" && !knownLeader(args):
		return hclog.Debug
	}
	return level
}

// knownLeader reports whether raft's heartbeat-timeout arguments name the last leader.
func knownLeader(args []any) bool {
	for i := 0; i+1 < len(args); i += 2 {
		if k, _ := args[i].(string); k == "last-leader-id" || k == "last-leader-addr" {
			if v := fmt.Sprint(args[i+1]); v != "" {
				return true
			}
		}
	}
	return false
}

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	level = raftLevel(level, msg, args)
	if level == hclog.Off || !a.enabled(level) {
		return
	}
	for i, v := range args {
		// hclog.Fmt("%+v", x) defers formatting to the hclog logger; do it here.
		if f, ok := v.(hclog.Format); ok && len(f) > 0 {
			if format, ok := f[0].(string); ok {
				args = slices.Clone(args)
				args[i] = fmt.Sprintf(format, f[1:]...)
			}
		}
	}
	if a.name != "" {
		args = append(args[:len(args):len(args)], slog.String("logger", a.name))
	}
	a.l.Log(context.Background(), slogLevel(level), msg, args...)
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

func (a *hclogAdapter) IsTrace() bool { return a.enabled(hclog.Trace) }
func (a *hclogAdapter) IsDebug() bool { return a.enabled(hclog.Debug) }
func (a *hclogAdapter) IsInfo() bool  { return a.enabled(hclog.Info) }
func (a *hclogAdapter) IsWarn() bool  { return a.enabled(hclog.Warn) }
func (a *hclogAdapter) IsError() bool { return a.enabled(hclog.Error) }

func (a *hclogAdapter) ImpliedArgs() []any { return slices.Clone(a.implied) }

func (a *hclogAdapter) With(args ...any) hclog.Logger {
	c := *a
	c.l = a.l.With(args...)
	c.implied = append(slices.Clone(a.implied), args...)
	return &c
}

func (a *hclogAdapter) Name() string { return a.name }

func (a *hclogAdapter) Named(name string) hclog.Logger {
	if a.name != "" {
		name = a.name + "." + name
	}
	return a.ResetNamed(name)
}

func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	c := *a
	c.name = name
	return &c
}

func (a *hclogAdapter) SetLevel(level hclog.Level) { a.level.Store(int32(level)) }

func (a *hclogAdapter) GetLevel() hclog.Level {
	if l := hclog.Level(a.level.Load()); l != hclog.NoLevel {
		return l
	}
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if a.enabled(l) {
			return l
		}
	}
	return hclog.Off
}

func (a *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	level := slog.LevelInfo
	if opts != nil && opts.ForceLevel != hclog.NoLevel {
		level = slogLevel(opts.ForceLevel)
	}
	l := a.l
	if a.name != "" {
		l = l.With(slog.String("logger", a.name))
	}
	return slog.NewLogLogger(l.Handler(), level)
}

func (a *hclogAdapter) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	return a.StandardLogger(opts).Writer()
}
