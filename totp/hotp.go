package totp

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"hash"
	"strings"
)

// Algorithm names the HMAC hash of a one-time password, as in the Key URI.
type Algorithm string

// The algorithms RFC 6238 defines. SHA1 is the one every authenticator app supports.
const (
	SHA1   Algorithm = "SHA1"
	SHA256 Algorithm = "SHA256"
	SHA512 Algorithm = "SHA512"
)

// ParseAlgorithm reports the Algorithm named by s (case-insensitive,
// "SHA-256" style accepted) or an error naming the accepted values.
func ParseAlgorithm(s string) (Algorithm, error) {
	switch strings.ToUpper(strings.ReplaceAll(s, "-", "")) {
	case "SHA1":
		return SHA1, nil
	case "SHA256":
		return SHA256, nil
	case "SHA512":
		return SHA512, nil
	}
	return "", fmt.Errorf("unknown algorithm %q: use SHA1, SHA256 or SHA512", s)
}

// newHash reports the hash constructor for a, or an error for an unknown one.
func (a Algorithm) newHash() (func() hash.Hash, error) {
	switch a {
	case SHA1:
		return sha1.New, nil
	case SHA256:
		return sha256.New, nil
	case SHA512:
		return sha512.New, nil
	}
	return nil, fmt.Errorf("unknown algorithm %q: use SHA1, SHA256 or SHA512", string(a))
}

// pow10 holds the modulus for each supported digit count.
var pow10 = [...]uint32{6: 1_000_000, 7: 10_000_000, 8: 100_000_000}

// checkDigits reports an error unless digits is 6, 7 or 8.
func checkDigits(digits int) error {
	if digits < 6 || digits > 8 {
		return fmt.Errorf("digits must be 6, 7 or 8, not %d", digits)
	}
	return nil
}

// HOTP reports the RFC 4226 one-time password for secret and counter,
// zero-padded to digits (6 to 8) characters.
func HOTP(alg Algorithm, secret []byte, counter uint64, digits int) (string, error) {
	v, err := hotpValue(alg, secret, counter, digits)
	if err != nil {
		return "", err
	}
	return formatCode(v, digits), nil
}

// hotpValue is HOTP as a number, so validation can compare without formatting.
func hotpValue(alg Algorithm, secret []byte, counter uint64, digits int) (uint32, error) {
	mac, err := newMAC(alg, secret, digits)
	if err != nil {
		return 0, err
	}
	return truncate(mac, counter, digits), nil
}

// newMAC checks the inputs HOTP needs and reports a keyed HMAC ready for
// truncate. Validation builds it once and reuses it for every step it tries.
func newMAC(alg Algorithm, secret []byte, digits int) (hash.Hash, error) {
	h, err := alg.newHash()
	if err != nil {
		return nil, err
	}
	if err := checkDigits(digits); err != nil {
		return nil, err
	}
	if len(secret) == 0 {
		return nil, ErrEmptySecret
	}
	return hmac.New(h, secret), nil
}

// truncate reports the HOTP value of counter under mac (RFC 4226 §5.3).
// digits must already be checked.
func truncate(mac hash.Hash, counter uint64, digits int) uint32 {
	var msg [8]byte
	var buf [sha512.Size]byte // room for the largest digest, so Sum does not allocate
	binary.BigEndian.PutUint64(msg[:], counter)
	mac.Reset()
	mac.Write(msg[:])
	sum := mac.Sum(buf[:0])
	// Dynamic truncation: the low nibble of the last byte picks 4 bytes,
	// the top bit is dropped so the value is the same signed or unsigned.
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return bin % pow10[digits]
}

// formatCode renders v with leading zeros to digits characters.
func formatCode(v uint32, digits int) string {
	var b [8]byte
	for i := digits - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[:digits])
}
