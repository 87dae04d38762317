package wire

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minikraft/minikraft/internal/testcert"
)

// testAuth is a one-step mechanism "TEST": the token "good" authenticates as User:tester.
type testAuth struct{}

func (testAuth) Mechanisms() []string { return []string{"TEST"} }
func (testAuth) Start(m string) (SASLExchange, bool) {
	if m != "TEST" {
		return nil, false
	}
	return &testExchange{}, true
}

type testExchange struct{ ok bool }

func (x *testExchange) Step(tok []byte) ([]byte, bool, error) {
	if string(tok) != "good" {
		return nil, false, errors.New("Authentication failed: Invalid username or password")
	}
	x.ok = true
	return []byte("welcome"), true, nil
}
func (x *testExchange) Principal() string { return "User:tester" }

// startSecure serves the test mux (with HandleSASL) on a loopback listener with sec, and reports
// the principal of every Metadata request on the returned channel.
func startSecure(t testing.TB, sec Security, cfg ServerConfig) (addr string, principals chan string) {
	t.Helper()
	mux := newTestMux(newTestHandlers())
	HandleSASL(mux)
	principals = make(chan string, 16)
	mux.Intercept(3, 0, func(ctx context.Context, req *Request, next HandlerFunc) Future {
		principals <- req.Conn.Principal
		return next(ctx, req)
	})
	s := NewServer(mux, cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.ServeSecure(ln, "SECURE", sec) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		waitForNoWireGoroutines(t)
	})
	return ln.Addr().String(), principals
}

func tlsClient(t *testing.T, addr string, cfg *tls.Config) *client {
	t.Helper()
	nc, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(testTimeout))
	return &client{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func certs(t *testing.T) (*testcert.CA, *testcert.Leaf, *testcert.Leaf) {
	ca, err := testcert.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Issue("broker", "")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := ca.Issue("alice", "Tests")
	if err != nil {
		t.Fatal(err)
	}
	return ca, srv, cl
}

// TestTLSListener: requests over TLS are served, the client certificate's subject is the
// principal, a client without a certificate is refused when ssl.client.auth=required, and a
// PLAINTEXT client's first frame closes the connection.
func TestTLSListener(t *testing.T) {
	ca, srv, cl := certs(t)
	sec := Security{TLS: &tls.Config{Certificates: []tls.Certificate{srv.TLS}, ClientCAs: ca.Pool(),
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}}
	addr, principals := startSecure(t, sec, ServerConfig{})

	c := tlsClient(t, addr, &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{cl.TLS}, ServerName: "localhost"})
	corr := c.send(metadataReq("x"), 9)
	if got, _ := c.recv(3, 9); got != corr {
		t.Fatalf("correlation id %d, want %d", got, corr)
	}
	if p := <-principals; p != "User:CN=alice,O=Tests" {
		t.Fatalf("principal %q", p)
	}

	// No client certificate: with TLS 1.3 the client's handshake returns before the server's
	// verdict, which arrives as an alert and a closed connection.
	nc, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})
	if err == nil {
		_ = nc.SetDeadline(time.Now().Add(testTimeout))
		nc.Write(encodeRequest(metadataReq("x"), 9, 1))
		nc2 := &client{t: t, nc: nc, br: bufio.NewReader(nc)}
		nc2.expectClosed()
		nc.Close()
	}

	pc := dial(t, addr)
	pc.send(metadataReq("x"), 9)
	pc.expectClosed()
	select {
	case p := <-principals:
		t.Fatalf("a request was served for %q", p)
	default:
	}
}

// TestTLSRequestedAnonymous: with ssl.client.auth=requested a client without a certificate is
// served as User:ANONYMOUS.
func TestTLSRequestedAnonymous(t *testing.T) {
	ca, srv, _ := certs(t)
	sec := Security{TLS: &tls.Config{Certificates: []tls.Certificate{srv.TLS}, ClientCAs: ca.Pool(), ClientAuth: tls.VerifyClientCertIfGiven}}
	addr, principals := startSecure(t, sec, ServerConfig{})
	c := tlsClient(t, addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})
	c.send(metadataReq("x"), 9)
	c.recv(3, 9)
	if p := <-principals; p != Anonymous {
		t.Fatalf("principal %q", p)
	}
}

