package authbridge

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// minRSABits refuses RSA keys that are considered breakable today.
const minRSABits = 2048

// keySet maps an algorithm to the keys that verify it. Each key fixes its
// own algorithm (an HMAC secret HS256, an RSA key RS256…), so a token's alg
// header only ever selects among keys made for it.
type keySet map[string][]jwt.VerificationKey

func (ks keySet) add(m jwt.SigningMethod, key jwt.VerificationKey) {
	ks[m.Alg()] = append(ks[m.Alg()], key)
}

// keyID names a key without revealing it: the first 16 bytes of a SHA-256
// of the secret, or of the public key's PKIX encoding, in hex. It is never
// sent or logged; it only tells whether a grant's key is still held.
func keyID(key jwt.VerificationKey) string {
	var b []byte
	switch k := key.(type) {
	case []byte:
		b = append([]byte("secret:"), k...)
	default:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return ""
		}
		b = append([]byte("public:"), der...)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// holds reports whether ks has the key with id.
func (ks keySet) holds(id string) bool {
	for _, keys := range ks {
		for _, k := range keys {
			if keyID(k) == id {
				return true
			}
		}
	}
	return false
}

func (ks keySet) algs() []string {
	out := make([]string, 0, len(ks))
	for alg := range ks {
		out = append(out, alg)
	}
	return out
}

// parsePublicKeys reads every PEM block of pemBytes as a public key.
func parsePublicKeys(pemBytes []byte) (keySet, error) {
	ks := keySet{}
	for n := 1; ; n++ {
		block, rest := pem.Decode(pemBytes)
		if block == nil {
			break
		}
		method, key, err := parsePublicKey(pem.EncodeToMemory(block))
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		ks.add(method, key)
		pemBytes = rest
	}
	if len(ks) == 0 {
		return nil, errors.New("no PEM block found")
	}
	return ks, nil
}

// parsePublicKey reads a PEM public key (PKIX, PKCS #1 or a certificate) and
// returns the one signing method its type allows. Pinning the algorithm to
// the key type means a token cannot pick how it is checked.
func parsePublicKey(pemBytes []byte) (jwt.SigningMethod, any, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, nil, errors.New("no PEM block found")
	}
	if strings.Contains(block.Type, "PRIVATE KEY") {
		return nil, nil, errors.New("the PEM holds a private key; give the public key")
	}
	var (
		pub any
		err error
	)
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		cert, err = x509.ParseCertificate(block.Bytes)
		if err == nil {
			pub = cert.PublicKey
		}
	default:
		return nil, nil, fmt.Errorf("unsupported PEM block %q", block.Type)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("parse public key: %w", err)
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return nil, nil, fmt.Errorf("RSA key has %d bits, need at least %d", k.N.BitLen(), minRSABits)
		}
		return jwt.SigningMethodRS256, k, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, nil, errors.New("ECDSA key must be on curve P-256 (ES256)")
		}
		return jwt.SigningMethodES256, k, nil
	case ed25519.PublicKey:
		return jwt.SigningMethodEdDSA, k, nil
	default:
		return nil, nil, fmt.Errorf("unsupported key type %T", pub)
	}
}
