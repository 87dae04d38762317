package uuid

import (
	"regexp"
	"testing"
)

// TestNew checks the version and variant bits of drawn UUIDs, and that draws differ.
func TestNew(t *testing.T) {
	seen := map[[16]byte]bool{}
	for range 1000 {
		u := New()
		if u[6]>>4 != 4 || u[8]>>6 != 2 {
			t.Fatalf("%x: not a version 4, IETF-variant UUID", u)
		}
		if seen[u] {
			t.Fatalf("%x drawn twice", u)
		}
		seen[u] = true
	}
}

// TestString checks the java.util.UUID text form, with a fixed value and with drawn ones.
func TestString(t *testing.T) {
	u := [16]byte{0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00}
	if got, want := String(u), "123e4567-e89b-12d3-a456-426614174000"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	for range 100 {
		if s := String(New()); !re.MatchString(s) {
			t.Fatalf("String(New()) = %q", s)
		}
	}
}
