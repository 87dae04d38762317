package security

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/internal/testcert"
	"github.com/minikraft/minikraft/wire"
)

func leaf(t *testing.T) (*testcert.CA, *testcert.Leaf) {
	t.Helper()
	ca, err := testcert.NewCA("CA")
	if err != nil {
		t.Fatal(err)
	}
	l, err := ca.Issue("broker", "minikraft")
	if err != nil {
		t.Fatal(err)
	}
	return ca, l
}

func write(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func openssl(t *testing.T, args ...string) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, out)
	}
}

// TestServerTLSKeystores reads the same key and chain from each form Kafka allows and checks the
// certificate that comes out.
func TestServerTLSKeystores(t *testing.T) {
	ca, l := leaf(t)
	both := write(t, "both.pem", append(append([]byte{}, l.KeyPEM...), l.CertPEM...))
	dir := t.TempDir()
	keyFile := write(t, "key.pem", l.KeyPEM)
	certFile := write(t, "cert.pem", l.CertPEM)
	caFile := write(t, "ca.pem", ca.CertPEM)

	cases := map[string]map[string]string{
		"PEM file":               {"ssl.keystore.type": "PEM", "ssl.keystore.location": both},
		"PEM file, type sniffed": {"ssl.keystore.location": both},
		"PEM inline (KIP-651)":   {"ssl.keystore.type": "PEM", "ssl.keystore.key": string(l.KeyPEM), "ssl.keystore.certificate.chain": string(l.CertPEM)},
		"per listener":           {"listener.name.external.ssl.keystore.location": both, "ssl.keystore.location": "/nonexistent"},
	}
	if _, err := exec.LookPath("openssl"); err == nil {
		enc := filepath.Join(dir, "enc.pem")
		openssl(t, "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", keyFile, "-out", enc, "-passout", "pass:keypass")
		encKey, _ := os.ReadFile(enc)
		cases["PEM encrypted PKCS#8"] = map[string]string{"ssl.keystore.type": "PEM", "ssl.key.password": "keypass",
			"ssl.keystore.location": write(t, "encboth.pem", append(encKey, l.CertPEM...))}
		p12 := filepath.Join(dir, "ks.p12")
		openssl(t, "pkcs12", "-export", "-legacy", "-inkey", keyFile, "-in", certFile, "-out", p12, "-passout", "pass:storepass")
		cases["PKCS12 legacy"] = map[string]string{"ssl.keystore.type": "PKCS12", "ssl.keystore.location": p12, "ssl.keystore.password": "storepass"}
	}
	for name, props := range cases {
		t.Run(name, func(t *testing.T) {
			props["ssl.truststore.location"] = caFile
			props["ssl.client.auth"] = "required"
			c, err := ServerTLS(props, "EXTERNAL")
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Certificates[0].Leaf; got == nil || !got.Equal(l.Cert) {
				t.Fatalf("wrong certificate")
			}
			if c.ClientAuth != tls.RequireAndVerifyClientCert || c.ClientCAs == nil || c.MinVersion != tls.VersionTLS12 {
				t.Fatalf("config %+v", c)
			}
		})
	}
}

func TestServerTLSErrors(t *testing.T) {
	_, l := leaf(t)
	_, other := leaf(t)
	both := write(t, "both.pem", append(append([]byte{}, l.KeyPEM...), l.CertPEM...))
	cases := []struct {
		name  string
		props map[string]string
		want  string
	}{
		{"no keystore", map[string]string{}, "has no keystore"},
		{"JKS", map[string]string{"ssl.keystore.location": write(t, "ks.jks", []byte{0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2})}, "JKS stores are not supported"},
		{"key of another certificate", map[string]string{"ssl.keystore.key": string(other.KeyPEM), "ssl.keystore.certificate.chain": string(l.CertPEM)}, "does not match"},
		{"chain without key", map[string]string{"ssl.keystore.key": string(l.KeyPEM)}, "ssl.keystore.certificate.chain must be set"},
		{"bad client auth", map[string]string{"ssl.keystore.location": both, "ssl.client.auth": "maybe"}, "must be one of"},
		{"TLS 1.1", map[string]string{"ssl.keystore.location": both, "ssl.enabled.protocols": "TLSv1.1"}, "not supported"},
		{"missing file", map[string]string{"ssl.keystore.location": "/nonexistent/ks.pem"}, "no such file"},
		{"garbage PKCS12", map[string]string{"ssl.keystore.type": "PKCS12", "ssl.keystore.location": write(t, "x.p12", []byte{0x30, 1, 2})}, "PKCS12"},
	}
	for _, c := range cases {
		_, err := ServerTLS(c.props, "SSL")
		var se *Error
		if err == nil || !errors.As(err, &se) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an *Error with %q", c.name, err, c.want)
		}
	}
	if _, err := exec.LookPath("openssl"); err == nil {
		dir := t.TempDir()
		keyFile := write(t, "key.pem", l.KeyPEM)
		enc := filepath.Join(dir, "enc.pem")
		openssl(t, "pkcs8", "-topk8", "-v2", "aes-128-cbc", "-in", keyFile, "-out", enc, "-passout", "pass:right")
		encKey, _ := os.ReadFile(enc)
		_, err := ServerTLS(map[string]string{"ssl.keystore.key": string(encKey), "ssl.keystore.certificate.chain": string(l.CertPEM), "ssl.key.password": "wrong"}, "SSL")
		if err == nil || !strings.Contains(err.Error(), "wrong ssl.key.password") {
			t.Errorf("wrong key password: %v", err)
		}
		p12 := filepath.Join(dir, "ks.p12")
		openssl(t, "pkcs12", "-export", "-legacy", "-inkey", keyFile, "-in", write(t, "c.pem", l.CertPEM), "-out", p12, "-passout", "pass:right")
		_, err = ServerTLS(map[string]string{"ssl.keystore.location": p12, "ssl.keystore.password": "wrong"}, "SSL")
		if err == nil || !strings.Contains(err.Error(), "wrong password") {
			t.Errorf("wrong store password: %v", err)
		}
	}
}

