package security

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The client side of SCRAM (this node's own login on a SCRAM inter-broker listener) and the
// credentials the node creates from passwords (bitnami's KAFKA_CLIENT_USERS, kafka-storage
// format --add-scram).

// SaltedPassword is RFC 5802's Hi(password, salt, iterations): PBKDF2 with the mechanism's HMAC,
// one block of the hash's size.
// It fails only where crypto/pbkdf2 does (FIPS 140-3 mode's bounds on salt and password).
func SaltedPassword(mechanism string, password, salt []byte, iterations int) ([]byte, error) {
	h := scramHash(mechanism)
	return pbkdf2.Key(h, string(password), salt, iterations, h().Size())
}

// NewScramCredential derives a credential for password with a random salt, as kafka-storage
// format --add-scram and kafka-configs do (iterations 0: Kafka's default, 4096).
func NewScramCredential(mechanism, password string, iterations int) (ScramCredential, error) {
	if !IsScram(mechanism) {
		return ScramCredential{}, fmt.Errorf("%s is not a SCRAM mechanism", mechanism)
	}
	if iterations == 0 {
		iterations = ScramMinIterations
	}
	if iterations < ScramMinIterations || iterations > ScramMaxIterations {
		return ScramCredential{}, fmt.Errorf("iterations %d: must be between %d and %d", iterations, ScramMinIterations, ScramMaxIterations)
	}
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return ScramCredential{}, err
	}
	salted, err := SaltedPassword(mechanism, []byte(password), salt, iterations)
	if err != nil {
		return ScramCredential{}, err
	}
	stored, server := ScramKeys(mechanism, salted)
	return ScramCredential{Salt: salt, StoredKey: stored, ServerKey: server, Iterations: iterations}, nil
}

// Verify reports whether password is the one the credential was made from.
func (c ScramCredential) Verify(mechanism, password string) bool {
	if !IsScram(mechanism) || c.Iterations <= 0 {
		return false
	}
	salted, err := SaltedPassword(mechanism, []byte(password), c.Salt, c.Iterations)
	if err != nil {
		return false
	}
	stored, _ := ScramKeys(mechanism, salted)
	return hmac.Equal(stored, c.StoredKey)
}

// scramClient is the client's half of one SCRAM exchange.
type scramClient struct {
	mechanism, user, password string
	nonce, bare, serverSig    string
}

// first returns client-first: no channel binding, the user escaped as a saslname.
func (c *scramClient) first() []byte {
	var r [24]byte
	_, _ = rand.Read(r[:])
	c.nonce = base64.RawURLEncoding.EncodeToString(r[:])
	name := strings.NewReplacer("=", "=3D", ",", "=2C").Replace(c.user)
	c.bare = "n=" + name + ",r=" + c.nonce
	return []byte("n,," + c.bare)
}

