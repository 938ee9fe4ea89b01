package redisx

import "testing"

func TestCRC16IsXMODEM(t *testing.T) {
	// The check value every CRC-16/XMODEM implementation publishes.
	if got := crc16("123456789"); got != 0x31C3 {
		t.Fatalf("crc16(123456789) = %#x, want 0x31c3", got)
	}
}

func TestSlotHashTags(t *testing.T) {
	cases := []struct {
		name, key, sameAs string
	}{
		{"tag", "{user1000}.following", "user1000"},
		{"tag anywhere", "x{user1000}y", "user1000"},
		{"first tag wins", "foo{bar}{zap}", "bar"},
		{"first close brace ends it", "foo{{bar}}zap", "{bar"},
		{"empty tag hashes the whole key", "foo{}{bar}", "foo{}{bar}"},
		{"no close brace", "foo{bar", "foo{bar"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got, want := Slot(c.key), int(crc16(c.sameAs)%Slots); got != want {
				t.Fatalf("Slot(%q) = %d, want %d (the slot of %q)", c.key, got, want, c.sameAs)
			}
		})
	}
}