// TestTLSCertPrincipal: Security.CertPrincipal names the principal of a certificate (the
// broker's ssl.principal.mapping.rules), and its error closes the connection unserved.
func TestTLSCertPrincipal(t *testing.T) {
	ca, srv, cl := certs(t)
	other, err := ca.Issue("bob", "Elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	sec := Security{
		TLS: &tls.Config{Certificates: []tls.Certificate{srv.TLS}, ClientCAs: ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert},
		CertPrincipal: func(c *x509.Certificate) (string, error) {
			if c.Subject.OrganizationalUnit == nil && len(c.Subject.Organization) == 1 && c.Subject.Organization[0] == "Tests" {
				return "User:" + c.Subject.CommonName, nil
			}
			return "", errors.New("no rule applies")
		},
	}
	addr, principals := startSecure(t, sec, ServerConfig{})
	c := tlsClient(t, addr, &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{cl.TLS}, ServerName: "localhost"})
	c.send(metadataReq("x"), 9)
	c.recv(3, 9)
	if p := <-principals; p != "User:alice" {
		t.Fatalf("principal %q", p)
	}
	c2 := tlsClient(t, addr, &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{other.TLS}, ServerName: "localhost"})
	c2.send(metadataReq("x"), 9)
	c2.expectClosed()
	select {
	case p := <-principals:
		t.Fatalf("a request was served for %q", p)
	default:
	}
}

// TestHostileBeforeAuth: on a SASL_SSL listener, a client that stalls the TLS handshake is
// dropped after AuthTimeout (connections.max.idle.ms); a size prefix above MaxAuthBytes
// (sasl.server.max.receive.size, set low here) closes the connection before any body is sent;
// after authentication the cap no longer applies.
func TestHostileBeforeAuth(t *testing.T) {
	ca, srv, _ := certs(t)
	sec := Security{TLS: &tls.Config{Certificates: []tls.Certificate{srv.TLS}}, SASL: testAuth{}}
	addr, _ := startSecure(t, sec, ServerConfig{AuthTimeout: 300 * time.Millisecond, MaxAuthBytes: 64})

	start := time.Now()
	stalled := dial(t, addr)
	stalled.write([]byte{0x16, 0x03}) // the first bytes of a ClientHello, then nothing
	stalled.expectClosed()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("stalled TLS handshake dropped after %v", d)
	}

	c := tlsClient(t, addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})
	c.write(binary.BigEndian.AppendUint32(nil, 65)) // one byte over the cap; no body follows
	c.expectClosed()

	ok := tlsClient(t, addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})
	ok.send(handshake("TEST", 1), 1)
	ok.recv(17, 1)
	ok.send(authenticate("good"), 2)
	ok.recv(36, 2)
	// Authenticated: the cap no longer applies.
	ok.send(metadataReq(strings.Repeat("t", 200)), 9)
	ok.recv(3, 9)
}

func handshake(mech string, v int16) *kmsg.SASLHandshakeRequest {
	r := kmsg.NewPtrSASLHandshakeRequest()
	r.SetVersion(v)
	r.Mechanism = mech
	return r
}

func authenticate(tok string) *kmsg.SASLAuthenticateRequest {
	r := kmsg.NewPtrSASLAuthenticateRequest()
	r.SASLAuthBytes = []byte(tok)
	return r
}

// TestSASLHandshakeV1: ApiVersions, SaslHandshake v1, SaslAuthenticate, then requests carry the
// principal; a second handshake after authentication is ILLEGAL_SASL_STATE.
func TestSASLHandshakeV1(t *testing.T) {
	addr, principals := startSecure(t, Security{SASL: testAuth{}}, ServerConfig{})
	c := dial(t, addr)
	c.send(kmsg.NewPtrApiVersionsRequest(), 3)
	_, r := c.recv(18, 3)
	if r.(*kmsg.ApiVersionsResponse).ErrorCode != 0 {
		t.Fatal("ApiVersions failed")
	}
	c.send(handshake("TEST", 1), 1)
	_, r = c.recv(17, 1)
	if hs := r.(*kmsg.SASLHandshakeResponse); hs.ErrorCode != 0 || len(hs.SupportedMechanisms) != 1 {
		t.Fatalf("handshake %+v", hs)
	}
	for _, v := range []int16{0, 1, 2} {
		if v > 0 {
			// A new connection per version: one exchange per connection.
			c = dial(t, addr)
			c.send(handshake("TEST", 1), 1)
			c.recv(17, 1)
		}
		c.send(authenticate("good"), v)
		_, r = c.recv(36, v)
		if a := r.(*kmsg.SASLAuthenticateResponse); a.ErrorCode != 0 || string(a.SASLAuthBytes) != "welcome" {
			t.Fatalf("v%d authenticate %+v", v, a)
		}
		c.send(metadataReq("x"), 9)
		c.recv(3, 9)
		if p := <-principals; p != "User:tester" {
			t.Fatalf("principal %q", p)
		}
	}
	c.send(handshake("TEST", 1), 1)
	_, r = c.recv(17, 1)
	if hs := r.(*kmsg.SASLHandshakeResponse); hs.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("second handshake: %+v", hs)
	}
	c.send(authenticate("good"), 1)
	_, r = c.recv(36, 1)
	if a := r.(*kmsg.SASLAuthenticateResponse); a.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("second authenticate: %+v", a)
	}
}

