package security

import (
	"crypto/tls"
	"strings"
	"testing"
)

// TestPrincipalRules: Kafka's documented examples of ssl.principal.mapping.rules, first match
// wins, commas inside patterns, case folding, and a name no rule matches.
func TestPrincipalRules(t *testing.T) {
	rules := `RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,
	          RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,
	          RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U,
	          DEFAULT`
	m, err := ParsePrincipalRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	for dn, want := range map[string]string{
		"CN=kafka-broker,OU=ServiceUsers,O=Org":     "kafka-broker",
		"CN=Adam,OU=Dev,O=Org,L=Town,ST=State,C=XX": "adam@dev",
		"O=Org,CN=someone.else,OU=Other":            "SOMEONE.ELSE",
		"OU=NoCommonName":                           "OU=NoCommonName",
		"CN=a\\,b,OU=ServiceUsers":                  "a\\,b",
	} {
		got, err := m.Map(dn)
		if err != nil || got != want {
			t.Errorf("Map(%q) = %q, %v; want %q", dn, got, err, want)
		}
	}

	strict, err := ParsePrincipalRules(`RULE:^CN=([^,]*),OU=Tests$/$1/`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := strict.Map("CN=bob,OU=Other"); err == nil || !strings.Contains(err.Error(), "no rule") {
		t.Fatalf("unmatched name: %v", err)
	}
	if got, _ := strict.Map("CN=bob,OU=Tests"); got != "bob" {
		t.Fatalf("strict: %q", got)
	}
	// An escaped slash and dollar.
	esc, err := ParsePrincipalRules(`RULE:^CN=(.*)\/x$/\$$1/`)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := esc.Map("CN=a/x"); err != nil || got != "$a" {
		t.Fatalf("escapes: %q %v", got, err)
	}
	if d, _ := ParsePrincipalRules(""); d == nil {
		t.Fatal("empty rules")
	} else if got, _ := d.Map("CN=x"); got != "CN=x" {
		t.Fatalf("empty is DEFAULT: %q", got)
	}

	for _, bad := range []string{
		"RULE:abc",                   // no replacement
		"RULE:^CN=(.*)$/$1/X",        // unknown flag
		"DEFAULTS",                   // not a rule
		"RULE:^(?<=x)CN$/$1/",        // look-behind: not RE2
		"RULE:^CN=(.*)$/$1/ DEFAULT", // missing comma
	} {
		if _, err := ParsePrincipalRules(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := ListenerPrincipalRules(map[string]string{"listener.name.ssl.ssl.principal.mapping.rules": "RULE:("}, "SSL"); err == nil ||
		!strings.Contains(err.Error(), "listener.name.ssl.ssl.principal.mapping.rules") {
		t.Fatalf("listener override error: %v", err)
	}
}

// TestSASLSSLClientAuth: KIP-684: the broker-wide ssl.client.auth applies to SSL listeners; a
// SASL_SSL listener asks for certificates only through its listener-prefixed property.
func TestSASLSSLClientAuth(t *testing.T) {
	ca, l := leaf(t)
	props := map[string]string{
		"ssl.keystore.location":   write(t, "ks.pem", append(append([]byte{}, l.KeyPEM...), l.CertPEM...)),
		"ssl.truststore.location": write(t, "ca.pem", ca.CertPEM),
		"ssl.client.auth":         "required",
	}
	for _, c := range []struct {
		listener, protocol string
		want               tls.ClientAuthType
	}{
		{"SSL", "SSL", tls.RequireAndVerifyClientCert},
		{"SASL_SSL", "SASL_SSL", tls.NoClientCert},
		{"MTLS", "SASL_SSL", tls.VerifyClientCertIfGiven},
	} {
		props["listener.name.mtls.ssl.client.auth"] = "requested"
		cfg, err := ServerTLSFor(props, c.listener, c.protocol)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.ClientAuth != c.want {
			t.Errorf("%s (%s): client auth %v, want %v", c.listener, c.protocol, cfg.ClientAuth, c.want)
		}
	}
}
