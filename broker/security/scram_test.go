package security

import (
	"context"
	"crypto/pbkdf2"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// credential makes a SCRAM credential as AlterUserScramCredentials would store it.
func credential(t *testing.T, mechanism, password string) ScramCredential {
	t.Helper()
	salt := []byte("0123456789abcdef")
	h := scramHash(mechanism)
	salted, err := pbkdf2.Key(h, password, salt, ScramMinIterations, h().Size())
	if err != nil {
		t.Fatal(err)
	}
	stored, server := ScramKeys(mechanism, salted)
	return ScramCredential{Salt: salt, StoredKey: stored, ServerKey: server, Iterations: ScramMinIterations}
}

// exchange runs franz-go's SCRAM client against our server exchange.
func exchange(t *testing.T, s *SASL, m sasl.Mechanism) (principal string, err error) {
	t.Helper()
	x, ok := s.Start(m.Name())
	if !ok {
		t.Fatalf("%s not started", m.Name())
	}
	sess, msg, err := m.Authenticate(context.Background(), "127.0.0.1:9092")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		answer, done, err := x.Step(msg)
		if err != nil {
			return "", err
		}
		cdone, next, cerr := sess.Challenge(answer)
		if cerr != nil {
			t.Fatalf("client refused the server's answer: %v", cerr)
		}
		if done {
			if !cdone {
				t.Fatal("server done, client not")
			}
			return x.Principal(), nil
		}
		msg = next
	}
	t.Fatal("exchange did not end")
	return "", nil
}

// TestScramExchange: franz-go's SCRAM-SHA-256 and -512 clients log in (and verify our
// server signature); wrong passwords, unknown users and the other mechanism's credential fail
// with Kafka's message.
func TestScramExchange(t *testing.T) {
	creds := map[string]ScramCredential{
		"alice/" + ScramSHA256: credential(t, ScramSHA256, "alice-secret"),
		"alice/" + ScramSHA512: credential(t, ScramSHA512, "alice-512"),
	}
	lookup := func(user, mech string) (ScramCredential, bool) { c, ok := creds[user+"/"+mech]; return c, ok }
	s, err := ServerSASL(map[string]string{"sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512"}, "SASL_SSL", lookup)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := exchange(t, s, scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism()); err != nil || p != "User:alice" {
		t.Fatalf("SHA-256: %q %v", p, err)
	}
	if p, err := exchange(t, s, scram.Auth{User: "alice", Pass: "alice-512"}.AsSha512Mechanism()); err != nil || p != "User:alice" {
		t.Fatalf("SHA-512: %q %v", p, err)
	}
	for name, m := range map[string]sasl.Mechanism{
		"wrong password":  scram.Auth{User: "alice", Pass: "nope"}.AsSha256Mechanism(),
		"unknown user":    scram.Auth{User: "bob", Pass: "alice-secret"}.AsSha256Mechanism(),
		"other mechanism": scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism(),
	} {
		_, err := exchange(t, s, m)
		if err == nil || !strings.HasPrefix(err.Error(), "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-") {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Malformed client messages fail, never panic.
	for _, first := range []string{"", "n", "p=tls-unique,,n=alice,r=abc", "n,,n=alice", "n,,r=abc,n=alice", "n,,n=al=ice,r=abc", "n,a=bob,n=alice,r=abc"} {
		x, _ := s.Start(ScramSHA256)
		if _, _, err := x.Step([]byte(first)); err == nil {
			t.Errorf("client-first %q accepted", first)
		}
	}
	for _, final := range []string{"", "c=biws", "c=biws,r=x,p=AAAA", "c=xx,r=x,p="} {
		x, _ := s.Start(ScramSHA256)
		if _, _, err := x.Step([]byte("n,,n=alice,r=abc")); err != nil {
			t.Fatal(err)
		}
		if _, done, err := x.Step([]byte(final)); err == nil || done {
			t.Errorf("client-final %q accepted", final)
		}
	}
}

// TestScramClient: the node's own SCRAM client against RFC 7677's example exchange, then
// against our server with a credential from NewScramCredential, and a wrong password.
func TestScramClient(t *testing.T) {
	c := &scramClient{mechanism: ScramSHA256, user: "user", password: "pencil",
		nonce: "rOprNGfwEbeRWgbNEkqO", bare: "n=user,r=rOprNGfwEbeRWgbNEkqO"}
	final, err := c.final([]byte("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="; string(final) != want {
		t.Fatalf("client-final %s", final)
	}
	if err := c.verify([]byte("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")); err != nil {
		t.Fatal(err)
	}
	if err := c.verify([]byte("v=AAAA")); err == nil {
		t.Fatal("bad server signature accepted")
	}
	for _, bad := range []string{"r=other,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "r=rOprNGfwEbeRWgbNEkqOx,s=,i=4096", "r=rOprNGfwEbeRWgbNEkqOx,s=AA==,i=1", "e=unknown-user"} {
		if _, err := c.final([]byte(bad)); err == nil {
			t.Errorf("server-first %q accepted", bad)
		}
	}

	for _, m := range []string{ScramSHA256, ScramSHA512} {
		cred, err := NewScramCredential(m, "s3cret,=x", 0)
		if err != nil {
			t.Fatal(err)
		}
		if cred.Iterations != ScramMinIterations || !cred.Verify(m, "s3cret,=x") || cred.Verify(m, "other") {
			t.Fatalf("%s: credential %+v", m, cred)
		}
		s := &SASL{mechs: []string{m}, scram: func(user, mech string) (ScramCredential, bool) { return cred, user == "a,b=c" && mech == m }}
		for _, pass := range []string{"s3cret,=x", "wrong"} {
			cl := &scramClient{mechanism: m, user: "a,b=c", password: pass}
			x, _ := s.Start(m)
			sf, _, err := x.Step(cl.first())
			if err != nil {
				t.Fatal(err)
			}
			cf, err := cl.final(sf)
			if err != nil {
				t.Fatal(err)
			}
			fin, done, err := x.Step(cf)
			if pass == "wrong" {
				if err == nil || done {
					t.Fatalf("%s: wrong password accepted", m)
				}
				continue
			}
			if err != nil || !done || cl.verify(fin) != nil || x.Principal() != "User:a,b=c" {
				t.Fatalf("%s: %v %v %v", m, err, done, x.Principal())
			}
		}
	}
	if _, err := NewScramCredential(ScramSHA256, "x", 100); err == nil {
		t.Fatal("100 iterations accepted")
	}
}

// TestParseAddScram: kafka-storage's --add-scram syntax, several entries, quoting, and errors.
func TestParseAddScram(t *testing.T) {
	got, err := ParseAddScram(`SCRAM-SHA-256=[name=alice,password=alice-secret] scram-sha-512=[name=bob,password="a,b] c\"",iterations=8192];`)
	if err != nil {
		t.Fatal(err)
	}
	want := []ScramUser{{ScramSHA256, "alice", "alice-secret", 0}, {ScramSHA512, "bob", `a,b] c"`, 8192}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %+v", got)
	}
	for _, bad := range []string{
		"PLAIN=[name=a,password=b]",
		"SCRAM-SHA-256=[name=a]",
		"SCRAM-SHA-256=[name=a,password=b",
		"SCRAM-SHA-256=[name=a,password=b,iterations=10]",
		"SCRAM-SHA-256=[name=a,pass=b]",
		`SCRAM-SHA-256=[name=a,password="b]`,
	} {
		if _, err := ParseAddScram(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if got, err := ParseAddScram("  "); err != nil || len(got) != 0 {
		t.Fatalf("empty: %v %v", got, err)
	}
}
