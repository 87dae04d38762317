package uuid

import (
	"crypto/rand"
	"encoding/hex"
)

// New returns a random (version 4, IETF variant) UUID, as Java's UUID.randomUUID and Kafka's
// Uuid.randomUuid draw them.
func New() [16]byte {
	var u [16]byte
	// crypto/rand.Read never returns an error (it crashes the program instead), since Go 1.24.
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// String formats u in the canonical text form of java.util.UUID.toString: 8-4-4-4-12 lowercase
// hex digits. (Kafka's own Uuid type, for topic ids, prints as URL-safe base64 instead.)
func String(u [16]byte) string {
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
}
