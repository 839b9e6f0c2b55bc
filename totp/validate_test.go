package totp

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var rfcSecret = []byte("12345678901234567890")

// at reports the time at the start of step s under DefaultParams.
func at(s int64) time.Time { return DefaultParams().StepTime(s) }

// codeAt reports the DefaultParams code of rfcSecret at step s.
func codeAt(t *testing.T, s int64) string {
	t.Helper()
	c, err := DefaultParams().CodeAt(rfcSecret, s)
	require.NoError(t, err)
	return c
}

const nowStep = 57000000 // mid 2024

func TestValidateWindow(t *testing.T) {
	p := DefaultParams()
	now := at(nowStep).Add(17 * time.Second) // inside the step, not at its start
	o := ValidateOptions{Window: 1, LastStep: -1}
	for off := int64(-1); off <= 1; off++ {
		res, err := p.Validate(rfcSecret, codeAt(t, nowStep+off), now, o)
		require.NoError(t, err, "offset %d", off)
		require.Equal(t, Result{Step: nowStep + off, Drift: int(off)}, res)
	}
	for _, off := range []int64{-3, -2, 2, 3} {
		_, err := p.Validate(rfcSecret, codeAt(t, nowStep+off), now, o)
		require.ErrorIs(t, err, ErrMismatch, "offset %d", off)
	}
	o.Window = 0
	_, err := p.Validate(rfcSecret, codeAt(t, nowStep+1), now, o)
	require.ErrorIs(t, err, ErrMismatch, "window 0 takes the current step only")
	res, err := p.Validate(rfcSecret, codeAt(t, nowStep), now, o)
	require.NoError(t, err)
	require.Equal(t, Result{Step: nowStep}, res)

	o.Window = MaxWindow
	res, err = p.Validate(rfcSecret, codeAt(t, nowStep-MaxWindow), now, o)
	require.NoError(t, err)
	require.Equal(t, -MaxWindow, res.Drift)
}

func TestValidateDrift(t *testing.T) {
	p := DefaultParams()
	now := at(nowStep)
	// The window follows the recorded drift: the user's clock is 3 steps ahead.
	o := ValidateOptions{Window: 1, Drift: 3, LastStep: -1}
	for _, off := range []int64{2, 3, 4} {
		res, err := p.Validate(rfcSecret, codeAt(t, nowStep+off), now, o)
		require.NoError(t, err)
		require.Equal(t, Result{Step: nowStep + off, Drift: int(off)}, res, "Drift is from now, not from the centre")
	}
	// Now's window is searched too, whatever the drift: the user's clock
	// may have been set right.
	for _, off := range []int64{-1, 0, 1} {
		res, err := p.Validate(rfcSecret, codeAt(t, nowStep+off), now, o)
		require.NoError(t, err, "offset %d", off)
		require.Equal(t, Result{Step: nowStep + off, Drift: int(off)}, res)
	}
	for _, off := range []int64{-3, -2, 5, 6} {
		_, err := p.Validate(rfcSecret, codeAt(t, nowStep+off), now, o)
		require.ErrorIs(t, err, ErrMismatch, "offset %d", off)
	}
	// The two windows are searched, not the span between them.
	o.Drift = 4
	_, err := p.Validate(rfcSecret, codeAt(t, nowStep+2), now, o)
	require.ErrorIs(t, err, ErrMismatch, "step 2 is in neither window")
	o.Drift, o.Window = -3, 0
	for _, off := range []int64{-3, 0} {
		res, err := p.Validate(rfcSecret, codeAt(t, nowStep+off), now, o)
		require.NoError(t, err, "window 0, offset %d", off)
		require.Equal(t, int(off), res.Drift)
	}
	for _, off := range []int64{-4, -2, -1, 1} {
		_, err := p.Validate(rfcSecret, codeAt(t, nowStep+off), now, o)
		require.ErrorIs(t, err, ErrMismatch, "window 0, offset %d", off)
	}

	// A recorded drift beyond MaxDrift is clamped, in both directions.
	for _, c := range []struct {
		drift, maxDrift int
		edge            int64 // furthest accepted offset
	}{
		{50, 0, DefaultMaxDrift + 1},
		{-50, 0, -DefaultMaxDrift - 1},
		{50, 2, 3},
		{-50, 2, -3},
		{5000, MaxDriftLimit, MaxDriftLimit + 1},
	} {
		o := ValidateOptions{Window: 1, Drift: c.drift, MaxDrift: c.maxDrift, LastStep: -1}
		res, err := p.Validate(rfcSecret, codeAt(t, nowStep+c.edge), now, o)
		require.NoError(t, err, "%+v", c)
		require.Equal(t, int(c.edge), res.Drift)
		beyond := c.edge + 1
		if c.edge < 0 {
			beyond = c.edge - 1
		}
		_, err = p.Validate(rfcSecret, codeAt(t, nowStep+beyond), now, o)
		require.ErrorIs(t, err, ErrMismatch, "%+v", c)
	}
}

