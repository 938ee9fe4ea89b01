package redisx

import "strings"

// Slots is the number of hash slots a Redis Cluster divides keys into.
const Slots = 16384

// Slot is the cluster hash slot of a key or sharded channel: CRC16
// (XMODEM) of the key, or of the part inside its first non-empty {…} hash
// tag, modulo 16384.
func Slot(key string) int {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if end := strings.IndexByte(key[open+1:], '}'); end > 0 {
			key = key[open+1 : open+1+end]
		}
	}
	return int(crc16(key) % Slots)
}

// crc16Table is CRC16-CCITT with polynomial 0x1021 and initial value 0,
// the variant (XMODEM) Redis Cluster specifies.
var crc16Table = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

func crc16(s string) uint16 {
	var c uint16
	for i := 0; i < len(s); i++ {
		c = c<<8 ^ crc16Table[byte(c>>8)^s[i]]
	}
	return c
}
