package totp

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Secret sizes in bytes.
const (
	// DefaultSecretSize is 160 bits, the size RFC 4226 recommends and apps expect.
	DefaultSecretSize = 20
	// MinSecretSize is 128 bits, the floor RFC 4226 §4 sets.
	MinSecretSize = 16
	// MaxSecretSize bounds what DecodeSecret accepts (512 bits, a SHA512 block's worth).
	MaxSecretSize = 64
)

// randReader is the entropy source; tests replace it to prove short reads fail.
var randReader io.Reader = rand.Reader

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// GenerateSecret reports size random bytes from crypto/rand. A size below
// MinSecretSize or above MaxSecretSize, or a short read, is an error.
func GenerateSecret(size int) ([]byte, error) {
	if size < MinSecretSize || size > MaxSecretSize {
		return nil, fmt.Errorf("secret size %d bytes out of range %d..%d", size, MinSecretSize, MaxSecretSize)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(randReader, b); err != nil {
		return nil, fmt.Errorf("reading random secret: %w", err)
	}
	return b, nil
}

// EncodeSecret reports secret in upper-case Base32 without padding, as
// authenticator apps and Key URIs carry it.
func EncodeSecret(secret []byte) string {
	return b32.EncodeToString(secret)
}

// GroupSecret reports the Base32 key split into groups of four for typing by hand.
func GroupSecret(encoded string) string {
	var b strings.Builder
	for i := 0; i < len(encoded); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(encoded[i:min(i+4, len(encoded))])
	}
	return b.String()
}

// ErrEmptySecret reports a key with no Base32 characters in it.
var ErrEmptySecret = errors.New("empty secret key")

// DecodeSecret reports the bytes of a Base32 key as a person may type it:
// case, spaces, hyphens and padding are ignored. Anything else outside the
// Base32 alphabet, an impossible length, or a key over MaxSecretSize is an
// error that says which.
func DecodeSecret(s string) ([]byte, error) {
	clean := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '-' || c == '=':
			continue
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c >= 'A' && c <= 'Z', c >= '2' && c <= '7':
		default:
			return nil, fmt.Errorf("secret key has %q at byte %d: Base32 uses only A-Z and 2-7", rune(c), i)
		}
		clean = append(clean, c)
	}
	if len(clean) == 0 {
		return nil, ErrEmptySecret
	}
	if len(clean)*5/8 > MaxSecretSize {
		return nil, fmt.Errorf("secret key is %d characters: longer than %d bytes", len(clean), MaxSecretSize)
	}
	switch len(clean) % 8 {
	case 1, 3, 6:
		return nil, fmt.Errorf("secret key has %d Base32 characters, which no key length gives: check for a missing or extra character", len(clean))
	}
	out, err := b32.DecodeString(string(clean))
	if err != nil {
		return nil, fmt.Errorf("secret key is not valid Base32: %w", err)
	}
	return out, nil
}
