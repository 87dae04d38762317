package security

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"hash"
	"strconv"
	"strings"
)

// SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka's ScramSaslServer: credentials
// are looked up when the client names its user, and only the derived keys are ever held.

// SCRAM mechanism names.
const (
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// Kafka's bounds on a SCRAM credential's iterations (ScramMechanism's minIterations, and
// AlterUserScramCredentials' maximum).
const (
	ScramMinIterations = 4096
	ScramMaxIterations = 16384
)

// ScramCredential is a user's credential for one mechanism.
type ScramCredential struct {
	Salt       []byte
	StoredKey  []byte
	ServerKey  []byte
	Iterations int
}

// ScramLookup finds a user's credential for a mechanism (ScramSHA256 or ScramSHA512); it is
// called for every login, so it must read the current metadata.
type ScramLookup func(user, mechanism string) (ScramCredential, bool)

func scramHash(mechanism string) func() hash.Hash {
	switch mechanism {
	case ScramSHA256:
		return sha256.New
	case ScramSHA512:
		return sha512.New
	}
	return nil
}

// IsScram reports whether mechanism is one of the SCRAM mechanisms served.
func IsScram(mechanism string) bool { return scramHash(mechanism) != nil }

// ScramKeys derives StoredKey and ServerKey from a salted password (Hi(password, salt, i), which
// AlterUserScramCredentials carries), as RFC 5802 defines them.
func ScramKeys(mechanism string, saltedPassword []byte) (storedKey, serverKey []byte) {
	h := scramHash(mechanism)
	clientKey := hmacOf(h, saltedPassword, []byte("Client Key"))
	sum := h()
	sum.Write(clientKey)
	return sum.Sum(nil), hmacOf(h, saltedPassword, []byte("Server Key"))
}

func hmacOf(h func() hash.Hash, key, msg []byte) []byte {
	m := hmac.New(h, key)
	m.Write(msg)
	return m.Sum(nil)
}

// scramExchange is one connection's SCRAM exchange: client-first, server-first, client-final,
// server-final.
type scramExchange struct {
	mechanism string
	lookup    ScramLookup
	step      int
	user      string
	cred      ScramCredential
	gs2       string // the client's GS2 header, which c= must repeat
	nonce     string // client nonce + server nonce
	auth      string // client-first-bare + "," + server-first
}

// errScram is Kafka's answer to any failed SCRAM exchange: it says nothing of which part failed.
func errScram(mechanism string) error {
	return errors.New("Authentication failed during authentication due to invalid credentials with SASL mechanism " + mechanism)
}

func (x *scramExchange) Step(token []byte) ([]byte, bool, error) {
	x.step++
	switch x.step {
	case 1:
		return x.first(string(token))
	case 2:
		return x.final(string(token))
	}
	return nil, false, errScram(x.mechanism)
}

func (x *scramExchange) Principal() string { return "User:" + x.user }

// first reads client-first ("n,[a=authzid],n=user,r=nonce[,ext]") and answers server-first.
func (x *scramExchange) first(msg string) ([]byte, bool, error) {
	fail := errScram(x.mechanism)
	parts := strings.SplitN(msg, ",", 3)
	if len(parts) != 3 || (parts[0] != "n" && parts[0] != "y") {
		return nil, false, fail // channel binding ("p=") is not offered
	}
	x.gs2 = parts[0] + "," + parts[1] + ","
	bare := parts[2]
	attrs := strings.Split(bare, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") || len(attrs[1]) < 3 {
		return nil, false, fail
	}
	for _, ext := range attrs[2:] {
		if strings.HasPrefix(ext, "tokenauth=") {
			return nil, false, fail // delegation tokens are not served
		}
	}
	user, ok := scramUnescape(attrs[0][2:])
	if !ok || user == "" {
		return nil, false, fail
	}
	if authz, found := strings.CutPrefix(parts[1], "a="); found {
		if a, ok := scramUnescape(authz); !ok || a != user {
			return nil, false, errors.New("Authentication failed: Client requested an authorization id that is different from username")
		}
	} else if parts[1] != "" {
		return nil, false, fail
	}
	cred, ok := x.lookup(user, x.mechanism)
	if !ok {
		return nil, false, fail
	}
	var r [24]byte
	if _, err := rand.Read(r[:]); err != nil {
		return nil, false, fail
	}
	x.user, x.cred = user, cred
	x.nonce = attrs[1][2:] + base64.RawURLEncoding.EncodeToString(r[:])
	serverFirst := "r=" + x.nonce + ",s=" + base64.StdEncoding.EncodeToString(cred.Salt) + ",i=" + strconv.Itoa(cred.Iterations)
	x.auth = bare + "," + serverFirst
	return []byte(serverFirst), false, nil
}

// final checks client-final ("c=...,r=...[,ext],p=proof") and answers server-final ("v=...").
func (x *scramExchange) final(msg string) ([]byte, bool, error) {
	fail := errScram(x.mechanism)
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return nil, false, fail
	}
	withoutProof, proof64 := msg[:i], msg[i+3:]
	attrs := strings.Split(withoutProof, ",")
	// Kafka's ScramSaslServer checks only that the client's nonce ends with the server's:
	// librdkafka sends its own nonce again before the one the server returned.
	if len(attrs) < 2 || attrs[0] != "c="+base64.StdEncoding.EncodeToString([]byte(x.gs2)) ||
		!strings.HasPrefix(attrs[1], "r=") || !strings.HasSuffix(attrs[1], x.nonce) {
		return nil, false, fail
	}
	proof, err := base64.StdEncoding.DecodeString(proof64)
	h := scramHash(x.mechanism)
	authMessage := []byte(x.auth + "," + withoutProof)
	sig := hmacOf(h, x.cred.StoredKey, authMessage)
	if err != nil || len(proof) != len(sig) {
		return nil, false, fail
	}
	clientKey := make([]byte, len(sig))
	subtle.XORBytes(clientKey, proof, sig)
	sum := h()
	sum.Write(clientKey)
	if subtle.ConstantTimeCompare(sum.Sum(nil), x.cred.StoredKey) != 1 {
		return nil, false, fail
	}
	return []byte("v=" + base64.StdEncoding.EncodeToString(hmacOf(h, x.cred.ServerKey, authMessage))), true, nil
}

// scramUnescape decodes a saslname: "=2C" is ',' and "=3D" is '='; any other '=' is invalid.
func scramUnescape(s string) (string, bool) {
	if !strings.Contains(s, "=") {
		return s, true
	}
	var b bytes.Buffer
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", false
		}
		i += 2
	}
	return b.String(), true
}
