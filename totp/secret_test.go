package totp

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// withRand replaces randReader for one test.
func withRand(t *testing.T, r io.Reader) {
	t.Helper()
	old := randReader
	randReader = r
	t.Cleanup(func() { randReader = old })
}

func TestGenerateSecret(t *testing.T) {
	for _, size := range []int{MinSecretSize, DefaultSecretSize, MaxSecretSize} {
		s, err := GenerateSecret(size)
		require.NoError(t, err)
		require.Len(t, s, size)
	}
	a, err := GenerateSecret(DefaultSecretSize)
	require.NoError(t, err)
	b, err := GenerateSecret(DefaultSecretSize)
	require.NoError(t, err)
	require.NotEqual(t, a, b, "two secrets from crypto/rand must differ")
}

func TestGenerateSecretUsesRandReader(t *testing.T) {
	withRand(t, bytes.NewReader(bytes.Repeat([]byte{0xAB}, 32)))
	s, err := GenerateSecret(20)
	require.NoError(t, err)
	require.Equal(t, bytes.Repeat([]byte{0xAB}, 20), s)
}

func TestGenerateSecretSize(t *testing.T) {
	for _, size := range []int{-1, 0, MinSecretSize - 1, MaxSecretSize + 1} {
		_, err := GenerateSecret(size)
		require.ErrorContains(t, err, "out of range", "size %d", size)
	}
}

func TestGenerateSecretShortRead(t *testing.T) {
	// A source that runs dry must fail, never hand out a half-random secret.
	withRand(t, bytes.NewReader(make([]byte, 10)))
	s, err := GenerateSecret(20)
	require.Nil(t, s)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.ErrorContains(t, err, "reading random secret")

	withRand(t, bytes.NewReader(nil))
	_, err = GenerateSecret(20)
	require.ErrorIs(t, err, io.EOF)

	boom := errors.New("entropy source broken")
	withRand(t, io.MultiReader(bytes.NewReader(make([]byte, 5)), errReader{boom}))
	_, err = GenerateSecret(20)
	require.ErrorIs(t, err, boom)
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestEncodeSecret(t *testing.T) {
	require.Equal(t, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", EncodeSecret([]byte("12345678901234567890")))
	require.Equal(t, "MZXW6", EncodeSecret([]byte("foo")), "no padding")
	require.Equal(t, "", EncodeSecret(nil))
}

func TestGroupSecret(t *testing.T) {
	require.Equal(t, "GEZD GNBV GY3T QOJQ", GroupSecret("GEZDGNBVGY3TQOJQ"))
	require.Equal(t, "MZXW 6", GroupSecret("MZXW6"))
	require.Equal(t, "", GroupSecret(""))
}

func TestDecodeSecret(t *testing.T) {
	want := []byte("12345678901234567890")
	for _, in := range []string{
		"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
		"gezdgnbvgy3tqojqgezdgnbvgy3tqojq",
		"GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ",
		"gezd-gnbv-gy3t-qojq-gezd-gnbv-gy3t-qojq",
		"GEZDGNBVGY3TQOJQ\tGEZDGNBVGY3TQOJQ",
	} {
		got, err := DecodeSecret(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	got, err := DecodeSecret("MZXW6===")
	require.NoError(t, err)
	require.Equal(t, []byte("foo"), got, "padding is ignored")

	max := strings.Repeat("A", (MaxSecretSize*8+4)/5) // 103 characters = 64 bytes
	got, err = DecodeSecret(max)
	require.NoError(t, err)
	require.Len(t, got, MaxSecretSize)
}

func TestDecodeSecretErrors(t *testing.T) {
	for _, c := range []struct{ in, msg string }{
		{"GEZDGNBV1Y3TQOJQ", `has '1' at byte 8`},
		{"GEZDGNBV0", `has '0' at byte 8`},
		{"GEZD.GNBV", `has '.' at byte 4`},
		{"GEZDGNBVé", "Base32 uses only A-Z and 2-7"},
		{"A", "1 Base32 characters"},
		{"AAA", "3 Base32 characters"},
		{"AAAAAA", "6 Base32 characters"},
		{strings.Repeat("A", 104), "longer than 64 bytes"},
	} {
		_, err := DecodeSecret(c.in)
		require.ErrorContains(t, err, c.msg, "%q", c.in)
	}
	for _, in := range []string{"", "   ", "----", "===="} {
		_, err := DecodeSecret(in)
		require.ErrorIs(t, err, ErrEmptySecret, "%q", in)
	}
}
