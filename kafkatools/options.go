package kafkatools

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// option is one command-line option of a tool, as joptsimple declares it: a name, and for an
// option that takes a value, what the value is (shown as <arg> in the usage).
type option struct {
	name string
	arg  string // "" for a switch; else the value's description ("String: topic")
	help string
}

// parsed is a parsed command line: the values of each option given (a switch has one empty
// value per occurrence) and the arguments that are not options.
type parsed struct {
	vals map[string][]string
	args []string
}

func (p *parsed) has(name string) bool { _, ok := p.vals[name]; return ok }

// str is the option's last value (joptsimple's valueOf keeps the last), or def.
func (p *parsed) str(name, def string) string {
	if v := p.vals[name]; len(v) > 0 {
		return v[len(v)-1]
	}
	return def
}

func (p *parsed) all(name string) []string { return p.vals[name] }

// usageError is a bad command line: the tool prints the message and its usage to stderr and
// exits 1, as Kafka's CommandLineUtils.printUsageAndExit does.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// parseOptions reads args as joptsimple does: "--name value", "--name=value", a unique prefix of
// a name standing for it, "--" ending the options; anything else is a non-option argument.
// Errors carry joptsimple's messages ("foo is not a recognized option", "Option topic requires
// an argument").
func parseOptions(specs []option, args []string) (*parsed, error) {
	byName := map[string]option{}
	for _, s := range specs {
		byName[s.name] = s
	}
	p := &parsed{vals: map[string][]string{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			p.args = append(p.args, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			p.args = append(p.args, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		spec, ok := byName[name]
		if !ok {
			var matches []option
			for _, s := range specs {
				if strings.HasPrefix(s.name, name) && name != "" {
					matches = append(matches, s)
				}
			}
			if len(matches) != 1 {
				return nil, usagef("%s is not a recognized option", name)
			}
			spec = matches[0]
		}
		if spec.arg == "" {
			if hasValue {
				return nil, usagef("Option %s does not take an argument", spec.name)
			}
			p.vals[spec.name] = append(p.vals[spec.name], "")
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return nil, usagef("Option %s requires an argument", spec.name)
			}
			i++
			value = args[i]
		}
		p.vals[spec.name] = append(p.vals[spec.name], value)
	}
	return p, nil
}

// printUsage writes joptsimple's help table: each option with its argument and description,
// sorted by name as joptsimple sorts them.
func printUsage(w io.Writer, summary string, specs []option) {
	if summary != "" {
		fmt.Fprintln(w, summary)
	}
	sorted := append([]option(nil), specs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	rows := [][2]string{{"Option", "Description"}, {"------", "-----------"}}
	for _, s := range sorted {
		left := "--" + s.name
		if s.arg != "" {
			left += " <" + s.arg + ">"
		}
		rows = append(rows, [2]string{left, s.help})
	}
	// Options longer than the column (joptsimple's is about 40 wide) get their description on
	// the next line, so one long option does not push every description off the screen.
	const maxWidth = 44
	width := 0
	for _, r := range rows {
		if len(r[0]) <= maxWidth {
			width = max(width, len(r[0]))
		}
	}
	for _, r := range rows {
		if len(r[0]) > width {
			fmt.Fprintf(w, "%s\n%-*s  %s\n", r[0], width, "", r[1])
			continue
		}
		fmt.Fprintf(w, "%-*s  %s\n", width, r[0], r[1])
	}
}

// needOne checks that exactly one of the actions is given, with Kafka's message.
func needOne(p *parsed, msg string, actions ...string) error {
	n := 0
	for _, a := range actions {
		if p.has(a) {
			n++
		}
	}
	if n != 1 {
		return usagef("%s", msg)
	}
	return nil
}

// required checks that each named option is given, with CommandLineUtils' message.
func required(p *parsed, names ...string) error {
	for _, n := range names {
		if !p.has(n) {
			return usagef("Missing required argument \"[%s]\"", n)
		}
	}
	return nil
}
