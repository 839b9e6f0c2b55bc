package totp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDefaultParams(t *testing.T) {
	p := DefaultParams()
	require.Equal(t, Params{Algorithm: SHA1, Digits: 6, Period: 30 * time.Second}, p)
	require.NoError(t, p.Check())
}

func TestParamsCheck(t *testing.T) {
	ok := DefaultParams()
	for _, c := range []struct {
		edit func(*Params)
		msg  string
	}{
		{func(p *Params) { p.Algorithm = "" }, "unknown algorithm"},
		{func(p *Params) { p.Algorithm = "sha1" }, "unknown algorithm"}, // Params want the constant; ParseAlgorithm normalises
		{func(p *Params) { p.Digits = 5 }, "digits must be"},
		{func(p *Params) { p.Digits = 9 }, "digits must be"},
		{func(p *Params) { p.Period = 0 }, "period must be"},
		{func(p *Params) { p.Period = -30 * time.Second }, "period must be"},
		{func(p *Params) { p.Period = 1500 * time.Millisecond }, "period must be"},
		{func(p *Params) { p.Period = MaxPeriod + time.Second }, "period must be"},
	} {
		p := ok
		c.edit(&p)
		require.ErrorContains(t, p.Check(), c.msg, "%+v", p)
	}
	p := ok
	p.Period = MaxPeriod
	require.NoError(t, p.Check())
	p.Period = time.Second
	require.NoError(t, p.Check())
}

func TestStep(t *testing.T) {
	p := DefaultParams()
	require.Equal(t, int64(0), p.Step(time.Unix(0, 0)))
	require.Equal(t, int64(0), p.Step(time.Unix(29, 999999999)))
	require.Equal(t, int64(1), p.Step(time.Unix(30, 0)))
	require.Equal(t, int64(-1), p.Step(time.Unix(-1, 0)), "before 1970 there is no step")
	require.Equal(t, int64(-1), Params{Period: 0}.Step(time.Unix(100, 0)), "no period, no step")
	// Past 2038 (32-bit time_t) and 2106 (unsigned 32-bit) steps keep counting.
	require.Equal(t, int64(1<<31)/30, p.Step(time.Unix(1<<31, 0)))
	require.Equal(t, int64(1<<33)/30, p.Step(time.Unix(1<<33, 0)))
	require.Equal(t, time.Unix(30*1000, 0), p.StepTime(1000))
	require.Equal(t, p.Step(p.StepTime(123456789)), int64(123456789))
}

func TestCodeErrors(t *testing.T) {
	secret := []byte("12345678901234567890")
	_, err := Params{Algorithm: SHA1, Digits: 6}.Code(secret, time.Unix(59, 0))
	require.ErrorContains(t, err, "period must be")
	_, err = DefaultParams().Code(secret, time.Unix(-1, 0))
	require.ErrorContains(t, err, "before 1970")
	_, err = DefaultParams().CodeAt(secret, -1)
	require.ErrorContains(t, err, "negative time step -1")
	_, err = DefaultParams().Code(nil, time.Unix(59, 0))
	require.ErrorIs(t, err, ErrEmptySecret)
}

func TestCodeAtEpoch(t *testing.T) {
	// Step 0 is the HOTP value for counter 0.
	code, err := DefaultParams().Code([]byte("12345678901234567890"), time.Unix(0, 0))
	require.NoError(t, err)
	require.Equal(t, "755224", code)
}
