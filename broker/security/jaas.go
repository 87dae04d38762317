package security

import (
	"fmt"
	"strings"
)

// JAAS is one login module entry of a sasl.jaas.config value:
//
//	org.apache.kafka.common.security.plain.PlainLoginModule required
//	    username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";
type JAAS struct {
	Module  string // the login module's class name
	Flag    string // required, requisite, sufficient or optional
	Options map[string]string
}

// ParseJAAS parses a sasl.jaas.config value as Kafka's JaasConfig does: exactly one login module
// (Kafka's rule for the property), its control flag, and key=value options, values quoted with
// double quotes (a backslash escapes the next character) or bare, ending with ';'.
func ParseJAAS(s string) (JAAS, error) {
	t := &jaasLexer{s: s}
	var j JAAS
	if j.Module = t.word(); j.Module == "" {
		return j, fmt.Errorf("JAAS config: expected a login module class name")
	}
	switch j.Flag = strings.ToLower(t.word()); j.Flag {
	case "required", "requisite", "sufficient", "optional":
	default:
		return j, fmt.Errorf("JAAS config: invalid control flag %q after %s", j.Flag, j.Module)
	}
	j.Options = map[string]string{}
	for {
		t.space()
		if t.eat(';') {
			break
		}
		if t.done() {
			return j, fmt.Errorf("JAAS config: the login module entry must end with ';'")
		}
		key := t.word()
		if key == "" || !t.eat('=') {
			return j, fmt.Errorf("JAAS config: expected key=value near %q", t.rest())
		}
		val, err := t.value()
		if err != nil {
			return j, err
		}
		j.Options[key] = val
	}
	if t.space(); !t.done() {
		return j, fmt.Errorf("JAAS config: sasl.jaas.config must contain exactly one login module (found more after %s)", j.Module)
	}
	return j, nil
}

type jaasLexer struct {
	s string
	i int
}

func (t *jaasLexer) done() bool   { return t.i >= len(t.s) }
func (t *jaasLexer) rest() string { return t.s[t.i:min(len(t.s), t.i+20)] }

func (t *jaasLexer) space() {
	for !t.done() && strings.ContainsRune(" \t\r\n", rune(t.s[t.i])) {
		t.i++
	}
}

func (t *jaasLexer) eat(c byte) bool {
	if !t.done() && t.s[t.i] == c {
		t.i++
		return true
	}
	return false
}

// word reads a bare token: anything up to space, '=', ';' or a quote.
func (t *jaasLexer) word() string {
	t.space()
	start := t.i
	for !t.done() && !strings.ContainsRune(" \t\r\n=;\"", rune(t.s[t.i])) {
		t.i++
	}
	return t.s[start:t.i]
}

func (t *jaasLexer) value() (string, error) {
	t.space()
	if !t.eat('"') {
		return t.word(), nil
	}
	var b strings.Builder
	for !t.done() {
		c := t.s[t.i]
		t.i++
		switch {
		case c == '"':
			return b.String(), nil
		case c == '\\' && !t.done():
			b.WriteByte(t.s[t.i])
			t.i++
		default:
			b.WriteByte(c)
		}
	}
	return "", fmt.Errorf("JAAS config: unterminated quoted value")
}