// final reads server-first and returns client-final with the proof.
func (c *scramClient) final(serverFirst []byte) ([]byte, error) {
	var nonce, salt64, iters string
	for _, a := range strings.Split(string(serverFirst), ",") {
		switch {
		case strings.HasPrefix(a, "r="):
			nonce = a[2:]
		case strings.HasPrefix(a, "s="):
			salt64 = a[2:]
		case strings.HasPrefix(a, "i="):
			iters = a[2:]
		case strings.HasPrefix(a, "e="):
			return nil, fmt.Errorf("server error %s", a[2:])
		}
	}
	salt, err := base64.StdEncoding.DecodeString(salt64)
	n, nerr := strconv.Atoi(iters)
	switch {
	case !strings.HasPrefix(nonce, c.nonce) || len(nonce) == len(c.nonce):
		return nil, errors.New("server-first: the nonce does not extend ours")
	case err != nil || len(salt) == 0:
		return nil, errors.New("server-first: bad salt")
	case nerr != nil || n < ScramMinIterations || n > ScramMaxIterations:
		return nil, fmt.Errorf("server-first: iterations %q out of bounds", iters)
	}
	h := scramHash(c.mechanism)
	salted, err := SaltedPassword(c.mechanism, []byte(c.password), salt, n)
	if err != nil {
		return nil, err
	}
	clientKey := hmacOf(h, salted, []byte("Client Key"))
	sum := h()
	sum.Write(clientKey)
	storedKey := sum.Sum(nil)
	withoutProof := "c=biws,r=" + nonce
	auth := []byte(c.bare + "," + string(serverFirst) + "," + withoutProof)
	sig := hmacOf(h, storedKey, auth)
	proof := make([]byte, len(clientKey))
	for i := range proof {
		proof[i] = clientKey[i] ^ sig[i]
	}
	c.serverSig = base64.StdEncoding.EncodeToString(hmacOf(h, hmacOf(h, salted, []byte("Server Key")), auth))
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

// verify checks server-final: the server proves it knows the credential too.
func (c *scramClient) verify(serverFinal []byte) error {
	if v, ok := strings.CutPrefix(string(serverFinal), "v="); ok && hmac.Equal([]byte(v), []byte(c.serverSig)) {
		return nil
	}
	return errors.New("server-final: the server's signature does not match")
}

// ScramUser is one credential to create at start: kafka-storage format's
// --add-scram 'SCRAM-SHA-256=[name=alice,password=alice-secret]'.
type ScramUser struct {
	Mechanism  string
	Name       string
	Password   string
	Iterations int // 0: 4096
}

// ParseAddScram reads a list of kafka-storage --add-scram arguments separated by whitespace or
// ';': MECHANISM=[name=...,password=...[,iterations=...]]. A value may be double-quoted (then it
// may hold ',', ']' or spaces; a backslash escapes the next character).
func ParseAddScram(s string) ([]ScramUser, error) {
	var out []ScramUser
	rest := s
	for {
		rest = strings.TrimLeft(rest, " \t\r\n;")
		if rest == "" {
			return out, nil
		}
		mech, after, ok := strings.Cut(rest, "=[")
		mech = strings.ToUpper(strings.TrimSpace(mech))
		if !ok || !IsScram(mech) {
			return nil, fmt.Errorf("want SCRAM-SHA-256=[name=...,password=...] or SCRAM-SHA-512=[...], got %q", rest)
		}
		u := ScramUser{Mechanism: mech}
		rest = after
		for {
			key, after, ok := strings.Cut(rest, "=")
			if !ok {
				return nil, fmt.Errorf("%s: unterminated entry", mech)
			}
			key = strings.TrimSpace(key)
			val, after, err := scramArgValue(after)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %v", mech, key, err)
			}
			switch key {
			case "name":
				u.Name = val
			case "password":
				u.Password = val
			case "iterations":
				if u.Iterations, err = strconv.Atoi(val); err != nil || u.Iterations < ScramMinIterations || u.Iterations > ScramMaxIterations {
					return nil, fmt.Errorf("%s: iterations %q must be between %d and %d", mech, val, ScramMinIterations, ScramMaxIterations)
				}
			default:
				return nil, fmt.Errorf("%s: unknown key %q (name, password, iterations)", mech, key)
			}
			rest = after
			if rest != "" && rest[0] == ',' {
				rest = rest[1:]
				continue
			}
			if rest != "" && rest[0] == ']' {
				rest = rest[1:]
				break
			}
			return nil, fmt.Errorf("%s: want ',' or ']' after %s", mech, key)
		}
		if u.Name == "" || u.Password == "" {
			return nil, fmt.Errorf("%s: name and password are required", mech)
		}
		out = append(out, u)
	}
}

// scramArgValue reads one value up to ',' or ']', or a double-quoted one.
func scramArgValue(s string) (val, rest string, err error) {
	if !strings.HasPrefix(s, `"`) {
		i := strings.IndexAny(s, ",]")
		if i < 0 {
			return "", "", errors.New("unterminated value")
		}
		return s[:i], s[i:], nil
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case c == '"':
			return b.String(), s[i+1:], nil
		default:
			b.WriteByte(c)
		}
	}
	return "", "", errors.New("unterminated quoted value")
}
