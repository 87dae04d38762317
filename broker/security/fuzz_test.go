package security

import (
	"bytes"
	"testing"
)

// FuzzSASLTokens feeds arbitrary client tokens to the PLAIN and SCRAM exchanges: they must fail
// or succeed, never panic, and never authenticate without the right password.
func FuzzSASLTokens(f *testing.F) {
	f.Add([]byte("\x00alice\x00alice-secret"), []byte("c=biws,r=x,p=AAAA"))
	f.Add([]byte("n,,n=alice,r=abc"), []byte("c=biws,r=abc,p="))
	f.Add([]byte("n,a=alice,n=alice,r=a=2C"), []byte(",p=,p="))
	cred := ScramCredential{Salt: []byte("salt"), StoredKey: make([]byte, 32), ServerKey: make([]byte, 32), Iterations: 4096}
	s, err := ServerSASL(map[string]string{"sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256",
		"sasl.jaas.config": `x.PlainLoginModule required user_alice="alice-secret";`}, "SASL_SSL",
		func(user, _ string) (ScramCredential, bool) { return cred, user == "alice" })
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, first, final []byte) {
		x, _ := s.Start(PLAIN)
		if _, done, err := x.Step(first); done && (err != nil || !bytes.HasSuffix(first, []byte("\x00alice-secret"))) {
			t.Fatalf("PLAIN authenticated %q", first)
		}
		x, _ = s.Start(ScramSHA256)
		if _, done, err := x.Step(first); err == nil && !done {
			// StoredKey is all zeros: no proof can match it (H(ClientKey) is never zero).
			if _, done, err := x.Step(final); done || err == nil {
				t.Fatalf("SCRAM authenticated %q / %q", first, final)
			}
		}
	})
}

// FuzzParseJAAS: any text parses or fails, without panicking.
func FuzzParseJAAS(f *testing.F) {
	f.Add(jaas)
	f.Add(`a required b="c\"";`)
	f.Fuzz(func(t *testing.T, s string) { _, _ = ParseJAAS(s) })
}

// FuzzPrincipalRules: any ssl.principal.mapping.rules value parses or fails, and a parsed one
// maps any name or fails, without panicking; DEFAULT maps every name to itself.
func FuzzPrincipalRules(f *testing.F) {
	f.Add(`RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=(.*?),OU=(.*?)$/$1@$2/L,DEFAULT`, "CN=a,OU=b")
	f.Add(`RULE:\/\$(.)/$1$9\$/U`, "/$x")
	f.Add("DEFAULT", "O=x")
	f.Fuzz(func(t *testing.T, rules, dn string) {
		m, err := ParsePrincipalRules(rules)
		if err != nil {
			return
		}
		got, err := m.Map(dn)
		if err == nil && len(m.rules) > 0 && m.rules[0].isDefault && got != dn {
			t.Fatalf("DEFAULT first mapped %q to %q", dn, got)
		}
	})
}

// FuzzParseAddScram: any bootstrap SCRAM list parses or fails; what parses has a SCRAM
// mechanism, a name and a password.
func FuzzParseAddScram(f *testing.F) {
	f.Add(`SCRAM-SHA-256=[name=alice,password=alice-secret] SCRAM-SHA-512=[name=b,password="x,\"]",iterations=8192]`)
	f.Add("SCRAM-SHA-512=[name=a,password=b];;")
	f.Fuzz(func(t *testing.T, s string) {
		users, err := ParseAddScram(s)
		if err != nil {
			return
		}
		for _, u := range users {
			if !IsScram(u.Mechanism) || u.Name == "" || u.Password == "" {
				t.Fatalf("%q parsed to %+v", s, u)
			}
		}
	})
}

// FuzzScramServerFirst: the node's own SCRAM client reads any server-first and server-final
// without panicking, and accepts no server-final without knowing the password's keys.
func FuzzScramServerFirst(f *testing.F) {
	f.Add([]byte("r=abcdefXYZ,s=c2FsdA==,i=4096"), []byte("v=AAAA"))
	f.Add([]byte("e=other-error"), []byte(""))
	f.Add([]byte("r=abcdef,s=,i=99999999999"), []byte("v="))
	f.Fuzz(func(t *testing.T, first, final []byte) {
		c := &scramClient{mechanism: ScramSHA256, user: "u", password: "p", nonce: "abcdef", bare: "n=u,r=abcdef"}
		if _, err := c.final(first); err != nil {
			return
		}
		if c.verify(final) == nil && !bytes.HasPrefix(final, []byte("v="+c.serverSig)) {
			t.Fatalf("server-final %q accepted", final)
		}
	})
}