func TestValidateReplay(t *testing.T) {
	p := DefaultParams()
	now := at(nowStep)
	code := codeAt(t, nowStep)
	res, err := p.Validate(rfcSecret, code, now, ValidateOptions{Window: 1, LastStep: -1})
	require.NoError(t, err)

	// The same code again, even a moment later in the same step, is refused.
	o := ValidateOptions{Window: 1, LastStep: res.Step}
	_, err = p.Validate(rfcSecret, code, now.Add(5*time.Second), o)
	require.ErrorIs(t, err, ErrReplay)
	// And in the next step, while it is still inside the window.
	_, err = p.Validate(rfcSecret, code, now.Add(30*time.Second), o)
	require.ErrorIs(t, err, ErrReplay)
	// An older code in the window is refused as a replay too: at or before LastStep.
	_, err = p.Validate(rfcSecret, codeAt(t, nowStep-1), now, o)
	require.ErrorIs(t, err, ErrReplay)
	// The next step's code is fresh.
	res, err = p.Validate(rfcSecret, codeAt(t, nowStep+1), now, o)
	require.NoError(t, err)
	require.Equal(t, Result{Step: nowStep + 1, Drift: 1}, res)
	// A LastStep ahead of the clock (the clock went back) refuses every code in the window.
	_, err = p.Validate(rfcSecret, codeAt(t, nowStep+1), now, ValidateOptions{Window: 1, LastStep: nowStep + 5})
	require.ErrorIs(t, err, ErrReplay)
	// A code that matches nothing is a mismatch, not a replay.
	_, err = p.Validate(rfcSecret, "000000", at(153568), ValidateOptions{Window: 1, LastStep: nowStep})
	require.ErrorIs(t, err, ErrMismatch)
}

