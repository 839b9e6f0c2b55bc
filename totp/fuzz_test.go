package totp

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The fuzz targets run their seeds as unit tests under plain go test;
// go test -fuzz=FuzzParseURI ./totp/ (one target at a time) explores further.

func FuzzDecodeSecret(f *testing.F) {
	for _, s := range []string{
		"", "A", "AA", "AAAA", "MZXW6", "MZXW6===", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
		"gezd gnbv-gy3t", "JBSWY3DPEHPK3PX1", "\xff", "=A=A=", strings.Repeat("7", 103), strings.Repeat("7", 104),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := DecodeSecret(s)
		if err != nil {
			require.Nil(t, b)
			return
		}
		require.NotEmpty(t, b)
		require.LessOrEqual(t, len(b), MaxSecretSize)
		enc := EncodeSecret(b)
		for _, form := range []string{enc, strings.ToLower(enc), GroupSecret(enc)} {
			again, err := DecodeSecret(form)
			require.NoError(t, err, form)
			require.Equal(t, b, again, form)
		}
		require.Equal(t, enc, EncodeSecret(must(DecodeSecret(enc))), "encoding is canonical")
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		googleExample,
		"otpauth://totp/alice?secret=JBSWY3DPEHPK3PXP",
		"otpauth://totp/Acme%20Co:%20alice?secret=jbsw-y3dp&issuer=Acme+Co&algorithm=sha512&digits=8&period=60",
		"otpauth://totp/Acme%3Aalice?secret=MZXW6%3D%3D%3D",
		"otpauth://totp/%C3%9Cberbank:j%C3%B6rg?secret=MZXW6&image=x",
		"otpauth://hotp/alice?secret=MZXW6&counter=1",
		"otpauth://totp/a:b:c?secret=MZXW6",
		"otpauth://totp/alice?secret=MZXW6&period=0",
		"otpauth:totp/alice?secret=MZXW6",
		"otpauth://totp/a%zz?secret=MZXW6",
		"otpauth://totp/a%FF?secret=MZXW6",
		"otpauth://totp/+?secret=MZXW6&issuer=%2B",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseURI(s)
		if err != nil {
			require.Equal(t, Key{}, k)
			return
		}
		// Whatever parses builds, and builds back to the same key and URI.
		uri, err := k.URI()
		require.NoError(t, err, "%+v", k)
		again, err := ParseURI(uri)
		require.NoError(t, err, uri)
		require.Equal(t, k, again, uri)
		uri2, err := again.URI()
		require.NoError(t, err)
		require.Equal(t, uri, uri2)
	})
}

func FuzzValidate(f *testing.F) {
	secret := []byte("12345678901234567890")
	code := func(step int64) string { return must(DefaultParams().CodeAt(secret, step)) }
	f.Add(secret, code(57000000), int64(57000000*30), 1, 0, int64(-1), 0, 6, uint8(0), uint16(30))
	f.Add(secret, code(57000001), int64(57000000*30), 1, 0, int64(57000000), 0, 6, uint8(0), uint16(30))
	f.Add(secret, code(57000000), int64(57000000*30), 1, 0, int64(57000000), 0, 6, uint8(0), uint16(30))
	f.Add(secret, code(57000003), int64(57000000*30), 1, 3, int64(-1), 5, 6, uint8(0), uint16(30))
	f.Add(secret, code(0), int64(0), 1, -5, int64(-1), 0, 6, uint8(0), uint16(30))
	f.Add(secret, " "+code(5)[1:], int64(150), 1, 0, int64(-1), 0, 6, uint8(0), uint16(30))
	f.Add(secret, "12345a78", int64(150), 2, 0, int64(-1), 0, 8, uint8(1), uint16(60))
	f.Add([]byte{}, "123456", int64(150), 1, 0, int64(-1), 0, 6, uint8(2), uint16(7))
	f.Add(secret, "123456", int64(-100), -1, 1<<40, int64(-7), -1, 9, uint8(9), uint16(0))
	f.Add([]byte("0"), "0", int64(1710000000), 91, 0, int64(57000000), 0, 6, uint8(0), uint16(30))
	f.Fuzz(func(t *testing.T, secret []byte, code string, unix int64, window, drift int, last int64, maxDrift, digits int, alg uint8, period uint16) {
		p := Params{Algorithm: []Algorithm{SHA1, SHA256, SHA512, "MD5"}[alg%4], Digits: digits, Period: time.Duration(period) * time.Second}
		o := ValidateOptions{Window: window, Drift: drift, LastStep: last, MaxDrift: maxDrift}
		now := time.Unix(unix, 0)
		res, err := p.Validate(secret, code, now, o)
		_, derr := p.Diagnose(secret, code, now, 0)

		wellFormed := len(code) == digits && strings.Trim(code, "0123456789") == ""
		// Bad Params or options are reported first; then junk is always ErrFormat.
		if p.Check() == nil && !wellFormed {
			require.ErrorIs(t, derr, ErrFormat, "%q", code)
			if o.Check() == nil {
				require.ErrorIs(t, err, ErrFormat, "%q", code)
			}
		}
		if err != nil {
			require.Equal(t, Result{}, res)
			require.False(t, errors.Is(err, ErrFormat) && wellFormed, "a well-formed code is never ErrFormat")
			return
		}
		// Accepted: the code is the step's code, the step is fresh and inside
		// the clamped drift's window or now's, and the drift is measured from now.
		require.True(t, wellFormed)
		require.Greater(t, res.Step, last)
		require.Equal(t, code, must(p.CodeAt(secret, res.Step)))
		nowStep := p.Step(now)
		require.Equal(t, res.Step-nowStep, int64(res.Drift))
		md := maxDrift
		if md == 0 {
			md = DefaultMaxDrift
		}
		centre := nowStep + int64(min(max(drift, -md), md))
		require.LessOrEqual(t, min(abs64(res.Step-centre), abs64(res.Step-nowStep)), int64(window))
		require.NotEqual(t, bytes.IndexByte([]byte(code), ' '), 0)
	})
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
