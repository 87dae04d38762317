package security

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"strings"

	"golang.org/x/crypto/pkcs12"
)

// storeType resolves ssl.keystore.type / ssl.truststore.type. Unset (Kafka's default JKS) or JKS,
// the content decides, since minikraft reads no JKS: PEM text is PEM, DER is PKCS12, JKS's magic
// number gets a message saying how to convert it.
func storeType(p props, prop string, data []byte) (string, error) {
	t, from := p.get(prop)
	t = strings.ToUpper(strings.TrimSpace(t))
	switch t {
	case "PEM", "PKCS12":
		return t, nil
	case "", "JKS":
		switch {
		case bytes.HasPrefix(data, []byte{0xfe, 0xed, 0xfe, 0xed}):
			return "", errf(prop, "JKS stores are not supported: convert it with keytool -importkeystore -deststoretype PKCS12, or use PEM")
		case bytes.Contains(data, []byte("-----BEGIN")):
			return "PEM", nil
		case len(data) > 0 && data[0] == 0x30:
			return "PKCS12", nil
		}
		return "", errf(prop, "cannot tell the store's type: set %s to PEM or PKCS12", prop)
	}
	return "", errf(from, "type %s is not supported (PEM and PKCS12 are)", t)
}

// loadKeystore reads the listener's keystore: nil if none is configured.
func loadKeystore(p props) (*tls.Certificate, error) {
	keyPass, _ := p.get("ssl.key.password")
	storePass, _ := p.get("ssl.keystore.password")
	if key, kfrom := p.get("ssl.keystore.key"); kfrom != "" {
		chain, cfrom := p.get("ssl.keystore.certificate.chain")
		if cfrom == "" {
			return nil, errf(kfrom, "ssl.keystore.certificate.chain must be set with ssl.keystore.key")
		}
		return pemKeyPair(kfrom, []byte(key), []byte(chain), keyPass)
	}
	loc, from := p.get("ssl.keystore.location")
	if from == "" {
		return nil, nil
	}
	data, err := os.ReadFile(strings.TrimSpace(loc))
	if err != nil {
		return nil, errf(from, "%v", err)
	}
	t, err := storeType(p, "ssl.keystore.type", data)
	if err != nil {
		return nil, err
	}
	if t == "PEM" {
		// Kafka takes the key's password from ssl.key.password for PEM; fall back on the store's.
		if keyPass == "" {
			keyPass = storePass
		}
		return pemKeyPair(from, data, data, keyPass)
	}
	blocks, err := pkcs12Blocks(from, data, storePass)
	if err != nil {
		return nil, err
	}
	var cert tls.Certificate
	for _, b := range blocks {
		switch b.Type {
		case "CERTIFICATE":
			cert.Certificate = append(cert.Certificate, b.Bytes)
		case "PRIVATE KEY":
			if cert.PrivateKey != nil {
				return nil, errf(from, "the keystore holds more than one private key")
			}
			if cert.PrivateKey, err = parseKey(b.Bytes); err != nil {
				return nil, errf(from, "%v", err)
			}
		}
	}
	return finishPair(from, cert)
}

// pkcs12Blocks decodes a PKCS12 store into PEM blocks, with a useful message for the stores
// x/crypto/pkcs12 cannot read.
func pkcs12Blocks(from string, data []byte, password string) ([]*pem.Block, error) {
	blocks, err := pkcs12.ToPEM(data, password)
	switch {
	case errors.Is(err, pkcs12.ErrIncorrectPassword):
		return nil, errf(from, "wrong password for the PKCS12 store")
	case err != nil && strings.Contains(err.Error(), "algorithm"):
		return nil, errf(from, "%v: only legacy PKCS12 (3DES or RC2 with a SHA-1 MAC, openssl pkcs12 -export -legacy) is read; use PEM for stores made with AES", err)
	case err != nil:
		return nil, errf(from, "not a readable PKCS12 store: %v", err)
	}
	return blocks, nil
}

// pemKeyPair takes the private key from keyPEM and the certificate chain (leaf first) from
// chainPEM.
func pemKeyPair(from string, keyPEM, chainPEM []byte, password string) (*tls.Certificate, error) {
	var cert tls.Certificate
	for rest := chainPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			cert.Certificate = append(cert.Certificate, b.Bytes)
		}
	}
	for rest := keyPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		var der []byte
		switch b.Type {
		case "ENCRYPTED PRIVATE KEY":
			if password == "" {
				return nil, errf(from, "the private key is encrypted: set ssl.key.password")
			}
			var err error
			if der, err = decryptPKCS8(b.Bytes, []byte(password)); err != nil {
				return nil, errf(from, "%v", err)
			}
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			der = b.Bytes
		default:
			continue
		}
		if cert.PrivateKey != nil {
			return nil, errf(from, "more than one private key")
		}
		k, err := parseKey(der)
		if err != nil {
			return nil, errf(from, "%v", err)
		}
		cert.PrivateKey = k
	}
	return finishPair(from, cert)
}

func finishPair(from string, cert tls.Certificate) (*tls.Certificate, error) {
	switch {
	case cert.PrivateKey == nil:
		return nil, errf(from, "no private key found")
	case len(cert.Certificate) == 0:
		return nil, errf(from, "no certificate found")
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, errf(from, "%v", err)
	}
	pub, ok := cert.PrivateKey.(interface{ Public() crypto.PublicKey })
	if !ok || !publicEqual(pub.Public(), leaf.PublicKey) {
		return nil, errf(from, "the private key does not match the first certificate")
	}
	cert.Leaf = leaf
	return &cert, nil
}

func publicEqual(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// parseKey reads a PKCS#8, PKCS#1 or SEC 1 private key.
func parseKey(der []byte) (crypto.PrivateKey, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("the private key is not PKCS#8, PKCS#1 or SEC 1")
}

// loadTruststore reads the listener's trusted certificates: nil (the system's roots) if none is
// configured.
func loadTruststore(p props) (*x509.CertPool, error) {
	var data []byte
	inline, from := p.get("ssl.truststore.certificates")
	if from != "" {
		data = []byte(inline)
	} else {
		loc, lfrom := p.get("ssl.truststore.location")
		if lfrom == "" {
			return nil, nil
		}
		from = lfrom
		var err error
		if data, err = os.ReadFile(strings.TrimSpace(loc)); err != nil {
			return nil, errf(from, "%v", err)
		}
	}
	t, err := storeType(p, "ssl.truststore.type", data)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	n := 0
	if t == "PEM" {
		for rest := data; ; {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			if b.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, errf(from, "%v", err)
			}
			pool.AddCert(c)
			n++
		}
	} else {
		pass, _ := p.get("ssl.truststore.password")
		blocks, err := pkcs12Blocks(from, data, pass)
		if err != nil {
			return nil, err
		}
		for _, b := range blocks {
			if b.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, errf(from, "%v", err)
			}
			pool.AddCert(c)
			n++
		}
	}
	if n == 0 {
		return nil, errf(from, "the truststore holds no certificate")
	}
	return pool, nil
}