// TestSASLHandshakeV0: after a v0 handshake the token travels as a bare frame, and so does the
// answer.
func TestSASLHandshakeV0(t *testing.T) {
	addr, principals := startSecure(t, Security{SASL: testAuth{}}, ServerConfig{})
	c := dial(t, addr)
	c.send(handshake("TEST", 0), 0)
	c.recv(17, 0)
	c.write(append([]byte{0, 0, 0, 4}, "good"...))
	if f := c.mustReadFrame(); string(f) != "welcome" {
		t.Fatalf("raw answer %q", f)
	}
	c.send(metadataReq("x"), 9)
	c.recv(3, 9)
	if p := <-principals; p != "User:tester" {
		t.Fatalf("principal %q", p)
	}

	// A bad raw token closes without an answer.
	c = dial(t, addr)
	c.send(handshake("TEST", 0), 0)
	c.recv(17, 0)
	c.write(append([]byte{0, 0, 0, 3}, "bad"...))
	c.expectClosed()
}

// TestSASLRefusals: Kafka's answers to clients that break the rules, each ending the
// connection, never hanging it.
func TestSASLRefusals(t *testing.T) {
	addr, principals := startSecure(t, Security{SASL: testAuth{}}, ServerConfig{AuthTimeout: 300 * time.Millisecond})

	t.Run("request before authentication", func(t *testing.T) {
		c := dial(t, addr)
		c.send(metadataReq("x"), 9)
		c.expectClosed()
	})
	t.Run("unsupported mechanism", func(t *testing.T) {
		c := dial(t, addr)
		c.send(handshake("SCRAM-SHA-256", 1), 1)
		_, r := c.recv(17, 1)
		hs := r.(*kmsg.SASLHandshakeResponse)
		if hs.ErrorCode != kerr.UnsupportedSaslMechanism.Code || len(hs.SupportedMechanisms) != 1 || hs.SupportedMechanisms[0] != "TEST" {
			t.Fatalf("handshake %+v", hs)
		}
		c.expectClosed()
	})
	t.Run("bad password", func(t *testing.T) {
		c := dial(t, addr)
		c.send(handshake("TEST", 1), 1)
		c.recv(17, 1)
		c.send(authenticate("bad"), 2)
		_, r := c.recv(36, 2)
		a := r.(*kmsg.SASLAuthenticateResponse)
		if a.ErrorCode != kerr.SaslAuthenticationFailed.Code || a.ErrorMessage == nil || *a.ErrorMessage != "Authentication failed: Invalid username or password" {
			t.Fatalf("authenticate %+v", a)
		}
		c.expectClosed()
	})
	t.Run("other request after handshake", func(t *testing.T) {
		c := dial(t, addr)
		c.send(handshake("TEST", 1), 1)
		c.recv(17, 1)
		c.send(metadataReq("x"), 9)
		c.expectClosed()
	})
	t.Run("oversized frame before authentication", func(t *testing.T) {
		c := dial(t, addr)
		hdr := binary.BigEndian.AppendUint32(nil, 100<<20)
		c.write(append(hdr, 0, 17, 0, 1))
		c.expectClosed()
	})
	t.Run("stalled handshake", func(t *testing.T) {
		c := dial(t, addr)
		c.write([]byte{0, 0}) // half a size, then nothing
		c.expectClosed()      // by AuthTimeout, well before the client's deadline
	})
	select {
	case p := <-principals:
		t.Fatalf("a request was served for %q", p)
	default:
	}
}

// TestSASLOnPlainListener: a listener without SASL answers SaslHandshake ILLEGAL_SASL_STATE, as
// Kafka's KafkaApis does.
func TestSASLOnPlainListener(t *testing.T) {
	addr, _ := startSecure(t, Security{}, ServerConfig{})
	c := dial(t, addr)
	c.send(handshake("PLAIN", 1), 1)
	_, r := c.recv(17, 1)
	if hs := r.(*kmsg.SASLHandshakeResponse); hs.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("handshake %+v", hs)
	}
}