func TestParseJAAS(t *testing.T) {
	j, err := ParseJAAS(`org.apache.kafka.common.security.plain.PlainLoginModule required
		username="admin" password="adm\"in" user_admin="adm\"in" user_alice=alice-secret;`)
	if err != nil {
		t.Fatal(err)
	}
	if j.Module != "org.apache.kafka.common.security.plain.PlainLoginModule" || j.Flag != "required" ||
		j.Options["password"] != `adm"in` || j.Options["user_alice"] != "alice-secret" || len(j.Options) != 4 {
		t.Fatalf("%+v", j)
	}
	for _, bad := range []string{
		``,
		`Module maybe a="b";`,
		`Module required a="b"`,
		`Module required a="b;`,
		`Module required a;`,
		`Module required a="b"; Other required;`,
	} {
		if _, err := ParseJAAS(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

const jaas = `org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="broker-secret" user_broker="broker-secret" user_alice="alice-secret";`

func TestPlainExchange(t *testing.T) {
	s, err := ServerSASL(map[string]string{"listener.name.sasl_ssl.plain.sasl.jaas.config": jaas, "sasl.enabled.mechanisms": "PLAIN"}, "SASL_SSL", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Start("SCRAM-SHA-256"); ok {
		t.Fatal("SCRAM started")
	}
	for _, c := range []struct {
		tok, err, principal string
	}{
		{"\x00alice\x00alice-secret", "", "User:alice"},
		{"alice\x00alice\x00alice-secret", "", "User:alice"},
		{"bob\x00alice\x00alice-secret", "Authentication failed: Client requested an authorization id that is different from username", ""},
		{"\x00alice\x00wrong", "Authentication failed: Invalid username or password", ""},
		{"\x00mallory\x00alice-secret", "Authentication failed: Invalid username or password", ""},
		{"\x00\x00x", "Authentication failed: username not specified", ""},
		{"\x00alice\x00", "Authentication failed: password not specified", ""},
		{"alice", "Invalid SASL/PLAIN response: expected 3 tokens, got 1", ""},
	} {
		x, _ := s.Start("PLAIN")
		_, done, err := x.Step([]byte(c.tok))
		if c.err != "" {
			if err == nil || err.Error() != c.err || done {
				t.Errorf("%q: got %v, want %q", c.tok, err, c.err)
			}
			continue
		}
		if err != nil || !done || x.Principal() != c.principal {
			t.Errorf("%q: %v %v %q", c.tok, err, done, x.Principal())
		}
	}
	for _, props := range []map[string]string{
		{"sasl.enabled.mechanisms": "PLAIN"},
		{"sasl.enabled.mechanisms": "GSSAPI", "sasl.jaas.config": jaas},
		{"sasl.jaas.config": `org.apache.kafka.common.security.plain.PlainLoginModule required username="a" password="b";`},
	} {
		if _, err := ServerSASL(props, "SASL_SSL", nil); err == nil {
			t.Errorf("%v accepted", props)
		}
	}
}

// TestClientSecure: the inter-broker dialer's TLS handshake and PLAIN login against a wire
// listener built from the same properties, and its refusal with a wrong password.
func TestClientSecure(t *testing.T) {
	ca, l := leaf(t)
	props := map[string]string{
		"ssl.keystore.location":   write(t, "ks.pem", append(append([]byte{}, l.KeyPEM...), l.CertPEM...)),
		"ssl.truststore.location": write(t, "ca.pem", ca.CertPEM),
		"ssl.client.auth":         "required",
		"sasl.jaas.config":        jaas,
	}
	stls, err := ServerTLS(props, "SASL_SSL")
	if err != nil {
		t.Fatal(err)
	}
	ssasl, err := ServerSASL(props, "SASL_SSL", nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := wire.NewMux()
	wire.HandleSASL(mux)
	got := make(chan string, 1)
	mux.Handle(3, 0, 12, func(_ context.Context, r *wire.Request) wire.Future {
		got <- r.Conn.Principal
		return wire.Done(r.Msg.ResponseKind(), nil)
	})
	srv := wire.NewServer(mux, wire.ServerConfig{})
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeSecure(ln, "SASL_SSL", wire.Security{TLS: stls, SASL: ssasl})

	for _, pass := range []string{"broker-secret", "wrong"} {
		c, err := ClientFor(props, "SASL_SSL", "SASL_SSL")
		if err != nil {
			t.Fatal(err)
		}
		c.Password = pass
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conn, err := c.Secure(ctx, nc, ln.Addr().String())
		if pass == "wrong" {
			if err == nil || !strings.Contains(err.Error(), "SASL_AUTHENTICATION_FAILED") {
				t.Fatalf("wrong password: %v", err)
			}
			cancel()
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		wc := wire.NewClient(conn, "test", 1<<20)
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(9)
		if _, err := wc.Request(ctx, req); err != nil {
			t.Fatal(err)
		}
		if p := <-got; p != "User:broker" {
			t.Fatalf("principal %q", p)
		}
		wc.Close()
		cancel()
	}
	if c, err := ClientFor(map[string]string{}, "PLAINTEXT", "PLAINTEXT"); c != nil || err != nil {
		t.Fatalf("PLAINTEXT: %v %v", c, err)
	}
}
