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
