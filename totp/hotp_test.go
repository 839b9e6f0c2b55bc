package totp

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseAlgorithm(t *testing.T) {
	for in, want := range map[string]Algorithm{
		"SHA1": SHA1, "sha1": SHA1, "SHA-1": SHA1,
		"SHA256": SHA256, "sha-256": SHA256,
		"SHA512": SHA512, "Sha512": SHA512,
	} {
		got, err := ParseAlgorithm(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "MD5", "SHA384", "SHA3-256"} {
		_, err := ParseAlgorithm(in)
		require.ErrorContains(t, err, "use SHA1, SHA256 or SHA512", in)
	}
}

func TestHOTPErrors(t *testing.T) {
	secret := []byte("12345678901234567890")
	_, err := HOTP("MD5", secret, 0, 6)
	require.ErrorContains(t, err, `unknown algorithm "MD5"`)
	for _, d := range []int{0, 5, 9, -6} {
		_, err = HOTP(SHA1, secret, 0, d)
		require.ErrorContains(t, err, "digits must be 6, 7 or 8", "digits %d", d)
	}
	_, err = HOTP(SHA1, nil, 0, 6)
	require.ErrorIs(t, err, ErrEmptySecret)
}

func TestHOTPDigits(t *testing.T) {
	secret := []byte("12345678901234567890")
	// RFC 4226 Appendix D lists the 31-bit value for counter 0: 1284755224.
	for d, want := range map[int]string{6: "755224", 7: "4755224", 8: "84755224"} {
		got, err := HOTP(SHA1, secret, 0, d)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	// The largest counter must work: steps are unsigned on the wire.
	got, err := HOTP(SHA1, secret, ^uint64(0), 6)
	require.NoError(t, err)
	require.Len(t, got, 6)
}

func TestFormatCode(t *testing.T) {
	require.Equal(t, "000000", formatCode(0, 6))
	require.Equal(t, "000042", formatCode(42, 6))
	require.Equal(t, "0000042", formatCode(42, 7))
	require.Equal(t, "99999999", formatCode(99999999, 8))
}
