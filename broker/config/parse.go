package config

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

var sprintf = fmt.Sprintf

// parseType parses raw as Kafka's ConfigDef.parseType does and returns the canonical string form
// (ConfigDef.convertToString of the parsed value), or Kafka's message when it does not parse.
func parseType(t Type, raw string) (string, string) {
	s := strings.TrimSpace(raw)
	switch t {
	case TypeBoolean:
		switch strings.ToLower(s) {
		case "true":
			return "true", ""
		case "false":
			return "false", ""
		}
		return "", "Expected value to be either true or false"
	case TypeInt, TypeShort, TypeLong:
		bits := map[Type]int{TypeInt: 32, TypeShort: 16, TypeLong: 64}[t]
		n, err := strconv.ParseInt(s, 10, bits)
		if err != nil || strings.Contains(s, "_") {
			return "", "Not a number of type " + t.String()
		}
		return strconv.FormatInt(n, 10), ""
	case TypeDouble:
		s = strings.TrimRight(s, "dDfF") // Java's Double.parseDouble takes a type suffix
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || strings.Contains(s, "_") {
			return "", "Not a number of type " + t.String()
		}
		return javaDouble(f), ""
	case TypeList:
		return strings.Join(splitList(s), ","), ""
	}
	return s, "" // STRING, PASSWORD, CLASS (minikraft loads no classes)
}

var commaWithWhitespace = regexp.MustCompile(`\s*,\s*`)

// splitList splits a trimmed list value as Kafka's ConfigDef does: "" is the empty list, and
// elements are separated by commas with surrounding whitespace (empty elements are kept).
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return commaWithWhitespace.Split(s, -1)
}

// listValue splits a canonical list value.
func listValue(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// javaDouble formats f as Java's Double.toString does, which is how Kafka shows a DOUBLE config
// ("0.5", "1.0", "1.7976931348623157E308").
func javaDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	if a := math.Abs(f); a >= 1e-3 && a < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'E', -1, 64) // 1.7976931348623157E+308
	mant, exp, _ := strings.Cut(s, "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	neg := strings.HasPrefix(exp, "-")
	exp = strings.TrimLeft(exp, "+-")
	exp = strings.TrimLeft(exp, "0")
	if neg {
		exp = "-" + exp
	}
	return mant + "E" + exp
}

// checker validates a canonical value; it returns the value as Kafka shows it in the message and
// the message, or "" for the message when the value is valid.
type checker func(v string) (shown, msg string)

// atLeast is Kafka's ConfigDef.Range.atLeast for INT, SHORT and LONG configs.
func atLeast(min int64) checker {
	return func(v string) (string, string) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err == nil && n < min {
			return v, "Value must be at least " + strconv.FormatInt(min, 10)
		}
		return "", ""
	}
}

// between is Kafka's ConfigDef.Range.between with integer bounds, for a DOUBLE config.
func between(min, max int64) checker {
	return func(v string) (string, string) {
		f, err := strconv.ParseFloat(v, 64)
		switch {
		case err != nil:
		case f < float64(min):
			return v, "Value must be at least " + strconv.FormatInt(min, 10)
		case f > float64(max):
			return v, "Value must be no more than " + strconv.FormatInt(max, 10)
		}
		return "", ""
	}
}

// oneOf is Kafka's ConfigDef.ValidString.in (case-sensitive).
func oneOf(valid ...string) checker {
	return func(v string) (string, string) {
		for _, s := range valid {
			if v == s {
				return "", ""
			}
		}
		return v, "String must be one of: " + strings.Join(valid, ", ")
	}
}

// listOf is Kafka's ConfigDef.ValidList.in: every element must be one of valid. The message names
// the first offending element, as Kafka's does.
func listOf(valid ...string) checker {
	one := oneOf(valid...)
	return func(v string) (string, string) {
		for _, e := range listValue(v) {
			if shown, msg := one(e); msg != "" {
				return shown, msg
			}
		}
		return "", ""
	}
}

var replicaPattern = regexp.MustCompile(`^([0-9]+:[0-9]+)?$`)

// throttledReplicas is Kafka's ThrottledReplicaListValidator: "*" or partition:broker pairs. Kafka
// prints the parsed java.util.List in its message, hence the "[a, b]" form.
func throttledReplicas(name string) checker {
	return func(v string) (string, string) {
		elems := listValue(v)
		if strings.TrimSpace(strings.Join(elems, "")) == "*" {
			return "", ""
		}
		for _, e := range elems {
			if !replicaPattern.MatchString(strings.TrimSpace(e)) {
				return "[" + strings.Join(elems, ", ") + "]", name + " must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."
			}
		}
		return "", ""
	}
}

// metadataVersions are Kafka 3.4's MetadataVersion release and IBP strings, which
// message.format.version and inter.broker.protocol.version accept.
var metadataVersions = func() map[string]bool {
	m := map[string]bool{}
	for _, r := range []string{"0.8.0", "0.8.1", "0.8.2", "0.9.0"} {
		m[r] = true
	}
	for _, rv := range []struct {
		release string
		ivs     int // number of IVn sub-versions
	}{
		{"0.10.0", 2}, {"0.10.1", 3}, {"0.10.2", 1}, {"0.11.0", 3}, {"1.0", 1}, {"1.1", 1},
		{"2.0", 2}, {"2.1", 3}, {"2.2", 2}, {"2.3", 2}, {"2.4", 2}, {"2.5", 1}, {"2.6", 1},
		{"2.7", 3}, {"2.8", 2}, {"3.0", 2}, {"3.1", 1}, {"3.2", 1}, {"3.3", 4}, {"3.4", 1},
	} {
		m[rv.release] = true
		for i := 0; i < rv.ivs; i++ {
			m[rv.release+"-IV"+strconv.Itoa(i)] = true
		}
	}
	return m
}()

// metadataVersion is Kafka's MetadataVersionValidator (MetadataVersion.fromVersionString): the
// first two dot-separated segments (three for 0.x) must name a known version.
func metadataVersion(v string) (string, string) {
	segs := strings.Split(v, ".")
	n := 2
	if strings.HasPrefix(v, "0.") {
		n = 3
	}
	key := v
	if n < len(segs) {
		key = strings.Join(segs[:n], ".")
	}
	if !metadataVersions[key] {
		return v, "Version " + v + " is not a valid version"
	}
	return "", ""
}
