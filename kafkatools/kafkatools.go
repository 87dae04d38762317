package kafkatools

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// tool is one of Kafka's command-line tools.
type tool struct {
	name    string
	summary string   // the first line of the usage
	options []option // besides the common ones (commonOptions)
	run     func(ctx context.Context, e *env, p *parsed) error
	// report prints an error that is not a usage error the way the Kafka tool does; nil means
	// the message alone on stderr.
	report func(e *env, args []string, err error)
}

// env is what a tool reads and writes.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	stdinIsTTY     bool // the console producer prints Kafka's ">" prompt only to a terminal
}

var commonOptions = []option{
	{name: "help", help: "Print usage information."},
	{name: "version", help: "Display Kafka version."},
}

// Version is what --version prints: the Kafka release whose tools these follow.
const Version = "3.7.0 (minikraft)"

var tools = map[string]*tool{}

func register(t *tool) { tools[t.name] = t }

// Tools lists the tools' names (without .sh), sorted: the names the image links to the binary.
func Tools() []string {
	var names []string
	for n := range tools {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ToolName maps a program name (argv[0] or the first argument) to a tool's name: the base name
// with any ".sh" removed, if that is a tool; "" otherwise.
func ToolName(arg0 string) string {
	n := strings.TrimSuffix(filepath.Base(arg0), ".sh")
	if _, ok := tools[n]; ok {
		return n
	}
	return ""
}

// Main runs a tool as a process does: until it ends or SIGINT/SIGTERM stops it (the console
// consumer runs until then), on the process's standard streams. It returns the exit status.
func Main(name string, args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tty := false
	if fi, err := os.Stdin.Stat(); err == nil {
		tty = fi.Mode()&os.ModeCharDevice != 0
	}
	return run(ctx, name, args, &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, stdinIsTTY: tty})
}

// Run runs a tool with the given streams; the tests call it in-process. A cancelled ctx stops a
// running consumer as SIGINT does.
func Run(ctx context.Context, name string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return run(ctx, name, args, &env{stdin: stdin, stdout: stdout, stderr: stderr})
}

func run(ctx context.Context, name string, args []string, e *env) int {
	t, ok := tools[strings.TrimSuffix(name, ".sh")]
	if !ok {
		fmt.Fprintf(e.stderr, "%s is not one of Kafka's tools minikraft has: %s\n", name, strings.Join(Tools(), ", "))
		return 1
	}
	specs := append(append([]option(nil), commonOptions...), t.options...)
	if len(args) == 0 {
		// CommandLineUtils.printUsageAndExit with the tool's summary, as Kafka does.
		printUsage(e.stderr, t.summary, specs)
		return 1
	}
	p, err := parseOptions(specs, args)
	if err == nil {
		switch {
		case p.has("help"):
			printUsage(e.stdout, t.summary, specs)
			return 0
		case p.has("version"):
			fmt.Fprintln(e.stdout, Version)
			return 0
		}
		err = t.run(ctx, e, p)
	}
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(e.stderr, ue.msg)
		printUsage(e.stderr, t.summary, specs)
	case t.report != nil:
		t.report(e, args, err)
	default:
		fmt.Fprintln(e.stderr, err)
	}
	return 1
}

// defaultTimeout bounds an admin command, as the Admin client's default.api.timeout.ms does
// (60 s); --command-config's default.api.timeout.ms changes it.
const defaultTimeout = 60 * time.Second