// Steps whose codes collide for rfcSecret, SHA1, 6 digits (found by search,
// checked with oathtool -c): 153567 and 153569 both give 468457; 910737 and
// 910738 both give 911617.
func TestValidateCollisions(t *testing.T) {
	p := DefaultParams()
	require.Equal(t, "468457", codeAt(t, 153567))
	require.Equal(t, "468457", codeAt(t, 153569))
	require.Equal(t, "911617", codeAt(t, 910737))
	require.Equal(t, "911617", codeAt(t, 910738))

	// Equal distance from the centre: the later step wins.
	res, err := p.Validate(rfcSecret, "468457", at(153568), ValidateOptions{Window: 1, LastStep: -1})
	require.NoError(t, err)
	require.Equal(t, Result{Step: 153569, Drift: 1}, res)
	// Nearer the centre wins over later.
	res, err = p.Validate(rfcSecret, "911617", at(910737), ValidateOptions{Window: 1, LastStep: -1})
	require.NoError(t, err)
	require.Equal(t, Result{Step: 910737, Drift: 0}, res)
	// A used step does not hide a fresh one with the same code.
	res, err = p.Validate(rfcSecret, "911617", at(910737), ValidateOptions{Window: 1, LastStep: 910737})
	require.NoError(t, err)
	require.Equal(t, Result{Step: 910738, Drift: 1}, res)
	// With a drift, the step nearest now + drift wins over the one nearest now.
	res, err = p.Validate(rfcSecret, "468457", at(153567), ValidateOptions{Window: 1, Drift: 2, LastStep: -1})
	require.NoError(t, err)
	require.Equal(t, Result{Step: 153569, Drift: 2}, res)
	res, err = p.Validate(rfcSecret, "468457", at(153569), ValidateOptions{Window: 1, Drift: -2, LastStep: -1})
	require.NoError(t, err)
	require.Equal(t, Result{Step: 153567, Drift: -2}, res)
	res, err = p.Validate(rfcSecret, "468457", at(153568), ValidateOptions{Window: 1, LastStep: 153567})
	require.NoError(t, err)
	require.Equal(t, int64(153569), res.Step)
	_, err = p.Validate(rfcSecret, "468457", at(153568), ValidateOptions{Window: 1, LastStep: 153569})
	require.ErrorIs(t, err, ErrReplay)

	d, err := p.Diagnose(rfcSecret, "468457", at(153568), 0)
	require.NoError(t, err)
	require.Equal(t, Diagnosis{Found: true, Step: 153569, Drift: 1}, d)
}

func TestValidateFormat(t *testing.T) {
	p := DefaultParams()
	now := at(nowStep)
	good := codeAt(t, nowStep)
	o := ValidateOptions{Window: 1, LastStep: -1}
	for _, c := range []struct{ code, msg string }{
		{"", "got 0 characters, want 6"},
		{"12345", "got 5 characters"},
		{"1234567", "got 7 characters"},
		{good + " ", "got 7 characters"},
		{" " + good[:5], "character 1 is not a digit"},
		{good[:3] + " " + good[4:], "character 4 is not a digit"},
		{"12345a", "character 6 is not a digit"},
		{"-12345", "character 1 is not a digit"},
		{"+12345", "character 1 is not a digit"},
		{"12\t456", "character 3 is not a digit"},
		{"١٢٣", "not a digit"}, // Arabic-Indic digits: 6 bytes, not ASCII
		{"12345\x00", "character 6 is not a digit"},
		{strings.Repeat("1", 1<<16), "got 65536 characters"},
	} {
		res, err := p.Validate(rfcSecret, c.code, now, o)
		require.ErrorIs(t, err, ErrFormat, "%q", c.code)
		require.ErrorContains(t, err, c.msg, "%q", c.code)
		require.Equal(t, Result{}, res)
		if len(c.code) > 0 && len(c.code) < 100 {
			require.NotContains(t, err.Error(), c.code, "errors never repeat the code")
		}
	}
	// The format is decided before the secret is even looked at: with no
	// secret at all, junk is still ErrFormat, and only a well-formed code
	// reaches the HMAC (and its error).
	_, err := p.Validate(nil, "12a456", now, o)
	require.ErrorIs(t, err, ErrFormat)
	_, err = p.Validate(nil, "123456", now, o)
	require.ErrorIs(t, err, ErrEmptySecret)

	p8 := Params{SHA1, 8, 30 * time.Second}
	_, err = p8.Validate(rfcSecret, good, now, o)
	require.ErrorIs(t, err, ErrFormat, "a 6-digit code for 8-digit params")
}

