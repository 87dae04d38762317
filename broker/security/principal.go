package security

import (
	"crypto/x509"
	"fmt"
	"regexp"
	"strings"
)

// ssl.principal.mapping.rules: Kafka's SslPrincipalMapper, which turns the distinguished name of
// a client certificate (RFC 2253, "CN=alice,OU=Tests") into the principal's name. The value is a
// comma-separated list of rules, tried in order, the first that matches winning:
//
//	DEFAULT                         the distinguished name itself
//	RULE:pattern/replacement/       the whole name must match pattern (a regular expression);
//	RULE:pattern/replacement/L      the replacement ($1... are groups), lower-cased (L) or
//	RULE:pattern/replacement/U      upper-cased (U)
//
// A pattern may itself contain commas ("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT"), so the
// list is split by the rules' own syntax, not at every comma; a backslash escapes the next
// character (a '/' in a pattern is written "\/"). A name no rule matches fails the connection's
// authentication, as in Kafka. Patterns are Go regular expressions (RE2): Java's look-arounds
// and back-references are refused at start with a message naming the rule.

// PrincipalMapper maps certificate subjects to principal names.
type PrincipalMapper struct {
	rules []principalRule
	text  string
}

type principalRule struct {
	isDefault    bool
	re           *regexp.Regexp
	replacement  string // in Go's Expand syntax
	lower, upper bool
}

// ParsePrincipalRules parses an ssl.principal.mapping.rules value; empty means DEFAULT.
func ParsePrincipalRules(s string) (*PrincipalMapper, error) {
	m := &PrincipalMapper{text: strings.TrimSpace(s)}
	if m.text == "" {
		m.text = "DEFAULT"
	}
	rest := m.text
	for {
		rest = strings.TrimLeft(rest, " \t\r\n")
		if rest == "" {
			break
		}
		var r principalRule
		switch {
		case strings.HasPrefix(rest, "DEFAULT"):
			r.isDefault = true
			rest = rest[len("DEFAULT"):]
		case strings.HasPrefix(rest, "RULE:"):
			body := rest[len("RULE:"):]
			pattern, after, ok := cutUnescaped(body)
			if !ok {
				return nil, fmt.Errorf("invalid rule: %q: want RULE:pattern/replacement/[LU]", rest)
			}
			repl, after2, ok := cutUnescaped(after)
			if !ok {
				return nil, fmt.Errorf("invalid rule: %q: want RULE:pattern/replacement/[LU]", rest)
			}
			rest = after2
			if rest != "" && (rest[0] == 'L' || rest[0] == 'U') {
				r.lower, r.upper = rest[0] == 'L', rest[0] == 'U'
				rest = rest[1:]
			}
			re, err := regexp.Compile("^(?:" + pattern + ")$")
			if err != nil {
				return nil, fmt.Errorf("rule RULE:%s/%s/: %v", pattern, repl, err)
			}
			r.re, r.replacement = re, javaReplacement(repl)
		default:
			return nil, fmt.Errorf("invalid rule: %q: want DEFAULT or RULE:pattern/replacement/[LU]", rest)
		}
		m.rules = append(m.rules, r)
		rest = strings.TrimLeft(rest, " \t\r\n")
		if rest == "" {
			break
		}
		if rest[0] != ',' {
			return nil, fmt.Errorf("invalid rule: unmatched text %q", rest)
		}
		rest = rest[1:]
	}
	return m, nil
}

// cutUnescaped splits s at its first '/' not escaped by a backslash. Escapes are kept: the
// pattern's go to the regular expression, the replacement's to javaReplacement.
func cutUnescaped(s string) (before, after string, ok bool) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '/':
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}

// javaReplacement turns a java.util.regex replacement ("$1", "\$" for a dollar) into Go's
// Expand template ("${1}", "$$").
func javaReplacement(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			if s[i] == '$' {
				b.WriteString("$$")
			} else {
				b.WriteByte(s[i])
			}
		case c == '$':
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			if j == i+1 {
				b.WriteString("$$") // Java refuses a bare '$'; keep it literal
			} else {
				b.WriteString("${" + s[i+1:j] + "}")
				i = j - 1
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Map returns the principal name for a distinguished name, or an error when no rule applies.
func (m *PrincipalMapper) Map(dn string) (string, error) {
	for _, r := range m.rules {
		if r.isDefault {
			return dn, nil
		}
		idx := r.re.FindStringSubmatchIndex(dn)
		if idx == nil {
			continue
		}
		out := string(r.re.ExpandString(nil, r.replacement, dn, idx))
		switch {
		case r.lower:
			out = strings.ToLower(out)
		case r.upper:
			out = strings.ToUpper(out)
		}
		return out, nil
	}
	return "", fmt.Errorf("no rule of ssl.principal.mapping.rules (%s) applies to %q", m.text, dn)
}

// CertPrincipal is the principal of a TLS connection whose client sent cert: "User:" and the
// mapped subject.
func (m *PrincipalMapper) CertPrincipal(cert *x509.Certificate) (string, error) {
	name, err := m.Map(cert.Subject.String())
	if err != nil {
		return "", err
	}
	return "User:" + name, nil
}

// ListenerPrincipalRules reads ssl.principal.mapping.rules for a listener
// (listener.name.<listener>.ssl.principal.mapping.rules first).
func ListenerPrincipalRules(all map[string]string, listener string) (*PrincipalMapper, error) {
	p := newProps(all, listener)
	v, from := p.get("ssl.principal.mapping.rules")
	m, err := ParsePrincipalRules(v)
	if err != nil {
		return nil, errf(from, "%v", err)
	}
	return m, nil
}