// neverAuth is a mechanism "TEST" whose exchange never ends: "more" is answered and waits for the
// next token, anything else fails. No connection can authenticate, so each must be closed.
type neverAuth struct{}

func (neverAuth) Mechanisms() []string { return []string{"TEST"} }
func (neverAuth) Start(m string) (SASLExchange, bool) {
	return neverExchange{}, m == "TEST"
}

type neverExchange struct{}

func (neverExchange) Step(tok []byte) ([]byte, bool, error) {
	if string(tok) == "more" {
		return []byte("again"), false, nil
	}
	return nil, false, errors.New("Authentication failed: Invalid username or password")
}
func (neverExchange) Principal() string { return "User:nobody" }

// FuzzSASLHandshakeFrames sends arbitrary bytes to a SASL listener before authentication: the
// server must close the connection (at once, or after answering, by AuthTimeout) without
// panicking, hanging, or allocating beyond MaxAuthBytes for a frame; the listener keeps serving.
func FuzzSASLHandshakeFrames(f *testing.F) {
	f.Add(encodeRequest(handshake("TEST", 1), 1, 1))
	f.Add(append(encodeRequest(handshake("TEST", 0), 0, 1), 0, 0, 0, 4, 'm', 'o', 'r', 'e'))
	f.Add(append(encodeRequest(handshake("TEST", 1), 1, 1), encodeRequest(authenticate("more"), 2, 2)...))
	f.Add(append(encodeRequest(handshake("TEST", 1), 1, 1), encodeRequest(authenticate("bad"), 2, 2)...))
	f.Add(binary.BigEndian.AppendUint32(nil, 1<<30))
	f.Add([]byte{0, 0, 0, 6, 0, 18, 0, 3, 0, 0})
	addr, _ := startSecure(f, Security{SASL: neverAuth{}}, ServerConfig{AuthTimeout: 200 * time.Millisecond, MaxAuthBytes: 4096})
	f.Fuzz(func(t *testing.T, input []byte) {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
		nc.Write(input)
		buf := make([]byte, 4096)
		for {
			if _, err := nc.Read(buf); err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("connection still open 5s after %q (AuthTimeout is 200ms)", input)
				}
				return
			}
		}
	})
}

// TestServerAuthenticate: Server.Authenticate runs the exchange on a connection that is not
// served afterwards (the controller listener's) and hands it back with what the client sent
// right behind its last SaslAuthenticate in front; a wrong token answers
// SASL_AUTHENTICATION_FAILED and fails.
func TestServerAuthenticate(t *testing.T) {
	mux := NewMux()
	HandleSASL(mux)
	s := NewServer(mux, ServerConfig{AuthTimeout: testTimeout})
	defer s.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		c         net.Conn
		principal string
		err       error
	}
	accept := func() <-chan result {
		ch := make(chan result, 1)
		go func() {
			nc, err := ln.Accept()
			if err != nil {
				ch <- result{err: err}
				return
			}
			c, p, err := s.Authenticate(nc, "CONTROLLER", testAuth{})
			ch <- result{c, p, err}
		}()
		return ch
	}

	got := accept()
	c := dial(t, ln.Addr().String())
	c.send(handshake("TEST", 1), 1)
	c.recv(17, 1)
	// The last token and the first bytes of what follows in one write.
	c.write(append(encodeRequest(authenticate("good"), 2, 9), "after"...))
	_, r := c.recv(36, 2)
	if a := r.(*kmsg.SASLAuthenticateResponse); a.ErrorCode != 0 {
		t.Fatalf("authenticate: %+v", a)
	}
	res := <-got
	if res.err != nil || res.principal != "User:tester" {
		t.Fatalf("Authenticate: %q, %v", res.principal, res.err)
	}
	defer res.c.Close()
	_ = res.c.SetDeadline(time.Now().Add(testTimeout))
	buf := make([]byte, 5)
	if _, err := io.ReadFull(res.c, buf); err != nil || string(buf) != "after" {
		t.Fatalf("read after the exchange: %q, %v", buf, err)
	}

	got = accept()
	c = dial(t, ln.Addr().String())
	c.send(handshake("TEST", 1), 1)
	c.recv(17, 1)
	c.send(authenticate("bad"), 2)
	_, r = c.recv(36, 2)
	if a := r.(*kmsg.SASLAuthenticateResponse); a.ErrorCode != kerr.SaslAuthenticationFailed.Code {
		t.Fatalf("wrong token: %+v", a)
	}
	if res := <-got; !errors.Is(res.err, ErrAuthentication) {
		t.Fatalf("wrong token: %v", res.err)
	}
}