func TestValidateErrors(t *testing.T) {
	p := DefaultParams()
	now := at(nowStep)
	code := codeAt(t, nowStep)
	for _, c := range []struct {
		p   Params
		o   ValidateOptions
		now time.Time
		msg string
	}{
		{Params{SHA1, 6, 0}, ValidateOptions{LastStep: -1}, now, "period must be"},
		{Params{"MD5", 6, 30 * time.Second}, ValidateOptions{LastStep: -1}, now, "unknown algorithm"},
		{p, ValidateOptions{Window: -1, LastStep: -1}, now, "window must be 0 to 10 steps, not -1"},
		{p, ValidateOptions{Window: MaxWindow + 1, LastStep: -1}, now, "window must be 0 to 10 steps, not 11"},
		{p, ValidateOptions{MaxDrift: -1, LastStep: -1}, now, "max drift must be 0 to 1000 steps, not -1"},
		{p, ValidateOptions{MaxDrift: MaxDriftLimit + 1, LastStep: -1}, now, "max drift must be"},
		{p, ValidateOptions{LastStep: -1}, time.Unix(-1, 0), "before 1970"},
		{p, ValidateOptions{LastStep: -1}, time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), "before 1970"},
		{Params{SHA1, 6, time.Second}, ValidateOptions{LastStep: -1}, time.Unix(maxNowStep+1, 0), "out of range"},
	} {
		res, err := c.p.Validate(rfcSecret, code, c.now, c.o)
		require.ErrorContains(t, err, c.msg)
		require.NotErrorIs(t, err, ErrFormat)
		require.NotErrorIs(t, err, ErrMismatch)
		require.Equal(t, Result{}, res)
	}
	require.NoError(t, ValidateOptions{Window: MaxWindow, MaxDrift: MaxDriftLimit, Drift: -1 << 40}.Check())
}

func TestValidateNear1970(t *testing.T) {
	p := DefaultParams()
	// At step 0 the window's earlier side does not exist; it is skipped, not wrapped.
	res, err := p.Validate(rfcSecret, codeAt(t, 0), time.Unix(0, 0), ValidateOptions{Window: 1, LastStep: -1})
	require.NoError(t, err)
	require.Equal(t, Result{Step: 0, Drift: 0}, res)
	res, err = p.Validate(rfcSecret, codeAt(t, 0), time.Unix(10, 0), ValidateOptions{Window: 1, Drift: -1, LastStep: -1})
	require.NoError(t, err)
	require.Equal(t, Result{Step: 0, Drift: 0}, res)
	// A drift that puts the whole drift window before 1970 leaves now's window.
	res, err = p.Validate(rfcSecret, codeAt(t, 0), time.Unix(0, 0), ValidateOptions{Window: 1, Drift: -5, LastStep: -1})
	require.NoError(t, err)
	require.Equal(t, Result{Step: 0, Drift: 0}, res)
	_, err = p.Validate(rfcSecret, codeAt(t, 2), time.Unix(0, 0), ValidateOptions{Window: 1, Drift: -5, LastStep: -1})
	require.ErrorIs(t, err, ErrMismatch)
	// The code of the last uint64 counter (what -1 would wrap to) is never accepted at step 0.
	wrapped, err := HOTP(SHA1, rfcSecret, ^uint64(0), 6)
	require.NoError(t, err)
	if wrapped != codeAt(t, 0) && wrapped != codeAt(t, 1) {
		_, err = p.Validate(rfcSecret, wrapped, time.Unix(0, 0), ValidateOptions{Window: 1, LastStep: -1})
		require.ErrorIs(t, err, ErrMismatch)
	}
	d, err := p.Diagnose(rfcSecret, codeAt(t, 3), time.Unix(0, 0), 0)
	require.NoError(t, err)
	require.Equal(t, Diagnosis{Found: true, Step: 3, Drift: 3}, d)
}

func TestValidatePast2038(t *testing.T) {
	for _, unix := range []int64{1<<31 - 1, 1 << 31, 1 << 32, 20000000000, 1 << 40} {
		p := Params{SHA256, 8, 60 * time.Second}
		now := time.Unix(unix, 0)
		code, err := p.Code(rfcSecret, now)
		require.NoError(t, err)
		res, err := p.Validate(rfcSecret, code, now, ValidateOptions{Window: 1, LastStep: -1})
		require.NoError(t, err, "time %d", unix)
		require.Equal(t, unix/60, res.Step)
	}
	// The largest time that still has a step searches without overflow.
	p := Params{SHA1, 6, time.Second}
	now := time.Unix(maxNowStep, 0)
	top := int64(maxNowStep + MaxDriftLimit + MaxWindow)
	code, err := p.CodeAt(rfcSecret, top)
	require.NoError(t, err)
	res, err := p.Validate(rfcSecret, code, now, ValidateOptions{Window: MaxWindow, Drift: MaxDriftLimit, MaxDrift: MaxDriftLimit, LastStep: -1})
	require.NoError(t, err)
	require.Equal(t, Result{Step: top, Drift: MaxDriftLimit + MaxWindow}, res)
}

func TestDiagnose(t *testing.T) {
	p := DefaultParams()
	now := at(nowStep).Add(29 * time.Second)
	for _, off := range []int64{0, -1, 1, -4, 7, -20, 20} {
		d, err := p.Diagnose(rfcSecret, codeAt(t, nowStep+off), now, 0)
		require.NoError(t, err)
		require.Equal(t, Diagnosis{Found: true, Step: nowStep + off, Drift: int(off)}, d, "offset %d", off)
	}
	// ±10 minutes at 30 s is ±20 steps: 21 is out of reach.
	for _, off := range []int64{-21, 21} {
		d, err := p.Diagnose(rfcSecret, codeAt(t, nowStep+off), now, 0)
		require.NoError(t, err)
		require.Equal(t, Diagnosis{}, d, "offset %d", off)
	}
	d, err := p.Diagnose(rfcSecret, codeAt(t, nowStep+21), now, DiagnoseSpan+30*time.Second)
	require.NoError(t, err)
	require.Equal(t, 21, d.Drift)
	// A span shorter than a period still checks now's step.
	d, err = p.Diagnose(rfcSecret, codeAt(t, nowStep), now, time.Second)
	require.NoError(t, err)
	require.True(t, d.Found)
	// An odd period: the span in steps is rounded up, ceil(600/7) = 86.
	p7 := Params{SHA512, 8, 7 * time.Second}
	now7 := p7.StepTime(nowStep)
	for off, found := range map[int64]bool{86: true, -86: true, 87: false, -87: false} {
		code, err := p7.CodeAt(rfcSecret, nowStep+off)
		require.NoError(t, err)
		d, err := p7.Diagnose(rfcSecret, code, now7, 0)
		require.NoError(t, err)
		require.Equal(t, found, d.Found, "offset %d", off)
	}
}

func TestDiagnoseErrors(t *testing.T) {
	p := DefaultParams()
	now := at(nowStep)
	code := codeAt(t, nowStep)
	_, err := Params{}.Diagnose(rfcSecret, code, now, 0)
	require.ErrorContains(t, err, "unknown algorithm")
	_, err = p.Diagnose(rfcSecret, code, now, -time.Second)
	require.ErrorContains(t, err, "span must be 0 to 1h0m0s, not -1s")
	_, err = p.Diagnose(rfcSecret, code, now, MaxDiagnoseSpan+time.Second)
	require.ErrorContains(t, err, "span must be")
	_, err = p.Diagnose(rfcSecret, "12 456", now, 0)
	require.ErrorIs(t, err, ErrFormat)
	_, err = p.Diagnose(nil, "12345", now, 0)
	require.ErrorIs(t, err, ErrFormat, "format before secret")
	_, err = p.Diagnose(nil, code, now, 0)
	require.ErrorIs(t, err, ErrEmptySecret)
	_, err = p.Diagnose(rfcSecret, code, time.Unix(-30, 0), 0)
	require.ErrorContains(t, err, "before 1970")
}
